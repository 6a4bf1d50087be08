import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Local time travel for the app this host runs: `PUT /_host/clock {"offsetDays": 7}` moves the
 * app's clock (shared/platform/clock) ahead of real time, so a two-week compliance schedule plays
 * out in minutes against the sandbox; `GET /_host/clock` shows it. The local sandbox (when the app's
 * Entra authority is on this machine) is moved with it, so both agree on "now". The local host only.
 */
export type HostControl = (method: string, path: string, body: Buffer) => Promise<{ status: number; body: unknown } | undefined>;

/** The sandbox's clock control, when the app's Entra authority is the local sandbox. */
function sandboxClockUrl(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const u = new URL(env.ENTRA_AUTHORITY_HOST ?? '');
    return ['localhost', '127.0.0.1'].includes(u.hostname) ? `http://${u.host}/_sandbox/clock` : undefined;
  } catch {
    return undefined;
  }
}

export function clockControl(entry: string, env: NodeJS.ProcessEnv = process.env): HostControl | undefined {
  const file = resolve(dirname(entry), '..', 'shared', 'platform', 'clock.js');
  if (!existsSync(file)) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const app = require(file) as { setClock(fn?: () => number): void; clock: { iso(): string } };
  const sandbox = sandboxClockUrl(env);
  let offsetMs = 0;
  return async (method, path, body) => {
    if (path !== '/_host/clock') return undefined;
    let moved: string | undefined;
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
      if (sandbox) {
        const res = await fetch(sandbox, { method: 'PUT', body: JSON.stringify({ offsetMs }) }).catch(() => undefined);
        moved = res?.ok ? 'moved with it' : `not reachable at ${sandbox}: it keeps its own time`;
      }
    } else if (method !== 'GET') return { status: 405, body: { error: 'GET or PUT.' } };
    return { status: 200, body: { offsetDays: offsetMs / 86_400_000, appTime: app.clock.iso(), ...(moved ? { sandbox: moved } : {}) } };
  };
}
