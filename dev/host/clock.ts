import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Local time travel for the app this host runs: `PUT /_host/clock {"offsetDays": 7}` moves the
 * app's clock (shared/platform/clock) ahead of real time, so a two-week compliance schedule plays
 * out in minutes against the sandbox; `GET /_host/clock` shows it. The local host only.
 */
export type HostControl = (method: string, path: string, body: Buffer) => { status: number; body: unknown } | undefined;

export function clockControl(entry: string): HostControl | undefined {
  const file = resolve(dirname(entry), '..', 'shared', 'platform', 'clock.js');
  if (!existsSync(file)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const app = require(file) as { setClock(fn?: () => number): void; clock: { iso(): string } };
  let offsetMs = 0;
  return (method, path, body) => {
    if (path !== '/_host/clock') return undefined;
    if (method === 'PUT') {
      let days: unknown;
      try {
        days = (JSON.parse(body.toString('utf8') || '{}') as { offsetDays?: unknown }).offsetDays;
      } catch {
        days = undefined;
      }
      if (typeof days !== 'number' || !Number.isFinite(days) || days < 0 || days > 3650)
        return { status: 400, body: { error: 'Send {"offsetDays": n} with n from 0 to 3650 (fractions allowed).' } };
      offsetMs = days * 24 * 60 * 60 * 1000;
      app.setClock(offsetMs ? () => Date.now() + offsetMs : undefined);
    } else if (method !== 'GET') return { status: 405, body: { error: 'GET or PUT.' } };
    return { status: 200, body: { offsetDays: offsetMs / 86_400_000, appTime: app.clock.iso() } };
  };
}
