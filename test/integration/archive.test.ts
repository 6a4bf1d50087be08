import { createHash } from 'node:crypto';
import { ARCHIVE_ACCOUNT } from '../../dev/sandbox/providers/archive';
import { tables } from '../../shared/archive/model';
import { httpSource, SourceError } from '../../shared/archive/source';
import { adminCaller, startEnv, type TestEnv } from '../helpers/env';

/**
 * The network archive's provider account and user mapping, through the admin API against the local
 * host, Azurite, the sandbox tenant and its TeleMessage-style provider.
 */
jest.setTimeout(60_000);

let env: TestEnv;
let api: string;
let call: ReturnType<typeof adminCaller>;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js' });
  api = `${env.host!.url}/api`;
  call = adminCaller(env, api);
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const providerUrl = () => `${env.sandbox.origin}/archive`;
const as = async (client: string, method: string, path: string, body?: unknown) =>
  fetch(`${api}/${path}`, {
    method,
    headers: { Authorization: `Bearer ${await env.token(client)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const csv = (text: string) => call('PUT', 'admin/archive/mapping', Buffer.from(text), { 'content-type': 'text/csv' });

test('only an admin with Archive.ReadWrite registers the account; Archive.Read reads it; nobody else sees anything', async () => {
  const account = { providerUrl: providerUrl(), username: ARCHIVE_ACCOUNT.username, password: ARCHIVE_ACCOUNT.password };
  expect((await fetch(`${api}/admin/archive/account`)).status).toBe(401);
  expect((await as('admin-no-role', 'GET', 'admin/archive/account')).status).toBe(403);
  expect((await as('admin-connectors-readwrite', 'PUT', 'admin/archive/account', account)).status).toBe(403);
  expect((await as('admin-archive-read', 'PUT', 'admin/archive/account', account)).status).toBe(403);
  expect((await as('admin-archive-read', 'POST', 'admin/archive/terms', { accept: true })).status).toBe(403);
  expect((await as('admin-archive-read', 'GET', 'admin/archive/account')).status).toBe(404); // nothing registered by those
  expect((await as('admin-archive-readwrite', 'PUT', 'admin/archive/account', account)).status).toBe(200);
  expect((await as('admin-archive-read', 'GET', 'admin/archive/account')).status).toBe(200); // ReadWrite includes Read; Read reads
});

test('bad account details are refused with what to fix, and change nothing', async () => {
  const before = (await call('GET', 'admin/archive/account')).body;
  for (const [body, field] of [
    [{ providerUrl: providerUrl(), username: 'u', password: 'p', apiKey: 'tmk_12345678' }, 'apiKey'],
    [{ providerUrl: providerUrl(), username: 'u' }, 'password'],
    [{ providerUrl: providerUrl() }, 'apiKey'],
    [{ providerUrl: 'http://archive.example.com', apiKey: 'tmk_12345678' }, 'providerUrl'],
    [{ providerUrl: providerUrl(), apiKey: 'tmk_12345678', region: 'eu' }, '(body)'],
  ] as const) {
    const r = await call('PUT', 'admin/archive/account', body);
    expect(r.status).toBe(400);
    expect((r.body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
  }
  expect((await call('GET', 'admin/archive/account')).body).toEqual(before);
});

test('connect: terms, then a connection test, then on; the secret is sealed and never answered or logged', async () => {
  const wrong = await call('PUT', 'admin/archive/account', {
    network: 'O2',
    providerUrl: providerUrl(),
    username: ARCHIVE_ACCOUNT.username,
    password: 'not-the-password',
  });
  expect(wrong.body).toMatchObject({ authKind: 'password', enabled: false, connection: { state: 'notTested' } });
  expect((await call('PATCH', 'admin/archive/account', { enabled: true })).body.detail).toMatch(/Accept the terms of service first/);

  const accepted = await call('POST', 'admin/archive/terms', { accept: true });
  expect(accepted.body.terms).toMatchObject({ acceptedBy: expect.stringMatching(/^admin:/), acceptedAt: expect.any(String) });
  expect((await call('POST', 'admin/archive/terms', { accept: false })).status).toBe(400);
  expect((await call('PATCH', 'admin/archive/account', { enabled: true })).body.detail).toMatch(/Test the connection first/);

  const refused = await call('POST', 'admin/archive/account/test');
  expect(refused.body.connection).toMatchObject({ state: 'failed', detail: expect.stringMatching(/refused the username and password/) });
  expect((await call('PATCH', 'admin/archive/account', { enabled: true })).status).toBe(409);

  // The provider down: the test says so, with its status.
  await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  env.sandbox.archive.faults = { status: 503 };
  expect((await call('POST', 'admin/archive/account/test')).body.connection.detail).toMatch(/answered 503/);
  env.sandbox.archive.faults = {};

  const ok = await call('POST', 'admin/archive/account/test');
  expect(ok.body).toMatchObject({ authKind: 'apiKey', username: null, connection: { state: 'connected' } });
  expect(ok.body.terms.acceptedAt).toBe(accepted.body.terms.acceptedAt); // new details keep the accepted terms
  const on = await call('PATCH', 'admin/archive/account', { enabled: true });
  expect(on.body.enabled).toBe(true);
  expect((await call('GET', 'admin/connectors')).body.value.find((c: { id: string }) => c.id === 'archive').state).toBe('active');

  const stored = JSON.stringify((await tables.account.get('account', 'provider'))!.entity);
  for (const secret of [ARCHIVE_ACCOUNT.apiKey, ARCHIVE_ACCOUNT.password, 'not-the-password']) {
    expect(stored).not.toContain(secret);
    expect(JSON.stringify(on.body)).not.toContain(secret);
    expect(env.logs.join('\n')).not.toContain(secret);
  }
  // New details switch the import off until a test passes again.
  const changed = await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  expect(changed.body).toMatchObject({ enabled: false, connection: { state: 'notTested' } });
});

test('a mapping file with bad rows is refused row by row and changes nothing; a good one replaces the mapping in use', async () => {
  expect((await call('GET', 'admin/archive/mapping')).body).toMatchObject({ version: null, rows: 0 });
  const bad = await csv(
    [
      'External User ID,Microsoft 365 User Mailbox',
      '447700900101,adele@contoso-demo.example',
      '+447700900102,alex@contoso-demo.example',
      '447700900103,nobody@contoso-demo.example',
      '447700900101,diego@contoso-demo.example',
      '447700900104,not-an-address',
    ].join('\n'),
  );
  expect(bad.status).toBe(400);
  expect(bad.body.errors).toEqual([
    { field: 'line 3', message: expect.stringMatching(/'\+447700900102' is not a mobile number in international form without '\+'/) },
    { field: 'line 4', message: "no Microsoft 365 user has the mailbox 'nobody@contoso-demo.example'" },
    { field: 'line 5', message: 'number 447700900101 appears again (first on line 2); keep one row per number' },
    { field: 'line 6', message: "'not-an-address' is not a mailbox address" },
  ]);
  expect(bad.body.detail).toMatch(/4 problems in 5 rows; nothing changed/);
  expect((await call('GET', 'admin/archive/mapping')).body).toMatchObject({ version: null, rows: 0 });
  expect((await csv('Mobile,Mailbox\n447700900101,adele@contoso-demo.example')).body.detail).toMatch(/first line must be the header/);
  const wrongType = await call('PUT', 'admin/archive/mapping', Buffer.from('x'), { 'content-type': 'application/json' });
  expect(wrongType.status).toBe(415);

  const good = await csv(
    '\uFEFFExternal User ID,Microsoft 365 User Mailbox\r\n447700900101,Adele@contoso-demo.example\r\n447700900105,isaiah@contoso-demo.example\r\n',
  );
  expect(good.status).toBe(200);
  expect(good.body).toMatchObject({ rows: 2, uploadedBy: expect.stringMatching(/^admin:/) });
  const rows = (await call('GET', 'admin/archive/mapping/rows')).body.value as { externalUserId: string; mailbox: string }[];
  expect(rows.map((r) => [r.externalUserId, r.mailbox])).toEqual([
    ['447700900101', 'adele@contoso-demo.example'],
    ['447700900105', 'isaiah@contoso-demo.example'],
  ]);

  const again = await csv('External User ID,Microsoft 365 User Mailbox\n447700900102,alex@contoso-demo.example\n');
  expect(again.body).toMatchObject({ rows: 1 });
  expect(again.body.version).not.toBe(good.body.version);
  const all = await tables.mapping.list("PartitionKey ge 'v|' and PartitionKey lt 'v|~'");
  expect(all.map((r) => r.entity.rowKey)).toEqual(['447700900102']); // the replaced version's rows are gone

  expect((await call('DELETE', 'admin/archive/mapping')).status).toBe(204);
  expect((await call('GET', 'admin/archive/mapping')).body).toMatchObject({ version: null, rows: 0 });
  expect((await call('GET', 'admin/archive/mapping/rows')).body.value).toEqual([]);
});

test('the provider contract: a window read page by page with a cursor, attachments streamed intact (also from an offset), refusals typed', async () => {
  const source = httpSource({ providerUrl: providerUrl(), auth: { kind: 'apiKey', apiKey: ARCHIVE_ACCOUNT.apiKey } });
  env.sandbox.archive.seedDay('2026-10-01', { count: 450 });
  const window = { from: '2026-10-01T00:00:00Z', to: '2026-10-02T00:00:00Z' };
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await source.listItems(window, cursor);
    ids.push(...page.items.map((i) => i.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(3);
  expect(ids).toHaveLength(450);
  expect(new Set(ids).size).toBe(450);

  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const seeded = (
    await source.listItems({ from: `${day}T00:00:00Z`, to: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString() })
  ).items;
  const mms = seeded.find((i) => i.id.endsWith('-large-mms'))!;
  const video = mms.attachments[0];
  expect(video.size).toBe(15 * 1024 * 1024);
  const sha = async (stream: NodeJS.ReadableStream) => {
    const h = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      h.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { hex: h.digest('hex'), bytes };
  };
  expect(await sha(await source.openAttachment(mms.id, video.id))).toEqual({ hex: video.sha256, bytes: video.size });
  const tail = await sha(await source.openAttachment(mms.id, video.id, video.size - 1000));
  expect(tail.bytes).toBe(1000);

  const wrong = httpSource({ providerUrl: providerUrl(), auth: { kind: 'password', username: 'x', password: 'y' } });
  await expect(wrong.ping()).rejects.toMatchObject({ providerStatus: 401, transient: false });
  env.sandbox.archive.faults = { downUntil: new Date(Date.now() + 3_600_000).toISOString() };
  try {
    const down = await source.listItems(window).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(SourceError);
    expect(down).toMatchObject({ providerStatus: 503, transient: true });
  } finally {
    env.sandbox.archive.faults = {};
  }
});
