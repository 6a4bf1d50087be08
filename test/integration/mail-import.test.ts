import { createHash } from 'node:crypto';
import { attachmentBytes } from '../../dev/sandbox/providers/archive';
import { mailSettings } from '../../dev/sandbox/graph/mail';
import { mailboxLimits, mailboxThrottle } from '../../dev/sandbox/graph/throttle';
import { stableId } from '../../dev/sandbox/seed';
import { GraphApiError } from '../../shared/graph/client';
import {
  attachFile,
  createImported,
  ensureMailFolder,
  findImported,
  importCost,
  sentWithItem,
  type FileToAttach,
} from '../../shared/graph/mail';
import { startEnv, type TestEnv } from '../helpers/env';

/**
 * Importing items into mailboxes through Graph, against the sandbox's Exchange: the folder created
 * once, items created as received mail with their dates and import key, attachments inline and
 * through upload sessions, and Exchange's limits.
 */
jest.setTimeout(120_000);

let env: TestEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const MB = 1024 * 1024;
// Each test its own mailbox: Outlook's upload allowance is per mailbox.
let MAILBOX = 'adele@contoso-demo.example';
const FOLDER = 'O2 SMS and Voice Network Archiver';
const stored = (kind: 'mailFolders' | 'messages' | 'attachments') => [
  ...env.sandbox.store.table(`${kind}:${stableId(`user:${MAILBOX.split('@')[0]}`)}`).values(),
];
const generated = (id: string, size: number, name = `${id}.bin`): FileToAttach & { sha256: string } => {
  const h = createHash('sha256');
  for (const p of attachmentBytes(id, size, 0, 4 * MB)) h.update(p);
  return {
    name,
    contentType: 'application/octet-stream',
    size,
    sha256: h.digest('hex'),
    open: () => Promise.resolve(attachmentBytes(id, size, 0, 64 * 1024)),
  };
};
const item = (key: string, at = '2026-11-29T10:15:00.000Z') => ({
  subject: 'SMS from Alex Wilber 447700900102',
  html: '<p>See you at 10:00.</p>',
  from: { name: 'Alex Wilber 447700900102', address: 'alex@contoso-demo.example' },
  to: [{ name: 'Adele Vance 447700900101', address: MAILBOX }],
  at,
  importKey: key,
});

test('the archive folder is created once, however many workers ask at the same moment, whatever status ErrorFolderExists has', async () => {
  const ids = await Promise.all(Array.from({ length: 8 }, () => ensureMailFolder(MAILBOX, FOLDER)));
  expect(new Set(ids).size).toBe(1);
  expect(stored('mailFolders').filter((f) => f.displayName === FOLDER)).toHaveLength(1);
  mailSettings.folderExistsStatus = 400;
  try {
    const other = await Promise.all(Array.from({ length: 4 }, () => ensureMailFolder(MAILBOX, 'Second archive')));
    expect(new Set(other).size).toBe(1);
  } finally {
    mailSettings.folderExistsStatus = 409;
  }
});

test('an item is created as received mail, dated at the event, and found again by its import key', async () => {
  const folder = await ensureMailFolder(MAILBOX, FOLDER);
  expect(await findImported(MAILBOX, folder, 'key-1')).toBeUndefined();
  const id = await createImported(MAILBOX, folder, item('key-1'));
  expect(await findImported(MAILBOX, folder, 'key-1')).toBe(id);
  expect(await findImported(MAILBOX, folder, 'key-2')).toBeUndefined();
  const m = stored('messages').find((x) => x.id === id)!;
  expect(m).toMatchObject({
    parentFolderId: folder,
    isDraft: false,
    isRead: true,
    receivedDateTime: '2026-11-29T10:15:00.000Z',
    sentDateTime: '2026-11-29T10:15:00.000Z',
    subject: 'SMS from Alex Wilber 447700900102',
    from: { emailAddress: { name: 'Alex Wilber 447700900102', address: 'alex@contoso-demo.example' } },
  });
});

test('attachments arrive intact: under 3 MB inline, larger through an upload session in 4 MiB chunks, a 100 MB recording included', async () => {
  mailSettings.maxItemBytes = 150 * MB;
  try {
    const folder = await ensureMailFolder(MAILBOX, FOLDER);
    // An MMS with a photo and a video, and a call with its recording (150 MB of MIME holds about 112 MB of files).
    const mms = await createImported(MAILBOX, folder, item('key-mms'));
    const call = await createImported(MAILBOX, folder, item('key-call'));
    const files = [
      generated('photo', 200_000, 'photo.jpg'),
      generated('video', 15 * MB, 'survey.mp4'),
      generated('call', 100 * MB, 'call.mp3'),
    ];
    env.sandbox.graph.resetStats();
    await attachFile(MAILBOX, folder, mms, files[0]);
    await attachFile(MAILBOX, folder, mms, files[1]);
    await attachFile(MAILBOX, folder, call, files[2]);
    const got = stored('attachments').filter((a) => a.messageId === mms || a.messageId === call);
    expect(got.map((a) => [a.name, a.size, a.sha256])).toEqual(files.map((f) => [f.name, f.size, f.sha256]));
    expect(stored('messages').find((x) => x.id === call)!.hasAttachments).toBe(true);
    const routes = env.sandbox.graph.stats.byRoute;
    expect(
      Object.entries(routes)
        .filter(([r]) => r.endsWith('/createUploadSession'))
        .reduce((n, [, v]) => n + v, 0),
    ).toBe(2);
  } finally {
    mailSettings.maxItemBytes = 35 * MB;
  }
});

