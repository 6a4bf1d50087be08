import { resolve } from 'node:path';
import { EntityTable, type Entity } from '../../shared/platform/storage/tables';
import { purgeFlows, START_LIMIT, startFlow } from '../../shared/platform/auth/oauth';
import { signOut } from '../../shared/platform/auth/session';
import { resetConfig } from '../../shared/platform/config';
import { setClock } from '../../shared/platform/clock';
import { Browser } from '../helpers/browser';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';
import { temDriver } from '../helpers/tem';

/**
 * Admin sign-in in the browser and the redirect flows, tried as the admin and as an outsider: the
 * app in the local host, Azurite and the sandbox's Entra ID over real sockets.
 */
let env: TestEnv;
let api: string;
let tem: ReturnType<typeof temDriver>;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json') });
  api = `${env.host!.url}/api`;
  tem = temDriver(env, api);
});
afterAll(async () => {
  setClock();
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const ADELE = '+447700900101'; // adele-iphone, company-owned iOS
const upn = (local: string) => `${local}@contoso-demo.example`;
const bearer = async (client: string) => ({ Authorization: `Bearer ${await env.token(client)}` });
const provider = async (id: string) => (await tem.call('GET', `admin/tem/providers/${id}`)).body;

const signIn = (b: Browser, user: string, returnTo?: string) => b.signIn(api, env.sandbox.origin, user, returnTo);

/** Starts a TEM consent in `b`'s session and walks it to the callback URL, without opening it. */
async function consentCallback(b: Browser, providerId: string): Promise<string> {
  const start = await b.fetch(`${api}/tem/providers/${providerId}/connect`, { site: 'same-origin' });
  expect(start.status).toBe(302);
  const consent = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  return consent.headers.get('location')!;
}

test('a browser signs in through the sandbox, reads the admin API with its roles, is refused cross-site writes, and signs out', async () => {
  const b = new Browser();
  const landed = await signIn(b, upn('megan'), '/api/admin/connectors');
  expect(landed.status).toBe(302);
  expect(landed.headers.get('location')).toBe('/api/admin/connectors');
  const session = landed.headers.getSetCookie().find((c) => c.startsWith('connector_session='))!;
  expect(session).toMatch(/HttpOnly/);
  expect(session).toMatch(/SameSite=Lax/);

  const me = await b.fetch(`${api}/auth/me`);
  expect(me.status).toBe(200);
  expect(await me.json()).toMatchObject({
    name: 'Megan Admin',
    via: 'session',
    roles: expect.arrayContaining(['Connectors.ReadWrite', 'Compliance.ReadWrite']),
  });
  expect((await b.fetch(`${api}/admin/connectors`)).status).toBe(200);

  // A state-changing call with the cookie from another site, or with no sign of where it came from, is refused and changes nothing.
  const body = JSON.stringify({ name: 'Planted by another site' });
  const json = { 'content-type': 'application/json' };
  const crossSite = await b.fetch(`${api}/admin/tem/providers`, {
    method: 'POST',
    body,
    headers: { ...json, origin: 'https://attacker.example' },
    site: 'cross-site',
  });
  expect(crossSite.status).toBe(403);
  expect(((await crossSite.json()) as { detail: string }).detail).toMatch(/own pages/);
  expect(
    (await b.fetch(`${api}/admin/tem/providers`, { method: 'POST', body, headers: { ...json, origin: 'https://attacker.example' } }))
      .status,
  ).toBe(403);
  expect((await b.fetch(`${api}/admin/tem/providers`, { method: 'POST', body, headers: json })).status).toBe(403);
  expect((await tem.call('GET', 'admin/tem/providers')).body.value.map((p: { name: string }) => p.name)).not.toContain(
    'Planted by another site',
  );
  // The same call from the app's own pages goes through.
  const own = await b.fetch(`${api}/admin/tem/providers`, {
    method: 'POST',
    body: JSON.stringify({ name: 'Added in the console' }),
    headers: { ...json, origin: new URL(api).origin },
    site: 'same-origin',
  });
  expect(own.status).toBe(201);

  // A new sign-in gets a new session id.
  const again = new Browser();
  await signIn(again, upn('megan'));
  expect(again.cookies(api).get('connector_session')).not.toBe(b.cookies(api).get('connector_session'));

  const old = b.cookies(api).get('connector_session')!;
  const out = await b.fetch(`${api}/auth/signout`, { method: 'POST', site: 'same-origin' });
  expect(out.status).toBe(200);
  expect(b.cookies(api).has('connector_session')).toBe(false);
  const after = await fetch(`${api}/auth/me`, { headers: { cookie: `connector_session=${old}` } });
  expect(after.status).toBe(401);
  expect((await again.fetch(`${api}/auth/me`)).status).toBe(200);
});

test('a session holds exactly the roles of its user: none, one, or a read role refused a write', async () => {
  const nora = new Browser();
  await signIn(nora, upn('nora'));
  expect(await (await nora.fetch(`${api}/auth/me`)).json()).toMatchObject({ roles: [], via: 'session' });
  expect((await nora.fetch(`${api}/admin/connectors`)).status).toBe(403);
  const reader = new Browser();
  await signIn(reader, upn('connectors-read'));
  expect((await reader.fetch(`${api}/admin/connectors`)).status).toBe(200);
  expect(
    (
      await reader.fetch(`${api}/admin/tem/providers`, {
        method: 'POST',
        body: '{"name":"x"}',
        headers: { 'content-type': 'application/json' },
        site: 'same-origin',
      })
    ).status,
  ).toBe(403);
  // A forged code on a live state: Entra ID refuses it, no session is made, the page says so.
  const forger = new Browser();
  const { url: authorize } = await forger.follow(`${api}/auth/signin`, (u) => u.startsWith(env.sandbox.origin));
  const state = new URL(authorize).searchParams.get('state')!;
  const forged = await forger.fetch(`${api}/oauth/entra/callback?code=forged-code&state=${encodeURIComponent(state)}`, {
    site: 'cross-site',
  });
  expect(forged.status).toBe(400);
  expect(await forged.text()).toMatch(/did not accept the sign-in \(invalid_grant\)/);
  expect(forger.cookies(api).has('connector_session')).toBe(false);
  // Sign-in lands only on a path of this app.
  const b = new Browser();
  const landed = await signIn(b, upn('megan'), 'https://attacker.example/steal');
  expect(landed.headers.get('location')).toBe('/api/auth/me');
});

test('only an admin holding Connectors.ReadWrite can start a connect flow', async () => {
  const p = await tem.register('Datalert guarded');
  const url = `${api}/tem/providers/${p.id}/connect`;
  const anonymous = await fetch(url, { redirect: 'manual' });
  expect(anonymous.status).toBe(401);
  expect((await fetch(url, { redirect: 'manual', headers: await bearer('admin-connectors-read') })).status).toBe(403);
  expect((await fetch(url, { redirect: 'manual', headers: await bearer('admin-no-role') })).status).toBe(403);
  const reader = new Browser();
  await signIn(reader, upn('connectors-read'));
  expect((await reader.fetch(url, { site: 'same-origin' })).status).toBe(403);
  // A link on another site cannot make a signed-in admin's browser start one.
  const admin = new Browser();
  await signIn(admin, upn('connectors-readwrite'));
  expect((await admin.fetch(url, { site: 'cross-site' })).status).toBe(403);
  expect((await admin.fetch(url, { site: 'same-origin' })).status).toBe(302);
  const link = await fetch(url, { headers: await bearer('admin-connectors-readwrite') });
  expect(link.status).toBe(200);
  expect(await link.json()).toMatchObject({ url: expect.stringContaining('/api/oauth/start?ticket='), expiresAt: expect.any(String) });
  expect(await provider(p.id)).toMatchObject({ connection: 'notConnected', connectionAttempts: [] });
});

test('a forged error callback leaves an Active provider Active with a failed attempt recorded, and enforcement goes on', async () => {
  const p = await tem.register('Datalert forged');
  await tem.connected(p.id);
  // Whoever holds a live state and its browser cookie sends Entra's "access denied" instead of consent.
  const b = new Browser();
  await signIn(b, upn('megan'));
  const callback = new URL(await consentCallback(b, p.id));
  for (const k of ['admin_consent', 'tenant', 'scope']) callback.searchParams.delete(k);
  callback.searchParams.set('error', 'access_denied');
  callback.searchParams.set('error_description', 'AADSTS65004: User declined to consent to access the app.');
  const refused = await b.fetch(callback.toString(), { site: 'cross-site' });
  expect(refused.status).toBe(400);
  expect(await refused.text()).toMatch(/stays active/);
  const after = await provider(p.id);
  expect(after).toMatchObject({ connection: 'active', connectionDetail: null });
  expect(after.connectionAttempts[0]).toMatchObject({
    outcome: 'failed',
    by: expect.any(String),
    detail: expect.stringMatching(/declined/),
  });
  expect(after.connectionAttempts[1]).toMatchObject({ outcome: 'connected' });
  // A correctly signed signal is still enforced.
  await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'roaming' });
  await eventually(() => tem.members('roaming').includes(tem.deviceObject('adele-iphone')), 15_000, 'roaming blocked');
});

