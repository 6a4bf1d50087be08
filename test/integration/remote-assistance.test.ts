import { resolve } from 'node:path';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { stableId } from '../../dev/sandbox/seed';
import { freePort } from '../../dev/azurite';
import { Browser } from '../helpers/browser';
import { adminCaller, ROOT, startEnv, type TestEnv } from '../helpers/env';
import { kill, startHostProcess } from '../helpers/process';

/**
 * Remote assistance through TeamViewer, against the sandbox's TeamViewer and Graph and the app in
 * the local host over real sockets: connecting in the browser, sessions for supported devices, the
 * two permissions, the single-flight refresh of TeamViewer's one-time refresh tokens, and no token
 * at rest or in a log line.
 */
jest.setTimeout(120_000);

let env: TestEnv;
let api: string;
beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json') });
  api = `${env.host!.url}/api`;
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const upn = (local: string) => `${local}@contoso-demo.example`;
const device = (key: string) => stableId(`managed:${key}`);
const tv = () => env.sandbox.teamviewer;

const call = (client: string, method: string, path: string, body?: unknown) => adminCaller(env, api, client)(method, path, body);
const admin = (method: string, path: string, body?: unknown) => call('admin-all-roles', method, path, body);

/** Signs megan (every role) in, accepts the terms and connects TeamViewer through the browser, as an admin would. */
async function connect(): Promise<Browser> {
  const b = new Browser();
  await b.signIn(api, env.sandbox.origin, upn('megan'));
  const terms = await b.fetch(`${api}/admin/remote-assistance/terms`, {
    method: 'POST',
    site: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accept: true }),
  });
  expect(terms.status).toBe(200);
  const start = await b.fetch(`${api}/remote-assistance/connect`, { site: 'same-origin' });
  expect(start.status).toBe(302);
  expect(start.headers.get('location')).toContain('/teamviewer/oauth2/authorize?');
  const signedIn = await b.fetch(start.headers.get('location')!);
  expect(signedIn.status).toBe(302);
  const done = await b.fetch(signedIn.headers.get('location')!, { site: 'cross-site' });
  expect(await done.text()).toContain('TeamViewer is connected as Contoso Support');
  expect(done.status).toBe(200);
  return b;
}

