import type { ChildProcess } from 'node:child_process';
import { eventually, startEnv, type TestEnv } from '../helpers/env';
import { kill, startHostProcess as startProcess } from '../helpers/process';
import { temDriver } from '../helpers/tem';

/**
 * TEM under failure: the app runs as its own process (as in Azure), is throttled by Graph, and is
 * killed in the middle of a switch-off.
 */
jest.setTimeout(180_000);

let env: TestEnv;
let api: string;
let tem: ReturnType<typeof temDriver>;
let host: ChildProcess | undefined;
const startHostProcess = (port: number) => startProcess(env, port, 'tem-resilience-host.log');
let port: number;
beforeAll(async () => {
  env = await startEnv();
  port = Number(new URL(env.settings.PUBLIC_BASE_URL).port);
  host = await startHostProcess(port);
  api = `http://localhost:${port}/api`;
  tem = temDriver(env, api);
});
afterAll(async () => {
  await kill(host, 'SIGKILL');
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});
afterEach(() => {
  env.sandbox.graph.setFaults([]);
});

test('with 30% of Graph calls answered 429, every action still lands and no more than the allowed requests are in flight', async () => {
  const p = await tem.register('throttled');
  const added = (await (
    await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 24, owner: 'company' }),
    })
  ).json()) as { value: { phoneNumber: string }[] };
  env.sandbox.graph.resetStats();
  // 30% answered 429: most with Retry-After, some without (as Intune often does), so both paths run.
  env.sandbox.graph.setFaults(
    [{ rate: 0.25, status: 429, retryAfter: 0 }, { rate: 0.07, status: 429, retryAfter: null }, { latencyMs: 15 }],
    1234,
  );
  await tem.connected(p.id);
  for (const d of added.value)
    expect((await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: d.phoneNumber, kind: 'roaming' })).statuses).toEqual([202]);
  await eventually(() => tem.members('roaming').length >= 24, 60_000, 'all 24 devices blocked');
  const stats = env.sandbox.graph.stats;
  expect(stats.faultsInjected).toBeGreaterThan(20);
  expect(stats.byStatus['429']).toBeGreaterThan(20);
  expect(stats.peakInFlight).toBeLessThanOrEqual(8); // GRAPH_MAX_CONCURRENCY
  // The outcome is written after the device joins the group: wait for the 24 outcomes.
  const ledger = await eventually(
    async () => {
      const rows = await tem.ledger(p.id);
      return rows.filter((r) => r.status !== 'requested').length >= 24 ? rows : undefined;
    },
    15_000,
    '24 outcomes',
  );
  expect(ledger.filter((r) => r.status === 'applied')).toHaveLength(24);
  expect(ledger.filter((r) => r.status === 'failed')).toHaveLength(0);
});

test('a crash mid switch-off (process killed) and a restart finish the revert with nothing left blocked', async () => {
  const p = await tem.register('crashing');
  const added = (await (
    await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 60, owner: 'company', os: 'Android' }),
    })
  ).json()) as { value: { phoneNumber: string }[] };
  await tem.connected(p.id);
  await tem.call('POST', 'admin/tem/lines/sync');
  await eventually(async () => (await tem.call('GET', 'admin/tem/lines')).body.value.length >= 60, 20_000, 'lines synced');
  for (const d of added.value) await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: d.phoneNumber, kind: 'data' });
  await eventually(
    async () => {
      const { activeBlocks, pendingChanges } = (await tem.call('GET', `admin/tem/providers/${p.id}`)).body;
      return activeBlocks === 60 && pendingChanges === 0;
    },
    60_000,
    '60 blocks in the group',
  );
  const blocked = tem.members('data').length;
  expect(blocked).toBeGreaterThanOrEqual(60);

  // Slow removals down so the kill lands mid-revert.
  env.sandbox.graph.setFaults([{ method: 'DELETE', path: '/members/', latencyMs: 120 }]);
  const off = await tem.call('PATCH', `admin/tem/providers/${p.id}`, { enabled: false });
  expect(off.status).toBe(202);
  await eventually(() => tem.members('data').length < blocked - 5, 30_000, 'revert under way');
  // The run shows the progress: a batch of 25 reverted of 60, still running.
  const moving = await eventually(
    async () => {
      const r = (await tem.call('GET', `admin/runs/${off.body.runId}`)).body as {
        state: string;
        progress: { done: number; total: number };
      };
      return r.progress.done >= 25 ? r : undefined;
    },
    30_000,
    'switch-off progress',
  );
  expect(moving).toMatchObject({ state: 'running', progress: { total: 60 } });
  expect(moving.progress.done).toBeLessThan(60);
  await kill(host, 'SIGKILL');
  const left = tem.members('data').length;
  expect(left).toBeGreaterThan(0);

  host = await startHostProcess(port);
  await eventually(
    async () => (await tem.call('GET', `admin/tem/providers/${p.id}`)).body.switchOff.state === 'done',
    60_000,
    'switch-off finished after restart',
  );
  const after = (await tem.call('GET', `admin/tem/providers/${p.id}`)).body;
  expect(after).toMatchObject({ activeBlocks: 0, switchOff: { state: 'done', remaining: 0 } });
  // The run the admin follows ended too, all 60 blocks done.
  expect((await tem.call('GET', `admin/runs/${off.body.runId}`)).body).toMatchObject({
    state: 'succeeded',
    progress: { done: 60, total: 60 },
  });
  const stillBlocked = tem.members('data').filter((id) => {
    const name = env.sandbox.store.table('devices').get(id)?.displayName;
    return typeof name === 'string' && name.startsWith('bulk-');
  });
  expect(stillBlocked).toEqual([]);
  const ledger = await tem.ledger(p.id);
  expect(ledger.filter((r) => r.status === 'reverted')).toHaveLength(60);
  expect(ledger.filter((r) => r.status === 'requested')).toEqual([]); // the interrupted step was redone under the same record
});