test('two flows started in one browser both complete', async () => {
  const [p1, p2] = [await tem.register('Datalert one'), await tem.register('Datalert two')];
  const b = new Browser();
  await signIn(b, upn('connectors-readwrite'));
  const flowCookies = () => [...b.cookies(api).keys()].filter((k) => k.startsWith('oauth_'));
  const before = flowCookies();
  const first = await consentCallback(b, p1.id);
  const second = await consentCallback(b, p2.id);
  // Each flow binds the browser with a cookie of its own.
  expect(flowCookies().filter((k) => !before.includes(k))).toHaveLength(2);
  const done1 = await b.fetch(first, { site: 'cross-site' });
  const done2 = await b.fetch(second, { site: 'cross-site' });
  expect([done1.status, done2.status]).toEqual([200, 200]);
  expect((await provider(p1.id)).connection).toBe('active');
  expect((await provider(p2.id)).connection).toBe('active');
});

test('a callback with a repeated or oversized parameter is refused before anything is used; the state still completes', async () => {
  const p = await tem.register('Datalert params');
  const b = new Browser();
  await signIn(b, upn('megan'));
  const callback = await consentCallback(b, p.id);
  const state = new URL(callback).searchParams.get('state')!;
  const hostile = [
    `${callback}&state=${state}`,
    `${callback}&state=another`,
    `${callback}&admin_consent=False`,
    `${callback}&code=${'x'.repeat(10_000)}`,
    `${callback}&error_description=${'y'.repeat(5000)}`,
  ];
  for (const url of hostile) {
    const res = await b.fetch(url, { site: 'cross-site' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/repeats|characters/);
  }
  expect(await provider(p.id)).toMatchObject({ connection: 'notConnected', connectionAttempts: [] });
  const ok = await b.fetch(callback, { site: 'cross-site' });
  expect(ok.status).toBe(200);
  expect((await provider(p.id)).connection).toBe('active');
});

test(`an admin may start ${START_LIMIT.perAdmin} flows per window, then 429 with Retry-After`, async () => {
  const p = await tem.register('Datalert limit');
  const headers = await bearer('admin-connectors-readwrite');
  const statuses: number[] = [];
  for (let i = 0; i < START_LIMIT.perAdmin + 1; i++)
    statuses.push((await fetch(`${api}/tem/providers/${p.id}/connect`, { headers })).status);
  // Earlier tests started a few as this admin: past the limit every start is refused.
  expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(START_LIMIT.perAdmin);
  expect(statuses.at(-1)).toBe(429);
  const refused = await fetch(`${api}/tem/providers/${p.id}/connect`, { headers });
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  // Another admin is not held back by it.
  expect((await fetch(`${api}/tem/providers/${p.id}/connect`, { headers: await bearer('admin-all-roles') })).status).toBe(200);
});

test('50 started-and-abandoned flows leave no rows after the purge', async () => {
  const p = await tem.register('Datalert abandoned');
  const rows = new EntityTable<Entity>('oauthstates');
  for (let i = 0; i < 50; i++) {
    const link = await tem.call('GET', `tem/providers/${p.id}/connect`);
    // Half are opened in a browser (a state row), half never (a start-link row only).
    if (i % 2) expect((await fetch(link.body.url as string, { redirect: 'manual' })).status).toBe(302);
  }
  expect((await rows.list()).length).toBeGreaterThanOrEqual(75);
  // Nothing is purged before it expires: a used link stays to tell a replay it was used.
  const before = (await rows.list()).length;
  await purgeFlows();
  expect((await rows.list()).length).toBe(before);
  setClock(() => Date.now() + 11 * 60_000);
  try {
    await purgeFlows();
  } finally {
    setClock();
  }
  expect(await rows.list()).toEqual([]);
});

test('sessions end after SESSION_IDLE_MINUTES unused and SESSION_MAX_HOURS after sign-in; sign-ins are logged without names', async () => {
  const start = Date.now();
  const at = (minutes: number) => setClock(() => Date.now() + minutes * 60_000);
  try {
    const idle = new Browser();
    await signIn(idle, upn('connectors-read'));
    at(59);
    expect((await idle.fetch(`${api}/auth/me`)).status).toBe(200);
    at(59 + 61);
    const gone = await idle.fetch(`${api}/auth/me`);
    expect(gone.status).toBe(401);
    expect(((await gone.json()) as { detail: string }).detail).toMatch(/idle too long/);

    at(0);
    const busy = new Browser();
    await signIn(busy, upn('connectors-read'));
    // Used every 50 minutes it stays alive, until the absolute limit.
    for (let minutes = 50; minutes < 12 * 60; minutes += 50) {
      at(minutes);
      expect((await busy.fetch(`${api}/auth/me`)).status).toBe(200);
    }
    at(12 * 60 + 1);
    const capped = await busy.fetch(`${api}/auth/me`);
    expect(capped.status).toBe(401);
    expect(((await capped.json()) as { detail: string }).detail).toMatch(/time limit/);
  } finally {
    setClock();
  }
  expect(Date.now() - start).toBeLessThan(60_000);
  const signIns = env.logs.filter((l) => l.includes('Admin signed in'));
  expect(signIns.length).toBeGreaterThan(0);
  expect(signIns.join('\n')).toMatch(/"objectId":"aa11bb22-/);
  expect(env.logs.join('\n')).not.toMatch(/Megan Admin|Nora Noroles/);
});

test('over https the flow and session cookies are __Host- cookies: Secure, Path=/', async () => {
  const before = process.env.PUBLIC_BASE_URL;
  process.env.PUBLIC_BASE_URL = 'https://connectors.contoso-demo.example';
  resetConfig();
  try {
    const p = await tem.register('Datalert https');
    const admin = { tenantId: 't', objectId: 'admin-1', roles: ['Connectors.ReadWrite'], via: 'session' as const };
    const started = await startFlow('tem-consent', p.id, admin);
    expect(started.headers!['Set-Cookie']).toMatch(/^__Host-oauth_[\w-]+=[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=600$/);
    expect(started.headers!.Location).toMatch(
      /redirect_uri=https%3A%2F%2Fconnectors\.contoso-demo\.example%2Fapi%2Foauth%2Fentra%2Fcallback/,
    );
    expect(await signOut(null, { info: () => undefined } as never)).toMatch(
      /^__Host-session=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0; Secure$/,
    );
  } finally {
    process.env.PUBLIC_BASE_URL = before;
    resetConfig();
  }
});