test('an admin connects TeamViewer in the browser; a session for the demo Android device opens there with its user as end customer, the user is invited, closing it closes it there', async () => {
  // Before the terms are accepted there is nothing to connect.
  const early = await admin('GET', 'remote-assistance/connect');
  expect(early.status).toBe(409);
  expect(early.body.detail).toMatch(/licence terms/);
  await connect();
  const connection = await admin('GET', 'admin/remote-assistance/connection');
  expect(connection.body).toMatchObject({
    state: 'connected',
    termsAcceptedBy: expect.stringMatching(/^admin:/),
    account: { name: 'Contoso Support', email: 'support@contoso-demo.example' },
  });
  expect((await admin('POST', 'admin/remote-assistance/connection/check')).status).toBe(200);

  const asked = await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('diego-android') });
  expect(asked.status).toBe(201);
  const s = asked.body;
  expect(s).toMatchObject({
    outcome: 'open',
    code: expect.stringMatching(/^s\d{2}-\d{3}-\d{3}$/),
    supporterLink: expect.stringContaining('role=supporter'),
    deviceName: 'diego-android',
    platform: 'Android device administrator',
    userName: 'Diego Siciliani',
    invitation: 'sent',
    requestedBy: expect.stringMatching(/^admin:/),
  });
  const there = tv().sessions.get(s.code)!;
  expect(there).toMatchObject({ state: 'open', end_customer: { name: 'Diego Siciliani', email: upn('diego') }, custom_api: s.id });
  expect(there.description).toMatch(/diego-android .*Android device administrator 14.*requested by/);
  const invitation = [...env.sandbox.store.table('outbox').values()].find((m) => JSON.stringify(m.toRecipients).includes(upn('diego')));
  expect(JSON.stringify(invitation?.body)).toContain(there.end_customer_link);

  // The supporter connects; the report sync joins the connection to the session.
  const connected = tv().connect(s.code, 'Lee Gu', 12);
  const synced = await admin('POST', 'admin/remote-assistance/sync');
  expect(synced.body).toMatchObject({ connections: 1 });
  expect((await admin('GET', `admin/remote-assistance/sessions/${s.id}`)).body.connections).toEqual([
    { id: connected.id, supporter: 'Lee Gu', start: connected.start_date, end: connected.end_date, minutes: 12 },
  ]);
  await admin('POST', 'admin/remote-assistance/sync'); // again: nothing twice
  expect((await admin('GET', `admin/remote-assistance/sessions/${s.id}`)).body.connections).toHaveLength(1);
  const csv = await fetch(`${api}/admin/remote-assistance/sessions.csv?deviceId=${device('diego-android')}`, {
    headers: { Authorization: `Bearer ${await env.token('admin-all-roles')}` },
  });
  expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
  const lines = (await csv.text()).trim().split('\r\n');
  expect(lines[0]).toMatch(/^Requested at,Requested by,.*,Session code,.*,Supporters,Minutes connected$/);
  expect(lines.find((l) => l.includes(s.code))).toMatch(/,Lee Gu,12$/);

  const closed = await admin('POST', `admin/remote-assistance/sessions/${s.id}/close`);
  expect(closed.body).toMatchObject({ outcome: 'closed', closedBy: expect.stringMatching(/^admin:/) });
  expect(tv().sessions.get(s.code)!.state).toBe('closed');
  const listed = await admin('GET', `admin/remote-assistance/sessions?deviceId=${device('diego-android')}`);
  expect(listed.body.value.map((x: { id: string }) => x.id)).toContain(s.id);
  expect((await admin('GET', `admin/remote-assistance/sessions/${s.id}`)).body.outcome).toBe('closed');
});

test('each unsupported kind of device is refused with 422 naming why, recorded, and nothing is created in TeamViewer', async () => {
  const before = tv().sessions.size;
  for (const [key, why] of [
    ['isaiah-hololens', /Windows Holographic \(HoloLens\)/],
    ['lee-surface-hub', /Windows Team \(Surface Hub\)/],
    ['johanna-laptop', /Windows 10 S/],
    ['grady-scanner', /Android Enterprise corporate-owned/],
  ] as const) {
    const refused = await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device(key) });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(why);
    const audit = await admin('GET', `admin/remote-assistance/sessions?deviceId=${device(key)}`);
    expect(audit.body.value[0]).toMatchObject({ outcome: 'refused', deviceName: key, code: null });
  }
  expect((await admin('POST', 'admin/remote-assistance/sessions', { deviceId: 'no-such-device' })).status).toBe(404);
  expect(tv().sessions.size).toBe(before);
});

test('the device list says for each device whether a session can be requested, and why not, as a request for it would answer', async () => {
  const { value } = (await call('admin-remoteassistance-request', 'GET', 'admin/remote-assistance/devices')).body as {
    value: { id: string; deviceName: string; supported: boolean; reason: string | null; platform: string }[];
  };
  const byName = new Map(value.map((d) => [d.deviceName, d]));
  expect(value.map((d) => d.deviceName)).toEqual([...value.map((d) => d.deviceName)].sort((a, b) => a.localeCompare(b)));
  expect(byName.get('diego-android')).toMatchObject({ supported: true, reason: null });
  expect(byName.get('isaiah-hololens')).toMatchObject({
    supported: false,
    reason: 'TeamViewer does not support Windows Holographic (HoloLens).',
  });
  expect(byName.get('lee-surface-hub')).toMatchObject({
    supported: false,
    reason: 'TeamViewer does not support Windows Team (Surface Hub).',
  });
  expect(byName.get('johanna-laptop')).toMatchObject({ supported: false, reason: 'TeamViewer does not support Windows 10 S.' });
  expect(byName.get('grady-scanner')).toMatchObject({ supported: false, platform: 'Android Enterprise corporate-owned' });
  // The reason listed is the one a request for the device is refused with.
  for (const d of value.filter((x) => !x.supported)) {
    const refused = await admin('POST', 'admin/remote-assistance/sessions', { deviceId: d.id });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toBe(d.reason);
  }
});

