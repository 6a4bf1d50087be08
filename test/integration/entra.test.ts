import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { DEMO, demoClients } from '../../dev/sandbox/demo';
import { startSandbox, type Sandbox } from '../../dev/sandbox/server';
import { resolve } from 'node:path';
import { ROOT } from '../helpers/env';

/** The sandbox's Entra ID endpoints, as a standard OAuth client meets them over HTTPS. */
let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, certDir: resolve(ROOT, '.dev', 'certs') });
});
afterAll(() => sandbox?.stop());

const admin = demoClients().find((c) => c.name === 'admin-all-roles')!;
const token = (tenant: string, form: Record<string, string>) =>
  fetch(`${sandbox.origin}/${tenant}/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams(form) });

test('OpenID configuration and JWKS are served per tenant over https', async () => {
  const config = (await (await fetch(`${sandbox.origin}/${DEMO.tenantId}/v2.0/.well-known/openid-configuration`)).json()) as Record<
    string,
    string
  >;
  expect(config.issuer).toBe(`${sandbox.origin}/${DEMO.tenantId}/v2.0`);
  expect(config.token_endpoint).toBe(`${sandbox.origin}/${DEMO.tenantId}/oauth2/v2.0/token`);
  const jwks = (await (await fetch(config.jwks_uri)).json()) as { keys: { kid: string; kty: string; alg: string }[] };
  expect(jwks.keys).toEqual([expect.objectContaining({ kid: sandbox.entra.kid, kty: 'RSA', alg: 'RS256' })]);
});

test('client credentials: an RS256 token with tid, iss, aud and the client roles', async () => {
  const res = await token(DEMO.tenantId, {
    grant_type: 'client_credentials',
    client_id: admin.clientId,
    client_secret: admin.clientSecret,
    scope: `api://${DEMO.app.clientId}/.default`,
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
  expect(body.token_type).toBe('Bearer');
  const claims = decodeJwt(body.access_token);
  expect(claims).toMatchObject({
    tid: DEMO.tenantId,
    iss: `${sandbox.origin}/${DEMO.tenantId}/v2.0`,
    aud: DEMO.app.clientId,
    azp: admin.clientId,
    roles: admin.roles,
    ver: '2.0',
  });
});

test('bad client credentials and scopes get Entra-style errors', async () => {
  const bad = await token(DEMO.tenantId, {
    grant_type: 'client_credentials',
    client_id: admin.clientId,
    client_secret: 'wrong',
    scope: `api://${DEMO.app.clientId}/.default`,
  });
  expect(bad.status).toBe(401);
  expect(await bad.json()).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
  const scope = await token(DEMO.tenantId, {
    grant_type: 'client_credentials',
    client_id: admin.clientId,
    client_secret: admin.clientSecret,
    scope: 'User.Read',
  });
  expect(await scope.json()).toMatchObject({ error: 'invalid_scope' });
  const tenant = await fetch(`${sandbox.origin}/not-a-tenant/oauth2/v2.0/token`, { method: 'POST' });
  expect(await tenant.json()).toMatchObject({ error: 'invalid_tenant' });
});

