import { resolve } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { odata } from '@azure/data-tables';
import { addVppToken } from '../../dev/sandbox/graph/vpp';
import { encodeMessage } from '../../shared/platform/storage/queues';
import { clock, setClock } from '../../shared/platform/clock';
import { readSnapshot, tables } from '../../shared/vpp/model';
import { planSync, syncNewTokens, runLimitMs } from '../../shared/vpp/sync';
import { adminCaller, eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/** Apple VPP licences end to end: the app in the local host, Azurite, and the sandbox's Intune. */
let env: TestEnv;
let call: ReturnType<typeof adminCaller>;

beforeAll(async () => {
  env = await startEnv({
    entry: 'dist/functions/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    settings: { VPP_POLL_SECONDS: '1' },
  });
  call = adminCaller(env, `${env.host!.url}/api`);
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

type License = {
  tokenId: string;
  id: string;
  name: string;
  total: number;
  used: number;
  available: number;
  kind: string;
  low: boolean;
  syncedAt: string;
};
const licenses = async (query = 'top=1000') =>
  (await call('GET', `admin/vpp/licenses?${query}`)).body as { count: number; value: License[] };
type Token = {
  id: string;
  organizationName: string;
  health: string;
  reasons: { severity: string; reason: string; fix: string }[];
  lastError: string | null;
  lastSnapshotAt: string | null;
  syncing: boolean;
  removed: { at: string; reason: string } | null;
};
const tokens = async () => (await call('GET', 'admin/vpp/tokens')).body.value as Token[];
const history = async (tokenId: string, appId: string) =>
  (await call('GET', `admin/vpp/tokens/${tokenId}/licenses/${appId}/history`)).body.value as {
    at: string;
    change: string;
    used: number;
    total: number;
  }[];
const sandboxApps = () => [...env.sandbox.store.table('mobileApps').values()];
const tokenByOrg = (org: string) => [...env.sandbox.store.table('vppTokens').values()].find((t) => t.organizationName === org)!;
const syncedOnce = async (org: string, after = '', ms = 30_000) =>
  eventually(
    async () => (await tokens()).find((t) => t.organizationName === org && t.lastSnapshotAt && t.lastSnapshotAt > after),
    ms,
    `${org} synced`,
  );

test('POST /api/admin/vpp/sync: every seeded VPP app shows the sandbox counts and available = total − used; health per token', async () => {
  const r = await call('POST', 'admin/vpp/sync');
  expect(r.status).toBe(202);
  expect(r.body.tokens).toHaveLength(3);
  expect(r.body.skipped).toHaveLength(2);
  await Promise.all(['Contoso Ltd', 'Contoso Education', 'Contoso Retail'].map((o) => syncedOnce(o)));
  const list = await licenses();
  const syncable = sandboxApps().filter((a) => !['Contoso Legacy', 'Contoso Partner'].includes(String(a.vppTokenOrganizationName)));
  expect(
    list.value
      .filter((l) => l.kind === 'app')
      .map((l) => l.name)
      .sort(),
  ).toEqual(syncable.map((a) => String(a.displayName)).sort());
  for (const app of syncable) {
    const l = list.value.find((x) => x.id === app.id)!;
    expect({ total: l.total, used: l.used, available: l.available }).toEqual({
      total: app.totalLicenseCount,
      used: app.usedLicenseCount,
      available: Number(app.totalLicenseCount) - Number(app.usedLicenseCount),
    });
  }
  expect(list.value.find((l) => l.kind === 'ebook')).toMatchObject({ name: 'Security Handbook', total: 50, used: 12, available: 38 });

  const health = Object.fromEntries((await tokens()).map((t) => [t.organizationName, t]));
  expect(health['Contoso Ltd'].health).toBe('healthy');
  expect(health['Contoso Education']).toMatchObject({
    health: 'warning',
    reasons: [
      expect.objectContaining({
        severity: 'warning',
        reason: expect.stringMatching(/expires on .* \(in [23] days\)/),
        fix: expect.stringMatching(/Apple Business Manager/),
      }),
    ],
  });
  expect(health['Contoso Legacy'].health).toBe('unhealthy');
  expect(health['Contoso Legacy'].reasons.map((x) => x.reason)).toEqual(
    expect.arrayContaining([expect.stringMatching(/expired/), expect.stringMatching(/Not synced for 12 days/)]),
  );
  expect(health['Contoso Partner']).toMatchObject({
    health: 'unhealthy',
    reasons: expect.arrayContaining([expect.objectContaining({ reason: 'The token is assigned to another MDM.' })]),
  });
  // Contoso Retail was 2 days stale; its sync brought it back to healthy.
  expect(health['Contoso Retail'].health).toBe('healthy');

  // The overview reads the same health: the worst token's reason with its fix, and the apps low on licences.
  const overview = (await call('GET', 'admin/connectors')).body.value.find((c: { id: string }) => c.id === 'vpp');
  const worst = health['Contoso Legacy'].reasons.find((x) => x.severity === 'unhealthy')!;
  expect(overview).toMatchObject({
    state: 'error',
    detail: `Token Contoso Legacy: ${worst.reason}`,
    fix: worst.fix,
    openAlerts: list.value.filter((l) => l.low).length,
  });
  expect(overview.openAlerts).toBeGreaterThan(0);
});

test('tokens Apple does not sync are skipped, not failed: no "last sync failed", and syncing one alone is a 409 that starts nothing', async () => {
  const byName = Object.fromEntries((await tokens()).map((t) => [t.organizationName, t]));
  for (const name of ['Contoso Legacy', 'Contoso Partner'])
    expect(byName[name].reasons.map((r) => r.reason).join(' ')).not.toMatch(/last sync failed/i);
  const before = env.sandbox.graph.stats.byRoute['POST /deviceAppManagement/vppTokens/{id}/syncLicenses'] ?? 0;
  const one = await call('POST', `admin/vpp/tokens/${byName['Contoso Legacy'].id}/sync`);
  expect(one.status).toBe(409);
  expect(one.body.detail).toMatch(/expired; Apple no longer syncs it\. Nothing was synced/);
  const asked = new Date().toISOString();
  const all = await call('POST', 'admin/vpp/sync');
  expect(all.status).toBe(202);
  expect(all.body.skipped.map((x: { tokenId: string }) => x.tokenId).sort()).toEqual(
    [byName['Contoso Legacy'].id, byName['Contoso Partner'].id].sort(),
  );
  expect(all.body.tokens).not.toContain(byName['Contoso Legacy'].id);
  const posts = () => env.sandbox.graph.stats.byRoute['POST /deviceAppManagement/vppTokens/{id}/syncLicenses'] ?? 0;
  await eventually(() => posts() === before + all.body.tokens.length, 30_000, 'a syncLicenses per syncable token');
  // Every sync this request started is over before the next test begins.
  await Promise.all(['Contoso Ltd', 'Contoso Education', 'Contoso Retail'].map((org) => syncedOnce(org, asked)));
  expect(posts()).toBe(before + all.body.tokens.length);
});

test('low availability raises one alert per app, emailed to the configured address', async () => {
  const alerts = (await call('GET', 'admin/vpp/alerts')).body.value as { name: string; available: number; email: string }[];
  expect(alerts.map((a) => a.name).sort()).toEqual(['Salesforce', 'Slack']);
  expect(alerts.every((a) => a.email === 'sent')).toBe(true);
  const mails = [...env.sandbox.store.table('outbox').values()].filter((m) => String(m.subject).startsWith('VPP licences low'));
  expect(mails).toHaveLength(2);
  await call('POST', 'admin/vpp/sync');
  await syncedOnce('Contoso Ltd', new Date(Date.now() - 1).toISOString());
  expect((await call('GET', 'admin/vpp/alerts')).body.value).toHaveLength(2); // still low: no second alert
});

test('a failing token leaves the others synced and its last snapshot intact, with the Graph error recorded', async () => {
  const retail = tokenByOrg('Contoso Retail');
  const teams = sandboxApps().find((a) => a.displayName === 'Microsoft Teams')!;
  const pos = sandboxApps().find((a) => a.displayName === 'Point of Sale')!;
  teams.usedLicenseCount = 330;
  pos.usedLicenseCount = 35;
  env.sandbox.graph.setFaults([
    {
      method: 'POST',
      path: `/vppTokens/${retail.id}/syncLicenses$`,
      status: 500,
      code: 'InternalServerError',
      message: 'VPP service unavailable',
    },
  ]);
  const before = new Date().toISOString();
  await call('POST', 'admin/vpp/sync');
  await syncedOnce('Contoso Ltd', before);
  const failed = await eventually(
    async () => (await tokens()).find((t) => t.organizationName === 'Contoso Retail' && t.lastError),
    20_000,
    'retail failure recorded',
  );
  env.sandbox.graph.setFaults([]);
  expect(failed.lastError).toMatch(/500 InternalServerError: VPP service unavailable/);
  expect(failed.reasons).toEqual(
    expect.arrayContaining([expect.objectContaining({ severity: 'warning', reason: expect.stringMatching(/last sync failed/) })]),
  );
  const list = await licenses();
  expect(list.value.find((l) => l.id === teams.id)).toMatchObject({ used: 330, available: 170 });
  expect(list.value.find((l) => l.id === pos.id)).toMatchObject({ used: 30, available: 10 }); // the last good snapshot
  // The retry (with backoff) succeeds once the fault is gone.
  await eventually(async () => (await licenses()).value.find((l) => l.id === pos.id)?.used === 35, 30_000, 'retry after backoff');
  expect((await tokens()).find((t) => t.organizationName === 'Contoso Retail')).toMatchObject({ lastError: null });
});

test('duplicate sync messages do not double-count anything', async () => {
  const contoso = tokenByOrg('Contoso Ltd');
  const zoom = sandboxApps().find((a) => a.displayName === 'Zoom')!;
  zoom.usedLicenseCount = 41;
  const runId = `r${Date.now()}`;
  const q = new QueueClient(env.azurite.connectionString.replace(/;$/, ''), 'vpp-sync');
  const text = encodeMessage('vpp.sync', { tokenId: contoso.id, runId, step: 'start', poll: 0 }, `${runId}:${contoso.id}:start`);
  const before = await licenses(`tokenId=${contoso.id}&top=1000`);
  await Promise.all([q.sendMessage(text), q.sendMessage(text), q.sendMessage(text)]);
  await eventually(
    async () => (await licenses(`tokenId=${contoso.id}`)).value.find((l) => l.id === zoom.id)?.used === 41,
    30_000,
    'zoom updated',
  );
  await new Promise((r) => setTimeout(r, 3000)); // let the duplicates finish
  const after = await licenses(`tokenId=${contoso.id}&top=1000`);
  expect(after.count).toBe(before.count);
  const history = (await call('GET', `admin/vpp/tokens/${contoso.id}/licenses/${zoom.id}/history`)).body.value as { used: number }[];
  expect(history.map((h) => h.used)).toEqual([41, 40]); // newest first: one row per change, none duplicated
});

test('licences can be filtered by token, sorted and paged', async () => {
  const all = await licenses();
  const byAvailable = await licenses('sort=available&order=asc&top=2');
  expect(byAvailable.count).toBe(all.count);
  expect(byAvailable.value.map((l) => l.available)).toEqual([...all.value.map((l) => l.available)].sort((a, b) => a - b).slice(0, 2));
  const page1 = (await call('GET', 'admin/vpp/licenses?sort=name&top=3')).body as { value: License[]; nextLink: string };
  const next = new URL(page1.nextLink);
  const page2 = await licenses(`${next.searchParams.toString()}`);
  expect([...page1.value, ...page2.value].map((l) => l.name)).toEqual(
    [...all.value]
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
      .slice(0, 6)
      .map((l) => l.name),
  );
  expect((await call('GET', 'admin/vpp/licenses?continuationToken=eyJza2lwIjoxfQ')).status).toBe(400);
  const edu = tokenByOrg('Contoso Education');
  expect((await licenses(`tokenId=${edu.id}`)).value.map((l) => l.name).sort()).toEqual(['Keynote', 'Pages']);
  expect((await call('GET', 'admin/vpp/licenses?sort=price')).status).toBe(400);
  const readOnly = await fetch(`${env.host!.url}/api/admin/vpp/sync`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await env.token('admin-connectors-read')}` },
  });
  expect(readOnly.status).toBe(403);
  expect((await call('POST', 'admin/vpp/tokens/not-a-token/sync')).status).toBe(404);
});

test('three syncs requested at once (the timer, all tokens, one token) make one syncLicenses per token and one snapshot, with no warning; history only for real changes', async () => {
  const contoso = tokenByOrg('Contoso Ltd');
  const zoom = sandboxApps().find((a) => a.displayName === 'Zoom')!;
  zoom.usedLicenseCount = Number(zoom.usedLicenseCount) + 2;
  const ownApps = sandboxApps().filter((a) => a.vppTokenOrganizationName === 'Contoso Ltd');
  const historyBefore = Object.fromEntries(
    await Promise.all(ownApps.map(async (a) => [a.id, (await history(contoso.id, String(a.id))).length])),
  );
  await eventually(async () => (await tokens()).every((t) => !t.syncing), 30_000, 'earlier syncs over');
  env.sandbox.graph.resetStats();
  const t0 = new Date().toISOString();
  // The timer's handler is planSync(); the two admin calls arrive at the same moment.
  const [timer, all, one] = await Promise.all([
    planSync('schedule'),
    call('POST', 'admin/vpp/sync'),
    call('POST', `admin/vpp/tokens/${contoso.id}/sync`),
  ]);
  expect([all.status, one.status]).toEqual([202, 202]);
  const answers = [timer, all.body, one.body] as { runs: { tokenId: string; runId: string; joined: boolean }[] }[];
  for (const tokenId of new Set(answers.flatMap((a) => a.runs.map((r) => r.tokenId)))) {
    const runs = answers.flatMap((a) => a.runs.filter((r) => r.tokenId === tokenId));
    expect(new Set(runs.map((r) => r.runId)).size).toBe(1); // every request names the one sync of the token
    expect(runs.filter((r) => !r.joined).length).toBeLessThanOrEqual(1);
  }
  const syncable = ['Contoso Ltd', 'Contoso Education', 'Contoso Retail'];
  await eventually(
    async () => {
      const list = await tokens();
      return list.every((t) => !t.syncing) && syncable.every((o) => list.some((t) => t.organizationName === o && t.lastSnapshotAt! > t0));
    },
    30_000,
    'the syncs to finish',
  );
  // Each answer's run covers the tokens it started, and ends with them.
  expect(all.headers.get('location')).toBe(`/api/admin/runs/${all.body.runId}`);
  const followed = [timer.runId, all.body.runId as string, one.body.runId as string];
  const started = (id: string) => answers.flatMap((a) => a.runs).filter((r) => r.runId === id && !r.joined).length;
  for (const id of new Set(followed)) {
    const run = await eventually(
      async () => {
        const r = (await call('GET', `admin/runs/${id}`)).body as {
          state: string;
          progress: { done: number; total: number };
          counters: Record<string, number>;
        };
        return r.state === 'running' ? undefined : r;
      },
      30_000,
      `run ${id} to end`,
    );
    expect(run).toMatchObject({ kind: 'vpp.sync', state: 'succeeded', progress: { done: started(id), total: started(id) } });
    if (started(id)) expect(run.counters.tokensSynced).toBe(started(id));
  }
  const routes = env.sandbox.graph.stats.byRoute;
  expect(routes['POST /deviceAppManagement/vppTokens/{id}/syncLicenses']).toBe(3);
  expect(env.sandbox.graph.stats.byStatus['409']).toBeUndefined();
  expect(routes['GET /deviceAppManagement/mobileApps/graph.iosVppApp']).toBe(3); // one snapshot per token
  for (const t of (await tokens()).filter((x) => syncable.includes(x.organizationName)))
    expect({ org: t.organizationName, lastError: t.lastError, health: t.health }).toEqual({
      org: t.organizationName,
      lastError: null,
      health: t.organizationName === 'Contoso Education' ? 'warning' : 'healthy',
    });
  const vpp = ((await call('GET', 'admin/connectors')).body.value as { id: string; detail: string | null }[]).find((c) => c.id === 'vpp')!;
  expect(vpp.detail ?? '').not.toMatch(/409|already in progress|Conflict/i);
  for (const a of ownApps) {
    const h = await history(contoso.id, String(a.id));
    expect({ app: a.displayName, added: h.length - historyBefore[String(a.id)] }).toEqual({
      app: a.displayName,
      added: a.id === zoom.id ? 1 : 0,
    });
  }
  expect((await history(contoso.id, String(zoom.id)))[0]).toMatchObject({ change: 'changed', used: zoom.usedLicenseCount });
});

test("a sync Intune already has under way (Graph's 409) is waited on, not reported as a failure", async () => {
  const edu = tokenByOrg('Contoso Education');
  const keynote = sandboxApps().find((a) => a.displayName === 'Keynote')!;
  // A sync started elsewhere (the Intune portal, say) finishes a moment later with new counts.
  edu.lastSyncStatus = 'inProgress';
  setTimeout(() => {
    keynote.usedLicenseCount = 17;
    edu.lastSyncStatus = 'completed';
  }, 1500);
  env.sandbox.graph.resetStats();
  const t0 = new Date().toISOString();
  expect((await call('POST', `admin/vpp/tokens/${edu.id}/sync`)).status).toBe(202);
  await syncedOnce('Contoso Education', t0);
  expect(env.sandbox.graph.stats.byStatus['409']).toBe(1);
  expect((await tokens()).find((t) => t.id === edu.id)).toMatchObject({ lastError: null });
  expect((await licenses(`tokenId=${edu.id}`)).value.find((l) => l.id === keynote.id)).toMatchObject({ used: 17 });
});

test('an app removed from a token leaves the list, and its history ends with a "removed" entry', async () => {
  const contoso = tokenByOrg('Contoso Ltd');
  const salesforce = sandboxApps().find((a) => a.displayName === 'Salesforce')!;
  env.sandbox.store.table('mobileApps').delete(String(salesforce.id));
  const t0 = new Date().toISOString();
  await call('POST', `admin/vpp/tokens/${contoso.id}/sync`);
  await syncedOnce('Contoso Ltd', t0);
  expect((await licenses(`tokenId=${contoso.id}`)).value.map((l) => l.name)).not.toContain('Salesforce');
  const h = await history(contoso.id, String(salesforce.id));
  expect(h[0]).toMatchObject({ change: 'removed', total: 0, used: 0 });
  expect(h.at(-1)).toMatchObject({ change: 'added', total: 80, used: 80 });
});

test('a plan that dies after queuing the start of a new token, before claiming it: the worker claims it and the sync completes', async () => {
  const late = addVppToken(env.sandbox.store, {
    key: 'late',
    organizationName: 'Contoso Late',
    expiresInDays: 100,
    lastSyncDaysAgo: 0,
    apps: [['Late App', 10, 3]],
  });
  env.sandbox.graph.resetStats();
  let writes = 0;
  const modify = tables.tokens.modify.bind(tables.tokens);
  const spy = jest.spyOn(tables.tokens, 'modify').mockImplementation(async (pk, rk, change, attempts) => {
    if (rk === late.id && ++writes === 2) throw new Error('The process died.'); // the plan's claim
    return modify(pk, rk, change, attempts);
  });
  try {
    await expect(planSync('schedule', String(late.id))).rejects.toThrow('The process died.');
  } finally {
    spy.mockRestore();
  }
  await syncedOnce('Contoso Late');
  expect(env.sandbox.graph.stats.byRoute['POST /deviceAppManagement/vppTokens/{id}/syncLicenses']).toBe(1);
  expect((await licenses(`tokenId=${late.id}`)).value).toEqual([
    expect.objectContaining({ name: 'Late App', total: 10, used: 3, available: 7 }),
  ]);
});

test('a sync whose worker died holds the token only until the time limit; then a request takes over, and what the dead sync wrote is deleted', async () => {
  const late = tokenByOrg('Contoso Late');
  await eventually(async () => !(await tokens()).find((t) => t.id === late.id)!.syncing, 30_000, 'no sync under way');
  // A sync claimed the token and wrote part of a snapshot; then its worker died.
  const dead = `r${Date.now()}-dead00`;
  await tables.tokens.modify('token', String(late.id), (t) => ({ ...t!, runId: dead, runStartedAt: clock.iso() }));
  await tables.licenses.upsert({
    partitionKey: String(late.id),
    rowKey: `${dead}|partial`,
    appId: 'partial',
    kind: 'app',
    name: 'Partial',
    total: 1,
    used: 0,
    available: 1,
    syncedAt: clock.iso(),
    runId: dead,
    low: false,
  });
  const joined = await call('POST', `admin/vpp/tokens/${late.id}/sync`);
  expect(joined.body.runs).toEqual([{ tokenId: late.id, runId: dead, joined: true }]);
  expect((await tokens()).find((t) => t.id === late.id)!.syncing).toBe(true);
  const skew = runLimitMs() + 1000;
  setClock(() => Date.now() + skew);
  try {
    const t0 = clock.iso();
    const took = await call('POST', `admin/vpp/tokens/${late.id}/sync`);
    expect(took.body.runs).toEqual([{ tokenId: late.id, runId: took.body.runId, joined: false }]);
    await syncedOnce('Contoso Late', t0);
    expect(await readSnapshot(String(late.id), dead)).toEqual([]);
    expect((await licenses(`tokenId=${late.id}`)).value.map((l) => l.name)).toEqual(['Late App']);
  } finally {
    setClock();
  }
});

describe('a token with 2,000 apps', () => {
  // Azurite writes a 2,000-row snapshot in seconds when idle and much slower on a loaded machine.
  const SLOW = 150_000;
  let bulk: { id: string };
  const bulkApps = () => sandboxApps().filter((a) => a.vppTokenOrganizationName === 'Contoso Bulk');
  const served = async () => await licenses(`tokenId=${bulk.id}&top=1000`);

  beforeAll(async () => {
    bulk = addVppToken(env.sandbox.store, {
      key: 'bulk',
      organizationName: 'Contoso Bulk',
      expiresInDays: 100,
      lastSyncDaysAgo: 0,
      apps: Array.from({ length: 2000 }, (_, i) => [`Bulk App ${i}`, 100, i % 50] as [string, number, number]),
    });
    const t0 = new Date().toISOString();
    await call('POST', `admin/vpp/tokens/${bulk.id}/sync`);
    await syncedOnce('Contoso Bulk', t0, SLOW);
  }, SLOW);

  test(
    'a write that dies midway leaves the previous snapshot served; the retried step completes the new one',
    async () => {
      const first = await served();
      expect(first.count).toBe(2000);
      for (const a of bulkApps()) a.usedLicenseCount = Number(a.usedLicenseCount) + 1;
      // The fifth transaction of the new snapshot stalls, then fails: the write dies with part of it stored.
      // Snapshots are written four transactions at a time, so the fifth starts only once one is stored.
      let fail!: (e: Error) => void;
      const stalled = new Promise<never>((_, reject) => (fail = reject));
      let reached!: () => void;
      const midway = new Promise<void>((r) => (reached = r));
      let writes = 0;
      const transact = tables.licenses.transact.bind(tables.licenses);
      const spy = jest.spyOn(tables.licenses, 'transact').mockImplementation(async (actions) => {
        if (actions[0]?.kind === 'upsert' && actions[0].entity.partitionKey === bulk.id && ++writes === 5) {
          reached();
          await stalled;
        }
        return transact(actions);
      });
      try {
        const t0 = new Date().toISOString();
        await call('POST', `admin/vpp/tokens/${bulk.id}/sync`);
        await midway;
        const runId = (await tables.tokens.get('token', bulk.id))!.entity.runId!;
        const stored = await tables.licenses.list(odata`PartitionKey eq ${bulk.id} and runId eq ${runId}`);
        expect(stored.length).toBeGreaterThan(0);
        expect(stored.length).toBeLessThan(2000);
        const during = await served();
        expect(during.count).toBe(2000);
        expect(during.value).toEqual(first.value);
        fail(new Error('The storage connection was lost.'));
        await syncedOnce('Contoso Bulk', t0, SLOW);
      } finally {
        fail(new Error('The storage connection was lost.')); // never leave the sync stalled for the tests after
        spy.mockRestore();
      }
      const after = await served();
      expect(after.count).toBe(2000);
      expect(new Set(after.value.map((l) => l.syncedAt)).size).toBe(1);
      expect(after.value.every((l, i) => l.used === first.value[i].used + 1)).toBe(true);
    },
    SLOW,
  );

  test(
    'a licence list read again and again while the 2,000-app snapshot is written never mixes two syncs',
    async () => {
      for (const a of bulkApps()) a.usedLicenseCount = Number(a.usedLicenseCount) + 1;
      const t0 = new Date().toISOString();
      await call('POST', `admin/vpp/tokens/${bulk.id}/sync`);
      const reads: Awaited<ReturnType<typeof served>>[] = [];
      for (let after = 0; after < 3;) {
        reads.push(await served());
        if (((await tokens()).find((t) => t.id === bulk.id)?.lastSnapshotAt ?? '') > t0) after++;
      }
      for (const r of reads) {
        expect(r.count).toBe(2000);
        expect(new Set(r.value.map((l) => l.syncedAt)).size).toBe(1);
      }
      expect(new Set(reads.map((r) => r.value[0].syncedAt)).size).toBe(2); // the reads saw the old sync, then the new
    },
    SLOW,
  );

  test(
    'a token deleted in Intune shows as removed with the reason, its licences are no longer listed, and its apps\' history ends with "removed"',
    async () => {
      const app = bulkApps()[0];
      env.sandbox.store.table('vppTokens').delete(bulk.id);
      expect((await call('POST', 'admin/vpp/sync')).status).toBe(202);
      const gone = (await tokens()).find((t) => t.id === bulk.id)!;
      expect(gone.removed).toEqual({ at: expect.any(String), reason: expect.stringMatching(/Intune no longer has this token/) });
      expect(gone.health).toBe('warning');
      expect(gone.reasons[0]).toMatchObject({ reason: gone.removed!.reason, fix: expect.stringMatching(/upload the token again/) });
      expect((await licenses(`tokenId=${bulk.id}`)).count).toBe(0);
      expect((await licenses()).value.some((l) => l.tokenId === bulk.id)).toBe(false);
      expect(await tables.licenses.list(odata`PartitionKey eq ${bulk.id}`)).toHaveLength(0);
      expect((await history(bulk.id, String(app.id)))[0]).toMatchObject({ change: 'removed', at: gone.removed!.at });
      expect((await call('POST', `admin/vpp/tokens/${bulk.id}/sync`)).status).toBe(404);
    },
    SLOW,
  );
});

// Last: the token it adds would change the counts of the tests above.
test('a token Intune has that the app has not seen is synced by the new-token check, not at the next daily sync; known tokens are left alone', async () => {
  const posts = () => env.sandbox.graph.stats.byRoute['POST /deviceAppManagement/vppTokens/{id}/syncLicenses'] ?? 0;
  expect(await syncNewTokens()).toEqual([]);
  const before = posts();
  const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/vpp/tokens`, {
    method: 'POST',
    body: JSON.stringify({ count: 1, appsPerToken: 3 }),
  });
  const { value } = (await added.json()) as { value: { id: string; organizationName: string }[] };
  const asked = new Date().toISOString();
  expect(await syncNewTokens()).toEqual([value[0].id]);
  await syncedOnce(value[0].organizationName, asked);
  expect(posts()).toBe(before + 1);
  expect(await syncNewTokens()).toEqual([]);
});
