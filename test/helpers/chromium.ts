import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core (which downloads no browser). `.ci/run` installs the
 * package when it is missing; CHROMIUM_PATH points elsewhere. The sandbox's certificate is made at
 * start and trusted by the app through NODE_EXTRA_CA_CERTS; the browser is told to accept it.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install chromium), or set CHROMIUM_PATH.`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--ignore-certificate-errors', '--no-sandbox'] });
}
