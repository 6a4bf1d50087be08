import { resolve } from 'node:path';
import { setClock } from '../../shared/platform/clock';
import { sign } from '../../shared/platform/webhooks';
import { ROOT, startEnv, type TestEnv } from '../helpers/env';
import { temDriver } from '../helpers/tem';
import vectors from '../fixtures/standard-webhooks-vectors.json';

/** The TEM webhook against the Standard Webhooks test vectors, through HTTP, with the app's clock at each vector's "now". */
let env: TestEnv;
let tem: ReturnType<typeof temDriver>;
let api: string;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json') });
  api = `${env.host!.url}/api`;
  tem = temDriver(env, api);
});
afterEach(() => setClock());
afterAll(async () => {
  setClock();
  await env?.stop();
});

/** What the HTTP answer must say for each verdict of the vectors. */
function expected(v: (typeof vectors.verify_vectors)[number]): { status: number; detail: RegExp } {
  if (v.expect === 'valid') return { status: 400, detail: v.payload === '' ? /not valid JSON/ : /not a TEM event/ }; // signature accepted; the vector payload is no TEM event
  if (v.expect === 'signature-valid-json-invalid') return { status: 400, detail: /not valid JSON/ };
  switch (v.expected_error) {
    case 'Missing required headers':
      return { status: 400, detail: /Missing Standard Webhooks header/ };
    case 'Invalid Signature Headers':
      return { status: 400, detail: /digits only/ };
    case 'Message timestamp too old':
    case 'Message timestamp too new':
      return { status: 401, detail: /5 minutes/ };
    default:
      return { status: 401, detail: /No webhook-signature matches/ };
  }
}

test.each(vectors.verify_vectors.map((v) => [v.name, v] as const))('vector: %s', async (_name, v) => {
  const p = await tem.register(`vector ${v.name}`.slice(0, 100), { secret: v.secret });
  setClock(() => v.now * 1000);
  const res = await fetch(p.webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(v.headers as unknown as Record<string, string>) },
    body: v.payload,
  });
  const body = (await res.json()) as { detail: string };
  const want = expected(v);
  expect({ status: res.status, detail: body.detail }).toEqual({ status: want.status, detail: expect.stringMatching(want.detail) });
});

test('the signing vectors: the same signatures from the same secret, id, timestamp and body', () => {
  for (const v of vectors.sign_vectors) expect(sign(v.secret, v.msg_id, v.timestamp, v.payload)).toBe(v.expected_signature);
});

test('rotation: during the overlap both secrets verify; after it only the new one', async () => {
  const p = await tem.register('rotating');
  const rotated = await tem.call('POST', `admin/tem/providers/${p.id}/secrets`, { overlapHours: 1 });
  expect(rotated.status).toBe(200);
  expect(rotated.body.secret).toMatch(/^whsec_/);
  expect(rotated.body.secret).not.toBe(p.secret);
  const event = (phoneNumber: string) => ({ phoneNumber, kind: 'roaming' });
  const withOld = await tem.send({ webhookUrl: p.webhookUrl, secret: p.secret }, 'usage.threshold_exceeded', event('+447700900101'));
  const withNew = await tem.send(
    { webhookUrl: p.webhookUrl, secret: rotated.body.secret },
    'usage.threshold_exceeded',
    event('+447700900101'),
  );
  expect([withOld.statuses, withNew.statuses]).toEqual([[202], [202]]);
  // Two hours later the old secret no longer verifies.
  const later = Date.now() + 2 * 3600_000;
  setClock(() => later);
  const { Webhook } = await import('standardwebhooks');
  const body = JSON.stringify({ type: 'usage.threshold_exceeded', timestamp: new Date(later).toISOString(), data: event('+447700900101') });
  const post = (secret: string, id: string) =>
    fetch(p.webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(later / 1000)),
        'webhook-signature': new Webhook(secret).sign(id, new Date(later), body),
      },
      body,
    });
  expect((await post(p.secret, 'late-old')).status).toBe(401);
  expect((await post(rotated.body.secret, 'late-new')).status).toBe(202);
  // A bad secret is refused with what to fix.
  const bad = await tem.call('POST', `admin/tem/providers/${p.id}/secrets`, { secret: 'short' });
  expect(bad.status).toBe(400);
  expect(bad.body.detail).toMatch(/whsec_ followed by at least 24 bytes/);
});

test('admin input is checked: bad bodies are 400 with the field, and change nothing', async () => {
  const before = (await tem.call('GET', 'admin/tem/providers')).body.value.length;
  const r = await tem.call('POST', 'admin/tem/providers', { name: '', alertEmail: 'not-an-email' });
  expect(r.status).toBe(400);
  expect(r.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['alertEmail', 'name']);
  expect((await tem.call('PATCH', 'admin/tem/providers/00000000-0000-4000-8000-000000000000', { enabled: false })).status).toBe(404);
  expect((await tem.call('PATCH', `admin/tem/providers/${(await tem.register('x')).id}`, {})).status).toBe(400);
  expect((await tem.call('GET', 'admin/tem/providers')).body.value.length).toBe(before + 1);
  const noRole = await fetch(`${api}/admin/tem/providers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await env.token('admin-connectors-read')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x' }),
  });
  expect(noRole.status).toBe(403);
});

test('lines: company devices can be added by hand, personal ones cannot; removal works', async () => {
  const devices = [...env.sandbox.store.table('managedDevices').values()];
  const company = devices.find((d) => d.deviceName === 'lee-laptop')!;
  const personal = devices.find((d) => d.deviceName === 'johanna-android')!;
  const added = await tem.call('POST', 'admin/tem/lines', { phoneNumber: '+44 7700 900199', managedDeviceId: company.id });
  expect(added.status).toBe(201);
  expect(added.body).toMatchObject({ phoneNumber: '+447700900199', source: 'manual', ownership: 'company' });
  const refused = await tem.call('POST', 'admin/tem/lines', { phoneNumber: '+447700900198', managedDeviceId: personal.id });
  expect(refused.status).toBe(400);
  expect(refused.body.detail).toMatch(/only company-owned devices/);
  // The device list says the same before anything is asked.
  const listed = (await tem.call('GET', 'admin/tem/devices')).body.value as { id: string; eligible: boolean; reason: string | null }[];
  expect(listed).toHaveLength(devices.length);
  expect(listed.find((d) => d.id === company.id)).toMatchObject({ eligible: true, reason: null });
  expect(listed.find((d) => d.id === personal.id)).toMatchObject({ eligible: false, reason: refused.body.detail });
  expect((await tem.call('POST', 'admin/tem/lines', { phoneNumber: 'call me', managedDeviceId: company.id })).status).toBe(400);
  const lines = (await tem.call('GET', 'admin/tem/lines')).body.value as { phoneNumber: string }[];
  expect(lines.map((l) => l.phoneNumber)).toContain('+447700900199');
  expect(lines.map((l) => l.phoneNumber)).not.toContain('+447700900198');
  expect((await tem.call('DELETE', `admin/tem/lines/${encodeURIComponent('+447700900199')}`)).status).toBe(204);
  expect((await tem.call('DELETE', `admin/tem/lines/${encodeURIComponent('+447700900199')}`)).status).toBe(404);
});