test('without RemoteAssistance.Request no session is requested or read; without RemoteAssistance.Update no terms, connect, check or disconnect', async () => {
  const onlyUpdate = 'admin-remoteassistance-update';
  const onlyRequest = 'admin-remoteassistance-request';
  const before = tv().sessions.size;
  for (const client of [onlyUpdate, 'admin-no-role']) {
    expect((await call(client, 'POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })).status).toBe(403);
    expect((await call(client, 'GET', 'admin/remote-assistance/sessions')).status).toBe(403);
    expect((await call(client, 'GET', 'admin/remote-assistance/devices')).status).toBe(403);
  }
  for (const client of [onlyRequest, 'admin-no-role']) {
    expect((await call(client, 'POST', 'admin/remote-assistance/terms', { accept: true })).status).toBe(403);
    expect((await call(client, 'GET', 'remote-assistance/connect')).status).toBe(403);
    expect((await call(client, 'POST', 'admin/remote-assistance/connection/check')).status).toBe(403);
    expect((await call(client, 'DELETE', 'admin/remote-assistance/connection')).status).toBe(403);
  }
  // A signed-in user holding only Request cannot start the connect flow in the browser either.
  const b = new Browser();
  await b.signIn(api, env.sandbox.origin, upn('remoteassistance-request'));
  expect((await b.fetch(`${api}/remote-assistance/connect`, { site: 'same-origin' })).status).toBe(403);
  expect(tv().sessions.size).toBe(before);
  // Each role does what it grants.
  expect((await call(onlyRequest, 'POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })).status).toBe(201);
  expect((await call(onlyUpdate, 'GET', 'admin/remote-assistance/connection')).body.state).toBe('connected');
});

test("TeamViewer's rate limit and failures reach the admin as 503 with Retry-After, recorded; a request cut short is settled by the report sync", async () => {
  tv().fault({ method: 'POST', path: '^/sessions$', status: 403, error: 'rate_limit_reached' });
  const limited = await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') });
  expect(limited.status).toBe(503);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(limited.body.detail).toMatch(/rate_limit_reached/);
  tv().fault({ method: 'POST', path: '^/sessions$', status: 500, error: 'internal_error' });
  expect((await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })).status).toBe(503);
  const failed = (await admin('GET', `admin/remote-assistance/sessions?deviceId=${device('adele-iphone')}&outcome=failed`)).body.value;
  expect(failed.map((f: { reason: string }) => f.reason)).toEqual([
    expect.stringMatching(/internal_error/),
    expect.stringMatching(/rate_limit_reached/),
  ]);

  // Two requests cut short by a crash: one after TeamViewer created its session, one before.
  const table = TableClient.fromConnectionString(env.settings.AzureWebJobsStorage, 'rasessions', { allowInsecureConnection: true });
  const at = Date.now() - 5 * 60_000;
  const key = (n: number) => `${String(9_999_999_999_999 - at).padStart(13, '0')}-0000000${n}`;
  const base = {
    partitionKey: 'session',
    requestedBy: 'admin:x',
    requestedAt: new Date(at).toISOString(),
    deviceId: device('adele-iphone'),
    outcome: 'requesting',
  };
  await table.createEntity({ ...base, rowKey: key(1) });
  await table.createEntity({ ...base, rowKey: key(2) });
  const token = [...tv().access].find(([, t]) => !t.revoked && t.expires > Date.now())![0];
  const created = await fetch(`${env.sandbox.origin}/teamviewer/api/v1/sessions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ groupname: 'Intune remote assistance', custom_api: key(1), end_customer: { name: 'Adele Vance' } }),
  }).then((r) => r.json() as Promise<{ code: string }>);
  const synced = await admin('POST', 'admin/remote-assistance/sync');
  expect(synced.body.settled).toBe(2);
  expect((await admin('GET', `admin/remote-assistance/sessions/${key(1)}`)).body).toMatchObject({ outcome: 'open', code: created.code });
  expect((await admin('GET', `admin/remote-assistance/sessions/${key(2)}`)).body).toMatchObject({ outcome: 'failed', code: null });
});

test('a TeamViewer callback opened in another browser, or replayed, is refused and connects nothing', async () => {
  await admin('DELETE', 'admin/remote-assistance/connection');
  const b = new Browser();
  await b.signIn(api, env.sandbox.origin, upn('megan'));
  const start = await b.fetch(`${api}/remote-assistance/connect`, { site: 'same-origin' });
  const callback = (await b.fetch(start.headers.get('location')!)).headers.get('location')!;
  const stranger = await new Browser().fetch(callback, { site: 'cross-site' });
  expect(stranger.status).toBe(400);
  expect(await stranger.text()).toMatch(/another browser/);
  expect((await admin('GET', 'admin/remote-assistance/connection')).body.state).toBe('disconnected');
  expect((await b.fetch(callback, { site: 'cross-site' })).status).toBe(200);
  const replay = await b.fetch(callback, { site: 'cross-site' });
  expect(replay.status).toBe(400);
  expect((await admin('GET', 'admin/remote-assistance/connection')).body.state).toBe('connected');
});

test('20 concurrent session requests across an access-token expiry: one refresh, none fails, no refresh token used twice; a revoked token turns the connection to needs re-authorization with an alert', async () => {
  const stats = { ...tv().stats };
  tv().expireAccessTokens();
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      admin('POST', 'admin/remote-assistance/sessions', {
        deviceId: device(['adele-iphone', 'lee-laptop', 'megan-mac', 'diego-android'][i % 4]),
      }),
    ),
  );
  expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
  expect(tv().stats.refreshes - stats.refreshes).toBe(1);
  expect(tv().stats.refreshReused).toBe(0);

  tv().revokeAll();
  const refused = await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') });
  expect(refused.status).toBe(409);
  expect(refused.body.detail).toMatch(/needs re-authorization/);
  const connection = (await admin('GET', 'admin/remote-assistance/connection')).body;
  expect(connection).toMatchObject({ state: 'needsReauthorization', detail: expect.stringMatching(/refused to refresh/) });
  expect(connection.alerts[0].message).toMatch(/Connect TeamViewer again/);
  const status = (await admin('GET', 'admin/connectors')).body;
  expect(JSON.stringify(status)).toMatch(/needs re-authorization/);
  expect(tv().stats.refreshReused).toBe(0);

  // Connecting again restores it; disconnecting forgets the tokens.
  await connect();
  expect((await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })).status).toBe(201);
  expect((await admin('DELETE', 'admin/remote-assistance/connection')).body.state).toBe('disconnected');
  expect((await admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })).status).toBe(409);
  await connect();
});

test("the report sync follows TeamViewer's paging: every connection of every session is joined once", async () => {
  const asked = await Promise.all(
    Array.from({ length: 3 }, () => admin('POST', 'admin/remote-assistance/sessions', { deviceId: device('adele-iphone') })),
  );
  const codes = asked.map((a) => a.body.code as string);
  for (const code of codes) for (const who of ['Lee Gu', 'Megan Bowen']) tv().connect(code, who, 5);
  tv().settings.pageSize = 2;
  try {
    await admin('POST', 'admin/remote-assistance/sync');
    await admin('POST', 'admin/remote-assistance/sync');
  } finally {
    tv().settings.pageSize = 1000;
  }
  for (const a of asked) {
    const s = (await admin('GET', `admin/remote-assistance/sessions/${a.body.id}`)).body;
    expect(s.connections.map((c: { supporter: string }) => c.supporter).sort()).toEqual(['Lee Gu', 'Megan Bowen']);
  }
});

/** Another instance of the app: a host process of its own beside the one in this test process. */
async function instance(name: string, settings: Record<string, string> = {}) {
  const port = await freePort();
  const saved = { ...env.settings };
  Object.assign(env.settings, settings);
  try {
    const child = await startHostProcess(env, port, `remote-assistance-${name}.log`);
    return { child, call: adminCaller(env, `http://localhost:${port}/api`) };
  } finally {
    env.settings = saved;
  }
}

test('two instances that both find the token refused refresh it once between them', async () => {
  const other = await instance('second');
  try {
    const stats = { ...tv().stats };
    tv().expireAccessTokens();
    const ask = (call: typeof admin) => call('POST', 'admin/remote-assistance/sessions', { deviceId: device('lee-laptop') });
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => ask(admin)),
      ...Array.from({ length: 10 }, () => ask(other.call)),
    ]);
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    expect(tv().stats.refreshes - stats.refreshes).toBe(1);
    expect(tv().stats.refreshReused).toBe(0);
  } finally {
    await kill(other.child, 'SIGTERM');
  }
});

test("the licence's request budget is shared by the instances and never exceeded: calls beyond it get 503 with Retry-After and are not sent", async () => {
  const table = TableClient.fromConnectionString(env.settings.AzureWebJobsStorage, 'raconnection', { allowInsecureConnection: true });
  await table.deleteEntity('budget', 'teamviewer').catch(() => undefined);
  // Two instances with a licence of 25 calls an hour; each session request is one call.
  const [a, b] = await Promise.all([
    instance('budget-a', { TEAMVIEWER_REQUESTS: '25/3600' }),
    instance('budget-b', { TEAMVIEWER_REQUESTS: '25/3600' }),
  ]);
  try {
    const before = tv().stats.apiCalls;
    const ask = (call: typeof admin) => call('POST', 'admin/remote-assistance/sessions', { deviceId: device('lee-laptop') });
    const answers = await Promise.all([...Array.from({ length: 15 }, () => ask(a.call)), ...Array.from({ length: 15 }, () => ask(b.call))]);
    expect(answers.filter((x) => x.status === 201)).toHaveLength(25);
    const refused = answers.filter((x) => x.status !== 201);
    expect(refused.map((x) => x.status)).toEqual(Array(5).fill(503));
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(refused[0].body.detail).toMatch(/TEAMVIEWER_REQUESTS/);
    expect(tv().stats.apiCalls - before).toBe(25);
  } finally {
    await Promise.all([kill(a.child, 'SIGTERM'), kill(b.child, 'SIGTERM')]);
    await table.deleteEntity('budget', 'teamviewer');
  }
});

test('no TeamViewer token or code appears in any table row or log line', async () => {
  const secrets = [...tv().access.keys(), ...tv().refresh.keys(), ...tv().codes.keys()];
  expect(secrets.length).toBeGreaterThan(6);
  const service = TableServiceClient.fromConnectionString(env.settings.AzureWebJobsStorage, { allowInsecureConnection: true });
  const rows: string[] = [];
  for await (const t of service.listTables()) {
    const client = TableClient.fromConnectionString(env.settings.AzureWebJobsStorage, t.name!, { allowInsecureConnection: true });
    for await (const e of client.listEntities()) rows.push(JSON.stringify(e));
  }
  expect(rows.some((r) => r.includes('needsReauthorization') || r.includes('"connected"'))).toBe(true);
  const haystack = [...rows, ...env.logs].join('\n');
  expect(env.logs.length).toBeGreaterThan(0);
  for (const s of secrets) expect(haystack.includes(s)).toBe(false);
});
