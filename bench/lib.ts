import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { freePort, startAzurite, type Azurite } from '../dev/azurite';
import { startSandbox, type Sandbox } from '../dev/sandbox/server';
import { localSettings } from '../dev/settings';

/** Shared pieces of the benchmarks: the local world, processes, load, and printing. */
export const ROOT = resolve(__dirname, '..', '..');

export interface World {
  azurite: Azurite;
  sandbox: Sandbox;
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const [azurite, sandbox] = await Promise.all([startAzurite(), startSandbox({ port: 0, certDir: resolve(ROOT, '.dev', 'certs') })]);
  const settings = {
    ...localSettings(ROOT),
    AzureWebJobsStorage: azurite.connectionString,
    ENTRA_AUTHORITY_HOST: sandbox.origin,
    GRAPH_BASE_URL: sandbox.origin,
    NODE_EXTRA_CA_CERTS: sandbox.certPath,
  };
  return { azurite, sandbox, settings, stop: async () => void (await Promise.all([azurite.stop(), sandbox.stop()])) };
}

/** Runs a node script in its own process and resolves once `ready` is fetchable. */
export async function startProcess(
  args: string[],
  env: Record<string, string>,
  ready: (port: number) => string,
): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(ready(port))).status < 500) break;
    } catch {
      if (i > 300) throw new Error(`${args.join(' ')} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    child,
    stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
  };
}

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
}

export async function load(opts: {
  url: string;
  connections: number;
  seconds: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.Request[];
}): Promise<Load> {
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    method: (opts.method ?? 'GET') as autocannon.Options['method'],
    headers: opts.headers,
    body: opts.body,
    requests: opts.requests,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

export function table(title: string, rows: Record<string, string | number>[]): void {
  console.log(`\n${title}`);
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(width[i])).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => String(r[c]).padEnd(width[i])).join('  '));
}

export const fmt = (n: number, digits = 1) => n.toFixed(digits);
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
