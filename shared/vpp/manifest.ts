import { z } from 'zod';
import { defineConnector } from '../platform/manifest';
import { int, schedule } from '../platform/settings';

export const vpp = defineConnector({
  id: 'vpp',
  name: 'Apple VPP licences',
  description: 'Daily and on-demand sync of VPP tokens and per-app licence counts, with connector health.',
  setup:
    'Upload an Apple VPP token in Intune (Tenant administration > Connectors and tokens > Apple VPP tokens); it is synced within 15 minutes, or press Sync now.',
  tables: ['vpptokens', 'vpplicenses', 'vpphistory', 'vppalerts'],
  queues: ['vpp-sync'],
  containers: [],
  settings: {
    VPP_SYNC_SCHEDULE: schedule('"0 0 3 * * *" for 03:00 UTC daily').describe('When the VPP licence sync runs (NCRONTAB, UTC).'),
    VPP_NEW_TOKENS_SCHEDULE: schedule('"0 */15 * * * *" for every 15 minutes').describe(
      'When Intune is asked for VPP tokens this app has not seen (a new deployment, a new upload), which are synced at once instead of at the next scheduled sync (NCRONTAB, UTC).',
    ),
    VPP_POLL_SECONDS: int(0, 300, 15).describe("Seconds between checks of a VPP token's lastSyncStatus while Apple syncs it."),
    VPP_EXPIRY_WARNING_DAYS: int(1, 90, 7).describe('A VPP token expiring within this many days is a warning.'),
    VPP_SYNC_WARNING_DAYS: int(1, 30, 1).describe('A VPP token not synced for more than this many days is a warning.'),
    VPP_SYNC_UNHEALTHY_DAYS: int(1, 90, 3).describe('A VPP token not synced for this many days or more is unhealthy.'),
    VPP_LOW_LICENSE_PERCENT: int(0, 100, 10).describe('Alert when an app has fewer available licences than this share of its total.'),
    VPP_LOW_LICENSE_COUNT: int(0, 100000, 5).describe('Alert when an app has fewer available licences than this.'),
    VPP_ALERT_EMAIL: z.email('an email address').optional().describe('Where low-licence alerts are emailed (needs ALERT_MAIL_SENDER).'),
  },
  appRoles: [],
  graphPermissions: {
    'DeviceManagementConfiguration.ReadWrite.All': 'read VPP tokens and start their licence sync',
    'DeviceManagementApps.Read.All': 'read VPP apps and eBooks with their licence counts',
    'Mail.Send': 'low-licence alert emails from ALERT_MAIL_SENDER',
  },
});
