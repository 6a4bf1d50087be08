import { resolve } from 'node:path';
import { setClock } from '../../shared/platform/clock';
import { queueRun } from '../../shared/platform/runs';
import { adminCaller, eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/**
 * Runs: the one way to follow long work, through the admin API, against the local host, Azurite and
 * the sandbox. Compliance scans, TEM lines syncs and reconciliations here; VPP syncs and TEM
 * switch-offs in their connectors' suites.
 */
jest.setTimeout(90_000);

let env: TestEnv;
let call: ReturnType<typeof adminCaller>;

interface Run {
  id: string;
  kind: string;
  subject: string | null;
  startedBy: string;
  state: string;
  progress: { done: number; total: number | null };
  counters: Record<string, number>;
  outcome: unknown;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  url: string;
}

beforeAll(async () => {
  env = await startEnv({
    entry: 'dist/functions/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    // No scheduled scan or reconciliation starts mid-test.
    settings: { COMPLIANCE_SCAN_SCHEDULE: '0 0 0 1 1 *', TEM_RECONCILE_SCHEDULE: '0 0 0 1 1 *' },
  });
  call = adminCaller(env, `${env.host!.url}/api`);
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const run = async (id: string) => (await call('GET', `admin/runs/${id}`)).body as Run;
const ended = (id: string, what = `run ${id} to end`) =>
  eventually(
    async () => {
      const r = await run(id);
      return r.state === 'queued' || r.state === 'running' ? undefined : r;
    },
    60_000,
    what,
  );

test('a compliance scan answers 202 with its run: listed under that id, progress moving to succeeded, with what it planned and dispatched', async () => {
  const asked = await call('POST', 'admin/compliance/evaluate');
  expect(asked.status).toBe(202);
  const id = asked.body.runId as string;
  expect(asked.headers.get('location')).toBe(`/api/admin/runs/${id}`);
  expect(asked.body).toMatchObject({ runUrl: `/api/admin/runs/${id}`, joined: false });
  const seen = new Set<string>();
  const done = await eventually(
    async () => {
      const r = await run(id);
      seen.add(r.state);
      return r.state === 'succeeded' ? r : undefined;
    },
    60_000,
    'scan succeeded',
  );
  expect([...seen].every((s) => ['queued', 'running', 'succeeded'].includes(s))).toBe(true);
  expect(done).toMatchObject({ kind: 'compliance.scan', subject: null, error: null });
  expect(done.startedBy).toMatch(/^admin:[0-9a-f-]{36}$/);
  expect(done.progress.total).toBeGreaterThan(64); // the policies, then the 64 due partitions
  expect(done.progress.done).toBe(done.progress.total);
  expect(done.counters).toHaveProperty('actionsDispatched');
  expect(done.counters).toHaveProperty('planned');
  expect(Object.keys((done.outcome as { policies: object }).policies).length).toBe(done.progress.total! - 64);
  expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.startedAt!));
  const listed = (await call('GET', 'admin/runs?kind=compliance.scan')).body.value as Run[];
  expect(listed.find((r) => r.id === id)).toEqual(done);
});

test('requests while a scan runs share the one scan queued behind it; a queued run can be cancelled, a running one cannot', async () => {
  // Slow Intune down so the first scan is still running when the next requests arrive.
  env.sandbox.graph.setFaults([{ method: 'GET', path: '^/deviceManagement/managedDevices', latencyMs: 2500 }]);
  try {
    const first = (await call('POST', 'admin/compliance/evaluate')).body.runId as string;
    await eventually(async () => (await run(first)).state === 'running', 20_000, 'first scan running');
    const [a, b] = await Promise.all([call('POST', 'admin/compliance/evaluate'), call('POST', 'admin/compliance/evaluate')]);
    expect(a.body.runId).toBe(b.body.runId);
    expect(a.body.runId).not.toBe(first);
    expect([a.body.joined, b.body.joined].sort()).toEqual([false, true]);
    const queued = a.body.runId as string;
    expect((await run(queued)).state).toBe('queued');

    // Cancelling: a read-only admin may not; the running scan cannot be; the queued one is.
    const reader = await env.token('admin-connectors-read');
    const refused = await fetch(`${env.host!.url}/api/admin/runs/${queued}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${reader}` },
    });
    expect(refused.status).toBe(403);
    expect((await run(queued)).state).toBe('queued');
    const notStopped = await call('POST', `admin/runs/${first}/cancel`);
    expect(notStopped.status).toBe(409);
    expect(notStopped.body.detail).toMatch(/only a queued run can be cancelled/);
    const cancelled = await call('POST', `admin/runs/${queued}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: queued, state: 'cancelled' });

    // The next request queues a fresh scan; the cancelled one never runs.
    const next = (await call('POST', 'admin/compliance/evaluate')).body.runId as string;
    expect(next).not.toBe(queued);
    env.sandbox.graph.setFaults([]);
    expect((await ended(first)).state).toBe('succeeded');
    const after = await ended(next);
    expect(after.state).toBe('succeeded');
    expect(Date.parse(after.startedAt!)).toBeGreaterThanOrEqual(Date.parse((await run(first)).startedAt!));
    expect(await run(queued)).toMatchObject({ state: 'cancelled', startedAt: null, progress: { done: 0 } });
  } finally {
    env.sandbox.graph.setFaults([]);
  }
});

test('a run whose start message could not be queued, or was lost in a crash, is never joined: the next request queues a new one', async () => {
  const spec = { kind: 'compliance.scan', startedBy: 'schedule', limitMs: 30 * 60_000 };
  await expect(queueRun(spec, () => Promise.reject(new Error('The queue service is unavailable.')))).rejects.toThrow('unavailable');
  const failed = ((await call('GET', 'admin/runs?kind=compliance.scan&state=failed')).body.value as Run[])[0];
  expect(failed.error).toMatch(/could not be queued: The queue service is unavailable/);
  const next = await call('POST', 'admin/compliance/evaluate');
  expect(next.body).toMatchObject({ joined: false });
  expect(next.body.runId).not.toBe(failed.id);
  await ended(next.body.runId as string);

  // The process died after recording the run, before sending its message: requests join it only as
  // long as a run could be waiting for the one before it.
  const lost = await queueRun(spec, () => Promise.resolve());
  expect((await call('POST', 'admin/compliance/evaluate')).body).toMatchObject({ runId: lost.id, joined: true });
  setClock(() => Date.now() + 2 * spec.limitMs + 1000);
  try {
    const fresh = await call('POST', 'admin/compliance/evaluate');
    expect(fresh.body.joined).toBe(false);
    expect(await run(lost.id)).toMatchObject({ state: 'failed', error: expect.stringMatching(/never started/) });
    expect((await ended(fresh.body.runId as string)).state).toBe('succeeded');
  } finally {
    setClock();
  }
});

test('a TEM lines sync and a reconciliation are runs with their counters', async () => {
  const sync = await call('POST', 'admin/tem/lines/sync');
  expect(sync.status).toBe(202);
  const lines = await ended(sync.body.runId as string);
  expect(lines).toMatchObject({ kind: 'tem.linesSync', state: 'succeeded', progress: { done: 0, total: 0 } });
  expect(lines.counters.lines).toBeGreaterThanOrEqual(5);
  expect(lines.counters.corporate).toBeGreaterThanOrEqual(3);
  expect(lines.outcome).toEqual(lines.counters);

  const rec = await call('POST', 'admin/tem/reconcile');
  expect(rec.status).toBe(202);
  expect(await ended(rec.body.runId as string)).toMatchObject({
    kind: 'tem.reconcile',
    state: 'succeeded',
    counters: { checked: expect.any(Number), added: 0, removed: 0, failed: 0 },
  });
});

test('runs page newest first with a continuation token and filter by kind and state; a hostile caller reads nothing', async () => {
  const all = (await call('GET', 'admin/runs?top=1000')).body.value as Run[];
  expect(all.length).toBeGreaterThanOrEqual(6);
  expect([...all].sort((x, y) => y.createdAt.localeCompare(x.createdAt)).map((r) => r.id)).toEqual(all.map((r) => r.id));
  const seen: string[] = [];
  let next: string | undefined = 'admin/runs?top=2';
  while (next) {
    const page = (await call('GET', next)).body as { value: Run[]; nextLink?: string };
    seen.push(...page.value.map((r) => r.id));
    next = page.nextLink ? page.nextLink.replace(`${env.host!.url}/api/`, '') : undefined;
  }
  expect(seen).toEqual(all.map((r) => r.id));
  const cancelled = (await call('GET', 'admin/runs?state=cancelled')).body.value as Run[];
  expect(cancelled.length).toBeGreaterThanOrEqual(1);
  expect(cancelled.every((r) => r.state === 'cancelled')).toBe(true);
  expect(((await call('GET', 'admin/runs?kind=tem.reconcile')).body.value as Run[]).map((r) => r.kind)).toEqual(['tem.reconcile']);
  expect((await call('GET', 'admin/runs?state=paused')).status).toBe(400);
  expect((await call('GET', 'admin/runs/0000000000000-nothing')).status).toBe(404);

  const id = all[0].id;
  expect((await fetch(`${env.host!.url}/api/admin/runs/${id}`)).status).toBe(401);
  const noRole = await env.token('admin-no-role');
  for (const path of [`admin/runs/${id}`, 'admin/runs'])
    expect((await fetch(`${env.host!.url}/api/${path}`, { headers: { Authorization: `Bearer ${noRole}` } })).status).toBe(403);
  expect((await fetch(`${env.host!.url}/api/admin/runs/${id}/cancel`, { method: 'POST' })).status).toBe(401);
});
