import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { ARCHIVE_ACCOUNT } from '../../dev/sandbox/providers/archive';
import { sourceItem, tables } from '../../shared/archive/model';
import { attachmentBlob, itemBlob, openStaged, stagedItem, stageItem, staging } from '../../shared/archive/staging';
import { httpSource, SourceError } from '../../shared/archive/source';
import { mailSettings } from '../../dev/sandbox/graph/mail';
import { stableId } from '../../dev/sandbox/seed';
import { adminCaller, eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';
import { purgeImports, requestImport } from '../../shared/archive/importer';
import { setClock } from '../../shared/platform/clock';
import { getRun } from '../../shared/platform/runs';

/**
 * The network archive's provider account and user mapping, through the admin API against the local
 * host, Azurite, the sandbox tenant and its TeleMessage-style provider.
 */
jest.setTimeout(120_000);

let env: TestEnv;
let api: string;
let call: ReturnType<typeof adminCaller>;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json') });
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

test('staging copies each attachment once, checked against its SHA-256 on the way (the 100 MB recording included); bad bytes leave nothing staged', async () => {
  let opened = 0;
  const source = () => {
    opened++;
    return Promise.resolve(httpSource({ providerUrl: providerUrl(), auth: { kind: 'apiKey', apiKey: ARCHIVE_ACCOUNT.apiKey } }));
  };
  const voice = env.sandbox.archive.items.find((i) => i.id.endsWith('-large-voice'))!;
  const item = sourceItem.parse(voice);
  const before = env.sandbox.archive.stats.attachmentBytes;
  expect(await stageItem(source, item)).toEqual({ copiedBytes: 100 * 1024 * 1024, reused: 0 });
  const h = createHash('sha256');
  for await (const chunk of await openStaged(item.id, item.attachments[0].id)) h.update(chunk as Buffer);
  expect(h.digest('hex')).toBe(item.attachments[0].sha256);
  expect(await stagedItem(item.id)).toEqual(item);

  // Staged again (a redelivered message, a re-run): nothing is copied twice, and the provider not even asked.
  expect(await stageItem(source, item)).toEqual({ copiedBytes: 0, reused: 1 });
  expect(env.sandbox.archive.stats.attachmentBytes - before).toBe(100 * 1024 * 1024);
  expect(opened).toBe(1);

  // The provider describes bytes other than those it sends: the stage fails and leaves nothing.
  const mms = sourceItem.parse(env.sandbox.archive.items.find((i) => i.type === 'MMS' && !i.id.includes('large'))!);
  const lying = { ...mms, id: `${mms.id}-x`, attachments: [{ ...mms.attachments[0], sha256: 'f'.repeat(64) }] };
  env.sandbox.archive.items.push({ ...lying, attachments: [{ ...mms.attachments[0] }] });
  await expect(stageItem(source, lying)).rejects.toThrow(/arrived with .* SHA-256/);
  expect(await staging.properties(attachmentBlob(lying.id, lying.attachments[0].id))).toBeUndefined();
  expect(await stagedItem(lying.id)).toBeUndefined();
});

describe('the import', () => {
  const FOLDER = 'O2 SMS and Voice Network Archiver';
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const window = { from: `${yesterday}T00:00:00.000Z`, to: new Date(Date.parse(`${yesterday}T00:00:00Z`) + 86_400_000).toISOString() };
  interface Run {
    state: string;
    counters: Record<string, number>;
    progress: { done: number; total: number | null };
    outcome: { summary: string | null };
    error: string | null;
  }
  const importAndWait = async (body: object = window) => {
    const asked = await call('POST', 'admin/archive/import', body);
    expect(asked.status).toBe(202);
    const id = asked.body.runId as string;
    const run = await eventually(
      async () => {
        const r = (await call('GET', `admin/runs/${id}`)).body as Run;
        return r.state === 'running' || r.state === 'queued' ? undefined : r;
      },
      90_000,
      'import to end',
    );
    return { id, run };
  };
  const inWindow = () => env.sandbox.archive.items.filter((i) => i.timestampUtc >= window.from && i.timestampUtc < window.to);
  const folderItems = (user: string) => {
    const uid = stableId(`user:${user}`);
    const folder = [...env.sandbox.store.table(`mailFolders:${uid}`).values()].find((f) => f.displayName === FOLDER);
    return folder ? [...env.sandbox.store.table(`messages:${uid}`).values()].filter((m) => m.parentFolderId === folder.id) : [];
  };
  const attachmentsOf = (user: string, messageId: string) =>
    [...env.sandbox.store.table(`attachments:${stableId(`user:${user}`)}`).values()].filter((a) => a.messageId === messageId);
  const invariant = (c: Record<string, number>) =>
    expect(c.imported + c.partiallyImported + c.skipped + c.failed).toBe(c.itemsAvailableForImport);

  beforeAll(async () => {
    await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
    await call('POST', 'admin/archive/account/test');
    // Isaiah is registered with the provider under an old address: only the CSV maps him.
    await csv('External User ID,Microsoft 365 User Mailbox\n447700900105,isaiah@contoso-demo.example\n');
  });

  let firstRun = '';
  test('a day is imported into every mapped participant\u2019s mailbox, as received mail dated at the event, attachments intact; the counters add up', async () => {
    const { id, run } = await importAndWait();
    firstRun = id;
    expect(run.state).toBe('succeeded');
    const c = run.counters;
    expect(c.itemsAvailableFromSource).toBe(inWindow().length);
    const copies = inWindow().reduce((n, i) => n + new Set([i.from.mobile, ...i.to.map((t) => t.mobile)]).size, 0);
    expect(c.itemsAvailableForImport).toBe(copies);
    invariant(c);
    // The outside number has no mailbox; the 100 MB recording is over the mailboxes' default 35 MB: both fail, with their reasons.
    const outsiderCopies = inWindow().filter((i) => [i.from, ...i.to].some((p) => p.email === null)).length;
    expect(c.failed).toBe(outsiderCopies + 2);
    expect(c.imported).toBe(copies - c.failed);
    expect(run.progress).toEqual({ done: inWindow().length, total: inWindow().length });
    const bytes = inWindow().reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0);
    expect(c).toMatchObject({ bytesDone: bytes, bytesTotal: bytes });

    const adele = folderItems('adele');
    expect(adele.length).toBeGreaterThan(0);
    expect(adele.every((m) => m.isDraft === false)).toBe(true);
    const times = new Set(inWindow().map((i) => i.timestampUtc));
    expect(adele.every((m) => times.has(String(m.receivedDateTime)) && m.sentDateTime === m.receivedDateTime)).toBe(true);
    const mms = inWindow().find((i) => i.id.endsWith('-large-mms'))!;
    for (const user of ['adele', 'alex']) {
      const copy = folderItems(user).find((m) => m.receivedDateTime === mms.timestampUtc)!;
      expect(attachmentsOf(user, copy.id).map((a) => a.sha256)).toEqual([mms.attachments[0].sha256]);
    }
    expect(folderItems('isaiah').length).toBeGreaterThan(0); // mapped by the CSV

    const failed = (await call('GET', `admin/archive/import/${id}/failures`)).body.value as { reason: string; mailbox: string | null }[];
    expect(failed.filter((f) => f.reason.startsWith('user mapping'))).toHaveLength(outsiderCopies);
    expect(
      failed
        .filter((f) => f.reason.startsWith('item size exceeded'))
        .map((f) => f.mailbox)
        .sort(),
    ).toEqual(['adele@contoso-demo.example', 'alex@contoso-demo.example']);
    const download = await fetch(`${api}/admin/archive/import/${id}/failures.csv`, {
      headers: { Authorization: `Bearer ${await env.token('admin-archive-read')}` },
    });
    expect(download.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await download.text()).trim().split('\r\n');
    expect(lines[0]).toBe('Item id,Source User ID,M365 User ID,Failure Reason');
    expect(lines).toHaveLength(failed.length + 1);
    expect(env.logs.filter((l) => l.includes('not mapped to a Microsoft 365 user') && l.includes(id))).toHaveLength(1); // once per user per run
  });

  test('the same day again adds nothing: every copy already there counts as skipped; once the mailboxes take 150 MB, replaying the first import brings the recording in', async () => {
    const before = folderItems('adele').length;
    const { run } = await importAndWait();
    expect(run.counters.imported).toBe(0);
    expect(run.counters.skipped).toBe(run.counters.itemsAvailableForImport - run.counters.failed);
    invariant(run.counters);
    expect(folderItems('adele')).toHaveLength(before);

    mailSettings.maxItemBytes = 150 * 1024 * 1024;
    try {
      const replay = await call('POST', `admin/archive/import/${firstRun}/replay`);
      expect(replay.status).toBe(202);
      const third = await eventually(
        async () => {
          const r = (await call('GET', `admin/runs/${replay.body.runId}`)).body as Run & { subject: string };
          return r.state === 'running' || r.state === 'queued' ? undefined : r;
        },
        90_000,
        'replay to end',
      );
      expect(third).toMatchObject({ state: 'succeeded', subject: `replay:${firstRun}` });
      invariant(third.counters);
      expect(third.counters.imported).toBe(2); // the recording, in both mailboxes
      // Only the failed items were replayed; they still fail for the participant with no mailbox.
      expect(
        (await call('GET', `admin/archive/import/${replay.body.runId}/failures`)).body.value.every((f: { reason: string }) =>
          f.reason.startsWith('user mapping'),
        ),
      ).toBe(true);
      expect((await call('POST', `admin/archive/import/${replay.body.runId}/replay`)).status).toBe(202); // the mapping failures remain
      expect((await call('POST', 'admin/archive/import/0000000000000-nothing/replay')).status).toBe(404);
      const voice = inWindow().find((i) => i.id.endsWith('-large-voice'))!;
      for (const user of ['adele', 'alex']) {
        const copy = folderItems(user).find((m) => m.receivedDateTime === voice.timestampUtc)!;
        expect(attachmentsOf(user, copy.id).map((a) => [a.size, a.sha256])).toEqual([
          [voice.attachments[0].size, voice.attachments[0].sha256],
        ]);
      }
    } finally {
      mailSettings.maxItemBytes = 35 * 1024 * 1024;
    }
  });

  test('records and staged copies older than RUN_KEEP_DAYS are purged; newer ones stay', async () => {
    expect((await call('GET', `admin/archive/import/${firstRun}/failures`)).body.value.length).toBeGreaterThan(0);
    expect(await purgeImports()).toEqual({ records: 0, staged: 0 }); // nothing is 90 days old
    setClock(() => Date.now() + 91 * 86_400_000);
    try {
      const purged = await purgeImports();
      expect(purged.records).toBeGreaterThan(0);
      expect(purged.staged).toBeGreaterThan(0);
    } finally {
      setClock();
    }
    expect((await call('GET', `admin/archive/import/${firstRun}/failures`)).body.value).toEqual([]);
    expect(await staging.properties(itemBlob(inWindow()[0].id))).toBeUndefined();
  });

  test('a window with no items says so; a bad window is refused', async () => {
    const { run } = await importAndWait({ from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' });
    expect(run).toMatchObject({ state: 'succeeded', progress: { done: 0, total: 0 } });
    expect(run.outcome.summary).toMatch(/^No items ingested between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z/);
    expect((await call('POST', 'admin/archive/import', { from: '2020-01-02T00:00:00Z', to: '2020-01-01T00:00:00Z' })).status).toBe(400);
    expect((await call('POST', 'admin/archive/import', { from: '2020-01-01T00:00:00Z', to: '2020-03-01T00:00:00Z' })).status).toBe(400);
  });
});

test('the provider down for a night: that run fails and leaves the checkpoint; the next imports both days, with no gap and no overlap', async () => {
  await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  expect((await call('POST', 'admin/archive/account/test')).body.connection.state).toBe('connected');
  const [d1, d2, d3] = ['2026-09-01', '2026-09-02', '2026-09-03'];
  for (const day of [d1, d2, d3]) env.sandbox.archive.seedDay(day, { count: 5 });
  const at = (day: string) => Date.parse(`${day}T00:00:00Z`) + 86_400_000; // midnight after the day
  const scheduled = async (now: number) => {
    setClock(() => now);
    try {
      const { id } = await requestImport('schedule');
      return await eventually(
        async () => {
          const r = await getRun(id);
          return r.state === 'running' || r.state === 'queued' ? undefined : r;
        },
        90_000,
        'scheduled import to end',
      );
    } finally {
      setClock();
    }
  };
  await tables.checkpoint.delete('checkpoint', 'provider');
  const first = await scheduled(at(d1)); // no checkpoint yet: the last 24 hours
  expect(first).toMatchObject({ state: 'succeeded', counters: { itemsAvailableFromSource: 5 } });
  expect((await tables.checkpoint.get('checkpoint', 'provider'))!.entity.completedTo).toBe(new Date(at(d1)).toISOString());

  env.sandbox.archive.faults = { status: 503 };
  try {
    const down = await scheduled(at(d2));
    expect(down.state).toBe('failed');
    expect(down.error).toMatch(/archive provider answered 503/);
  } finally {
    env.sandbox.archive.faults = {};
  }
  expect((await tables.checkpoint.get('checkpoint', 'provider'))!.entity.completedTo).toBe(new Date(at(d1)).toISOString());

  const next = await scheduled(at(d3));
  expect(next).toMatchObject({ state: 'succeeded', counters: { itemsAvailableFromSource: 10 } }); // d2 and d3, each item once
  expect(next.outcome).toMatchObject({ window: { from: new Date(at(d1)).toISOString(), to: new Date(at(d3)).toISOString() } });
  expect((await tables.checkpoint.get('checkpoint', 'provider'))!.entity.completedTo).toBe(new Date(at(d3)).toISOString());
});

/** The run, once it has ended. */
const ended = (runId: string) =>
  eventually(
    async () => {
      const r = await getRun(runId);
      return r.state === 'running' || r.state === 'queued' ? undefined : r;
    },
    90_000,
    'import to end',
  );

test('Graph answering 504 after committing a tenth of the creates leaves no duplicate: each retried copy is found by its key and counted once', async () => {
  await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  await call('POST', 'admin/archive/account/test');
  const day = '2026-08-15';
  env.sandbox.archive.seedDay(day, { count: 20 });
  const mailboxes = () => [...env.sandbox.store.table('users').keys()].map((id) => env.sandbox.store.table(`messages:${id}`));
  const before = mailboxes().map((m) => m.size);
  env.sandbox.graph.setFaults([{ method: 'POST', path: '/mailFolders/[^/]+/messages$', status: 504, rate: 0.1, afterEffect: true }], 7);
  try {
    const asked = await call('POST', 'admin/archive/import', { from: `${day}T00:00:00Z`, to: `${day}T23:59:59Z` });
    const run = await ended(asked.body.runId as string);
    expect(env.sandbox.graph.stats.faultsInjected).toBeGreaterThan(0);
    const c = run.counters;
    expect(run.state).toBe('succeeded');
    expect(c.imported + c.skipped + c.failed + c.partiallyImported).toBe(c.itemsAvailableForImport);
    expect(c.skipped).toBe(0); // nothing was there before this run: a copy it made and found again is imported, once
    // One message per item and participant: as many new messages as copies imported.
    const added = mailboxes().reduce((n, m, i) => n + m.size - before[i], 0);
    expect(added).toBe(c.imported);
    const keys = mailboxes().flatMap((box, i) =>
      [...box.values()]
        .map(
          (m) =>
            (m.singleValueExtendedProperties as { id: string; value: string }[] | undefined)?.find((p) => p.id.endsWith('ImportKey'))
              ?.value,
        )
        .filter(Boolean)
        .map((k) => `${i}|${k}`),
    );
    expect(new Set(keys).size).toBe(keys.length);
  } finally {
    env.sandbox.graph.setFaults([]);
  }
});

test('a tally that keeps failing (here on a record it cannot read) ends the run as failed instead of leaving it running', async () => {
  await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  expect((await call('POST', 'admin/archive/account/test')).body.connection.state).toBe('connected');
  const day = '2026-09-10';
  env.sandbox.archive.seedDay(day, { count: 3 });
  const { id } = await requestImport('test', { from: `${day}T00:00:00.000Z`, to: `${day}T23:59:59.000Z` });
  await tables.items.upsert({ partitionKey: `run|${id}`, rowKey: 'unreadable', status: 'done', copies: '{not json' }, 'merge');
  const run = await ended(id);
  expect(run.state).toBe('failed');
  expect(run.error).toMatch(/JSON/);
});

test('a running import shows its progress in items and in attachment bytes, done of planned, all along', async () => {
  await call('PUT', 'admin/archive/account', { providerUrl: providerUrl(), apiKey: ARCHIVE_ACCOUNT.apiKey });
  await call('POST', 'admin/archive/account/test');
  const day = '2026-08-20';
  // More items than the tally watches to the end in one go (20), each create taking a second: the run
  // lasts several tallies, and each tally records the progress while items are still queued.
  const items = env.sandbox.archive.seedDay(day, { count: 48 });
  const bytes = items.reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0);
  env.sandbox.graph.setFaults([{ method: 'POST', path: '/mailFolders/[^/]+/messages$', latencyMs: 1000 }]);
  try {
    const asked = await call('POST', 'admin/archive/import', { from: `${day}T00:00:00Z`, to: `${day}T23:59:59Z` });
    const midway = new Map<number, Awaited<ReturnType<typeof getRun>>>();
    const run = await eventually(
      async () => {
        const r = await getRun(asked.body.runId as string);
        // A tally records the last count just before it ends the run: only counts short of the total are midway.
        if (r.state === 'running' && r.counters.bytesTotal && r.progress.done < items.length) midway.set(r.progress.done, r);
        return r.state === 'running' || r.state === 'queued' ? undefined : r;
      },
      90_000,
      'import to end',
    );
    // Several tallies were seen before the end (a tally queued behind the items would come only at the end).
    expect(midway.size).toBeGreaterThanOrEqual(2);
    for (const r of midway.values()) {
      expect(r.progress.total).toBe(items.length);
      expect(r.counters.bytesTotal).toBe(bytes);
      expect(r.counters.bytesDone).toBeLessThanOrEqual(bytes);
    }
    expect(run.progress).toEqual({ done: items.length, total: items.length });
    expect(run.counters).toMatchObject({ bytesDone: bytes, bytesTotal: bytes });
  } finally {
    env.sandbox.graph.setFaults([]);
  }
});