test('attachments under 3 MB go in the request creating the item while it stays under 4 MB; the rest are attached after', async () => {
  MAILBOX = 'adele@contoso-demo.example';
  const folder = await ensureMailFolder(MAILBOX, FOLDER);
  const files = [generated('with-1', 2.5 * MB, 'a.jpg'), generated('with-2', 700_000, 'b.jpg'), generated('with-3', 300_000, 'c.jpg')];
  // 2.5 MB and 300 kB fit one request in base64 (3.9 MB with the message); 700 kB more would pass 4 MB.
  const chosen = sentWithItem(
    item('x').html,
    files.map((f) => f.size),
  );
  expect(chosen).toEqual([0, 2]);
  expect(
    importCost(
      item('x').html,
      files.map((f) => f.size),
    ).requests,
  ).toBe(3); // looked for, created, one attached
  expect(sentWithItem(item('x').html, [3 * MB, 100])).toEqual([1]); // from 3 MB a file goes through an upload session
  env.sandbox.graph.resetStats();
  const id = await createImported(MAILBOX, folder, { ...item('key-with'), files: chosen.map((i) => files[i]) });
  await attachFile(MAILBOX, folder, id, files[1]);
  const got = stored('attachments').filter((a) => a.messageId === id);
  expect(got.map((a) => [a.name, a.size, a.sha256]).sort()).toEqual(files.map((f) => [f.name, f.size, f.sha256]).sort());
  expect(stored('messages').find((x) => x.id === id)!.hasAttachments).toBe(true);
  expect(env.sandbox.graph.stats.requests).toBe(2);
  // A bad attachment in the create is refused, and nothing is created.
  const bad = { ...item('key-bad'), files: [{ ...files[2], name: '' }] };
  await expect(createImported(MAILBOX, folder, bad)).rejects.toMatchObject({ graphStatus: 400 });
  expect(await findImported(MAILBOX, folder, 'key-bad')).toBeUndefined();
});

test("an item larger than the mailbox accepts fails with Exchange's code; raising the limit lets it in", async () => {
  MAILBOX = 'alex@contoso-demo.example';
  const folder = await ensureMailFolder(MAILBOX, FOLDER);
  const id = await createImported(MAILBOX, folder, item('key-too-big'));
  const big = generated('too-big', 40 * MB);
  const refused = await attachFile(MAILBOX, folder, id, big).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(GraphApiError);
  expect(refused).toMatchObject({ code: 'ErrorMessageSizeExceeded', transient: false });
  mailSettings.maxItemBytes = 60 * MB;
  try {
    await attachFile(MAILBOX, folder, id, big);
    expect(stored('attachments').find((a) => a.messageId === id)?.sha256).toBe(big.sha256);
  } finally {
    mailSettings.maxItemBytes = 35 * MB;
  }
});

test("Outlook's per-mailbox upload allowance is waited out (Retry-After); a request body over 4 MB is refused as Graph does", async () => {
  MAILBOX = 'diego@contoso-demo.example';
  const folder = await ensureMailFolder(MAILBOX, FOLDER);
  const id = await createImported(MAILBOX, folder, item('key-throttled'));
  Object.assign(mailboxLimits, { uploadBytes: 8 * MB, uploadWindowMs: 1500 });
  try {
    const f = generated('throttled', 12 * MB);
    const started = Date.now();
    await attachFile(MAILBOX, folder, id, f);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // it waited for the window
    expect(stored('attachments').find((a) => a.messageId === id)?.sha256).toBe(f.sha256);
  } finally {
    mailboxThrottle.reset();
  }
  const huge = { ...item('key-huge'), html: `<p>${'x'.repeat(5 * MB)}</p>` };
  await expect(createImported(MAILBOX, folder, huge)).rejects.toMatchObject({
    graphStatus: 400,
    graphMessage: expect.stringMatching(/4MB/),
  });
  expect(await findImported(MAILBOX, folder, 'key-huge')).toBeUndefined();
});

test("over a mailbox's request budget the client holds that mailbox for Retry-After: every request lands, few are refused", async () => {
  MAILBOX = 'megan@contoso-demo.example';
  const key = stableId('user:megan');
  mailboxThrottle.reset();
  Object.assign(mailboxLimits, { requests: 10, requestWindowMs: 2000 });
  try {
    const started = Date.now();
    const folder = await ensureMailFolder(MAILBOX, FOLDER);
    await Promise.all(Array.from({ length: 28 }, (_, i) => findImported(MAILBOX, folder, `key-budget-${i}`)));
    const use = mailboxThrottle.usage.get(key)!;
    expect(use.requests).toBe(30); // the folder's lookup and creation, and 28 lookups
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000); // 30 requests at 10 per 2 s need three windows
    // At most the 4 requests in flight when a window fills are refused; each of the 20 beyond the
    // budget would be refused at least once if every request waited out its own Retry-After.
    expect(use.throttled).toBeLessThanOrEqual(8);
  } finally {
    mailboxThrottle.reset();
  }
});

test('an upload session URL is a credential: a throttled chunk is retried without the URL reaching a log line', async () => {
  MAILBOX = 'alex@contoso-demo.example';
  const folder = await ensureMailFolder(MAILBOX, FOLDER);
  const id = await createImported(MAILBOX, folder, item('key-url'));
  Object.assign(mailboxLimits, { uploadBytes: 5 * MB, uploadWindowMs: 1000 });
  const logged: string[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((line: string) => void logged.push(line));
  try {
    await attachFile(MAILBOX, folder, id, generated('url', 9 * MB));
  } finally {
    warn.mockRestore();
    mailboxThrottle.reset();
  }
  const lines = logged.join('\n');
  expect(lines).toContain('(upload session URL)');
  expect(lines).not.toMatch(/\/upload\/outlook\//);
});
