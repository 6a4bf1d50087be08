import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import autocannon from 'autocannon';
import { freePort, startAzurite, type Azurite } from '../dev/azurite';
import { startSandbox, type Sandbox } from '../dev/sandbox/server';
import { localSettings } from '../dev/settings';
import { forEachLimit } from '../shared/platform/pool';

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
    TEAMVIEWER_API_URL: `${sandbox.origin}/teamviewer/api/v1`,
    TEAMVIEWER_AUTHORIZE_URL: `${sandbox.origin}/teamviewer/oauth2/authorize`,
    NODE_EXTRA_CA_CERTS: sandbox.certPath,
  };
  return { azurite, sandbox, settings, stop: async () => void (await Promise.all([azurite.stop(), sandbox.stop()])) };
}

/** An access token for the admin API as the demo admin holding every role, from the sandbox's Entra ID. */
export async function adminToken(world: World): Promise<string> {
  const admin = world.sandbox.entra.clients.find((c) => c.name === 'admin-all-roles')!;
  const issued = await world.sandbox.entra.clientCredentialsToken(
    admin,
    admin.tenantId,
    `api://${world.settings.ENTRA_CLIENT_ID}/.default`,
  );
  if (!('access_token' in issued)) throw new Error(issued.description);
  return issued.access_token;
}

/** Runs a node script in its own process on a free port (its PUBLIC_BASE_URL) and resolves once `ready` is fetchable. */
export async function startProcess(
  args: string[],
  env: Record<string, string>,
  ready: (port: number) => string,
): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), PUBLIC_BASE_URL: `http://127.0.0.1:${port}` },
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

/**
 * The floor for table writes: `rows` written as entity-group transactions of up to 100 rows (one
 * table and partition each), `concurrency` in flight, straight through the Tables SDK.
 */
export async function rawBatchedWrites(
  world: World,
  rows: ({ table: string; partitionKey: string; rowKey: string } & Record<string, unknown>)[],
  concurrency = 8,
): Promise<{ rows: number; ms: number; batches: number }> {
  const clients = new Map<string, TableClient>();
  const groups = new Map<string, TransactionAction[]>();
  const batches: [TableClient, TransactionAction[]][] = [];
  for (const { table: name, ...entity } of rows) {
    let client = clients.get(name);
    if (!client) {
      client = TableClient.fromConnectionString(world.azurite.connectionString, name, { allowInsecureConnection: true });
      await client.createTable();
      clients.set(name, client);
    }
    const key = `${name}/${entity.partitionKey}`;
    const group = groups.get(key) ?? [];
    group.push(['upsert', entity]);
    if (group.length === 100) {
      batches.push([client, group]);
      groups.set(key, []);
    } else groups.set(key, group);
  }
  for (const [key, group] of groups) if (group.length) batches.push([clients.get(key.split('/')[0])!, group]);
  const start = performance.now();
  await forEachLimit(batches, concurrency, async ([client, b]) => void (await client.submitTransaction(b)));
  const ms = performance.now() - start;
  // The scratch rows go, so they do not weigh on what is measured next in the same Azurite.
  await Promise.all([...clients.values()].map((c) => c.deleteTable()));
  return { rows: rows.length, ms, batches: batches.length };
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
