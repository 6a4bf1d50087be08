import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { clockControl } from './clock';
import type * as core from './core';
import { provideCoreModule } from './core-hook';
import { createHttpServer } from './http';
import type { HostLog } from './invoke';
import { startQueueListener, type QueueListener } from './queues';
import { readHostSettings } from './settings';
import { startTimer, type TimerRunner } from './timers';

/**
 * A small local Functions host: loads the app's entry module with `@azure/functions-core`
 * provided, then serves its HTTP triggers, runs its timers and listens to its queues.
 */
export interface HostOptions {
  /** The app's entry module (package.json "main"). */
  entry: string;
  port?: number;
  host?: string;
  hostJson?: string;
  env?: NodeJS.ProcessEnv;
  log?: HostLog;
  /** Start timers and queue listeners (default true). */
  triggers?: boolean;
}

export interface RunningHost {
  url: string;
  port: number;
  functions: core.CapturedFunction[];
  stop(): Promise<void>;
}

export async function startHost(opts: HostOptions): Promise<RunningHost> {
  const env = opts.env ?? process.env;
  const hostLog = opts.log ?? ((line: string) => console.log(`[${new Date().toISOString()}] ${line}`));
  const settings = readHostSettings(opts.hostJson ?? resolve('host.json'));
  const core = provideCoreModule();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(resolve(opts.entry));
  const fns = [...core.functions];
  for (const f of fns)
    if (!['httpTrigger', 'timerTrigger', 'queueTrigger'].includes(f.trigger.type))
      throw new Error(`Function '${f.name}' uses a ${f.trigger.type}, which the local host does not run.`);

  const server = createHttpServer(fns, settings.routePrefix, hostLog, clockControl(opts.entry, env));
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 7071, opts.host ?? '127.0.0.1', () => ok());
  });
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as AddressInfo).port;
  const timers: TimerRunner[] = [];
  const listeners: QueueListener[] = [];
  if (opts.triggers !== false) {
    for (const f of fns) {
      if (f.trigger.type === 'timerTrigger') timers.push(startTimer(f, env, hostLog));
      if (f.trigger.type === 'queueTrigger') listeners.push(startQueueListener(f, env, settings.queues, hostLog));
    }
  }
  hostLog(`Host started with ${fns.length} functions: ${fns.map((f) => `${f.name} [${f.trigger.type}]`).join(', ')}`);
  return {
    url: `http://localhost:${port}`,
    port,
    functions: fns,
    stop: async () => {
      await Promise.all([...timers.map((t) => t.stop()), ...listeners.map((l) => l.stop())]);
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    },
  };
}
