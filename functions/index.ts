/**
 * The app's entry module: each import registers one connector surface's functions.
 * Configuration is checked first, so a bad setting stops start-up with one message.
 */
import { config } from '../shared/platform/config';

config();

import './platform';
import './console';
import './auth';
import './runs';
import './tem';
import './vpp';
import './compliance';
import './archive';
import './remote-assistance';