test('authorization code with PKCE: the sign-in page lists the demo users; the chosen one is sent back with code and state; the verifier is checked', async () => {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://localhost:7071/api/oauth/callback';
  const authorize = new URL(`${sandbox.origin}/${DEMO.tenantId}/oauth2/v2.0/authorize`);
  Object.entries({
    client_id: DEMO.app.clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access',
    state: 's-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).forEach(([k, v]) => authorize.searchParams.set(k, v));
  const page = await fetch(authorize, { redirect: 'manual' });
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toMatch(/megan@contoso-demo\.example/);
  expect(html).toMatch(/nora@contoso-demo\.example/);
  const form = { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' } } as const;
  const unknown = await fetch(authorize, { ...form, body: 'user=nobody@contoso-demo.example' });
  expect(unknown.status).toBe(400);
  const cancelled = new URL((await fetch(authorize, { ...form, body: 'user=cancel' })).headers.get('location')!);
  expect(Object.fromEntries(cancelled.searchParams)).toMatchObject({ error: 'access_denied', state: 's-123' });
  const res = await fetch(authorize, { ...form, body: 'user=megan@contoso-demo.example' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
  expect(back.searchParams.get('state')).toBe('s-123');
  const code = back.searchParams.get('code')!;
  const grant = {
    grant_type: 'authorization_code',
    client_id: DEMO.app.clientId,
    client_secret: DEMO.app.clientSecret,
    code,
    redirect_uri: redirectUri,
  };
  expect(await (await token(DEMO.tenantId, { ...grant, code_verifier: 'wrong-verifier' })).json()).toMatchObject({
    error: 'invalid_grant',
  });
  // The failed attempt consumed the code, as Entra does.
  const reuse = await token(DEMO.tenantId, { ...grant, code_verifier: verifier });
  expect(reuse.status).toBe(400);
});

test('admin consent redirects back with admin_consent, tenant and state, or with error when declined', async () => {
  const url = (state: string) =>
    `${sandbox.origin}/organizations/v2.0/adminconsent?client_id=${DEMO.app.clientId}&scope=https://graph.microsoft.com/.default&redirect_uri=${encodeURIComponent('http://localhost:7071/api/consent/callback')}&state=${state}`;
  const granted = new URL((await fetch(url('a'), { redirect: 'manual' })).headers.get('location')!);
  expect(Object.fromEntries(granted.searchParams)).toMatchObject({ admin_consent: 'True', tenant: DEMO.tenantId, state: 'a' });
  sandbox.entra.consentDecision = 'deny';
  const denied = new URL((await fetch(url('b'), { redirect: 'manual' })).headers.get('location')!);
  expect(Object.fromEntries(denied.searchParams)).toMatchObject({ error: 'access_denied', state: 'b' });
  const foreign = await fetch(url('c').replace(encodeURIComponent('http://localhost:7071'), encodeURIComponent('https://evil.example')), {
    redirect: 'manual',
  });
  expect(foreign.status).toBe(400);
  expect(await foreign.text()).toMatch(/AADSTS50011/);
});

test('GET /_sandbox/demo over plain http gives the tenant, the app and usable admin credentials', async () => {
  const demo = (await (await fetch(`${sandbox.controlUrl}/_sandbox/demo`)).json()) as {
    tenantId: string;
    app: { clientId: string };
    adminClients: { name: string; clientId: string; clientSecret: string; roles: string[] }[];
  };
  expect(demo.tenantId).toBe(DEMO.tenantId);
  expect(demo.adminClients.map((c) => c.name)).toEqual(
    expect.arrayContaining(['admin-all-roles', 'admin-no-role', 'admin-connectors-read', 'admin-remoteassistance-update']),
  );
  const none = demo.adminClients.find((c) => c.name === 'admin-no-role')!;
  expect(none.roles).toEqual([]);
  const res = await token(DEMO.tenantId, {
    grant_type: 'client_credentials',
    client_id: none.clientId,
    client_secret: none.clientSecret,
    scope: `api://${demo.app.clientId}/.default`,
  });
  expect(res.status).toBe(200);
});

test('the control API answers mistakes as problem+json, like the app', async () => {
  const unknown = await fetch(`${sandbox.controlUrl}/_sandbox/nothing-here`);
  expect(unknown.status).toBe(404);
  expect(unknown.headers.get('content-type')).toBe('application/problem+json');
  expect(await unknown.json()).toMatchObject({
    status: 404,
    title: 'Not Found',
    detail: expect.stringMatching(/No sandbox control endpoint GET \/_sandbox\/nothing-here/),
  });
  for (const [path, body] of [
    ['/_sandbox/consent', { decision: 'maybe' }],
    ['/_sandbox/faults', { rules: 'all' }],
  ] as const) {
    const bad = await fetch(`${sandbox.controlUrl}${path}`, { method: 'PUT', body: JSON.stringify(body) });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/^Send \{/);
  }
});
