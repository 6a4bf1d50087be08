import { resolve } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { encodeMessage } from '../../shared/platform/storage/queues';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/** Apple VPP licences end to end: the app in the local host, Azurite, and the sandbox's Intune. */
let env: TestEnv;
let api: string;
let token: string;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'), settings: { VPP_POLL_SECONDS: '1' } });
  api = `${env.host!.url}/api`;
  token = await env.token('admin-all-roles');
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const call = async (method: string, path: string) => {
  const res = await fetch(`${api}/${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
};
type License = { tokenId: string; id: string; name: string; total: number; used: number; available: number; kind: string; low: boolean };
const licenses = async (query = 'top=1000') => (await call('GET', `admin/vpp/licenses?${query}`)).body as { count: number; value: License[] };
const tokens = async () => (await call('GET', 'admin/vpp/tokens')).body.value as { id: string; organizationName: string; health: string; reasons: { severity: string; reason: string; fix: string }[]; lastError: string | null; lastSnapshotAt: string | null }[];
const sandboxApps = () => [...env.sandbox.store.table('mobileApps').values()];
const tokenByOrg = (org: string) => [...env.sandbox.store.table('vppTokens').values()].find((t) => t.organizationName === org)!;
const syncedOnce = async (org: string, after = '') => eventually(async () => (await tokens()).find((t) => t.organizationName === org && t.lastSnapshotAt && t.lastSnapshotAt > after), 30_000, `${org} synced`);

test('POST /api/admin/vpp/sync: every seeded VPP app shows the sandbox counts and available = total − used; health per token', async () => {
  const r = await call('POST', 'admin/vpp/sync');
  expect(r.status).toBe(202);
  expect(r.body.tokens).toHaveLength(5);
  await Promise.all(['Contoso Ltd', 'Contoso Education', 'Contoso Retail'].map((o) => syncedOnce(o)));
  const list = await licenses();
  const syncable = sandboxApps().filter((a) => !['Contoso Legacy', 'Contoso Partner'].includes(String(a.vppTokenOrganizationName)));
  expect(list.value.filter((l) => l.kind === 'app').map((l) => l.name).sort()).toEqual(syncable.map((a) => String(a.displayName)).sort());
  for (const app of syncable) {
    const l = list.value.find((x) => x.id === app.id)!;
    expect({ total: l.total, used: l.used, available: l.available }).toEqual({ total: app.totalLicenseCount, used: app.usedLicenseCount, available: Number(app.totalLicenseCount) - Number(app.usedLicenseCount) });
  }
  expect(list.value.find((l) => l.kind === 'ebook')).toMatchObject({ name: 'Security Handbook', total: 50, used: 12, available: 38 });

  const health = Object.fromEntries((await tokens()).map((t) => [t.organizationName, t]));
  expect(health['Contoso Ltd'].health).toBe('healthy');
  expect(health['Contoso Education']).toMatchObject({ health: 'warning', reasons: [expect.objectContaining({ severity: 'warning', reason: expect.stringMatching(/expires on .* \(in [23] days\)/), fix: expect.stringMatching(/Apple Business Manager/) })] });
  expect(health['Contoso Legacy'].health).toBe('unhealthy');
  expect(health['Contoso Legacy'].reasons.map((x) => x.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/expired/), expect.stringMatching(/Not synced for 12 days/)]));
  expect(health['Contoso Partner']).toMatchObject({ health: 'unhealthy', reasons: expect.arrayContaining([expect.objectContaining({ reason: 'The token is assigned to another MDM.' })]) });
  // Contoso Retail was 2 days stale; its sync brought it back to healthy.
  expect(health['Contoso Retail'].health).toBe('healthy');
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
  env.sandbox.graph.setFaults([{ method: 'POST', path: `/vppTokens/${retail.id}/syncLicenses$`, status: 500, code: 'InternalServerError', message: 'VPP service unavailable' }]);
  const before = new Date().toISOString();
  await call('POST', 'admin/vpp/sync');
  await syncedOnce('Contoso Ltd', before);
  const failed = await eventually(async () => (await tokens()).find((t) => t.organizationName === 'Contoso Retail' && t.lastError), 20_000, 'retail failure recorded');
  env.sandbox.graph.setFaults([]);
  expect(failed.lastError).toMatch(/500 InternalServerError: VPP service unavailable/);
  expect(failed.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'warning', reason: expect.stringMatching(/last sync failed/) })]));
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
  await eventually(async () => (await licenses(`tokenId=${contoso.id}`)).value.find((l) => l.id === zoom.id)?.used === 41, 30_000, 'zoom updated');
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
  const page2 = await licenses('sort=name&top=3&skip=3');
  expect(page2.value.map((l) => l.name)).toEqual([...all.value].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)).slice(3, 6).map((l) => l.name));
  const edu = tokenByOrg('Contoso Education');
  expect((await licenses(`tokenId=${edu.id}`)).value.map((l) => l.name).sort()).toEqual(['Keynote', 'Pages']);
  expect((await call('GET', 'admin/vpp/licenses?sort=price')).status).toBe(400);
  const readOnly = await fetch(`${api}/admin/vpp/sync`, { method: 'POST', headers: { Authorization: `Bearer ${await env.token('admin-connectors-read')}` } });
  expect(readOnly.status).toBe(403);
  expect((await call('POST', 'admin/vpp/tokens/not-a-token/sync')).status).toBe(404);
});
