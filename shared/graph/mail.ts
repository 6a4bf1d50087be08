import { graph, GraphApiError, odataString } from './client';

/**
 * Mail through Graph (application permission Mail.Send). A tagged mail carries a named extended
 * property and is saved to the sender's Sent Items, so after an interrupted send the app can look
 * for it there instead of sending it twice (the approach Microsoft's Graph docs team recommends,
 * microsoftgraph/microsoft-graph-docs#3766).
 */
export const TAG_PROPERTY = 'String {6f1c8a52-3d0e-4b7a-9c41-5e2f7d8b9a10} Name IntuneConnectorsMailKey';

export interface MailOptions {
  cc?: string[];
  /** Images the HTML shows with `cid:<contentId>`. */
  inline?: { name: string; contentType: string; contentId: string; bytes: Buffer }[];
  /** Idempotency key: the mail is saved to Sent Items with it, for findSentMail. */
  tag?: string;
}

export async function sendMail(from: string, to: string[], subject: string, html: string, opts: MailOptions = {}): Promise<void> {
  const recipients = (list: string[]) => list.map((address) => ({ emailAddress: { address } }));
  const message: Record<string, unknown> = { subject, body: { contentType: 'HTML', content: html }, toRecipients: recipients(to) };
  if (opts.cc?.length) message.ccRecipients = recipients(opts.cc);
  if (opts.inline?.length) {
    message.attachments = opts.inline.map((f) => ({
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: f.name,
      contentType: f.contentType,
      contentId: f.contentId,
      isInline: true,
      contentBytes: f.bytes.toString('base64'),
    }));
  }
  if (opts.tag) message.singleValueExtendedProperties = [{ id: TAG_PROPERTY, value: opts.tag }];
  await graph().post(`/users/${encodeURIComponent(from)}/sendMail`, { message, saveToSentItems: !!opts.tag });
}

/** True when a mail sent with `tag` is in the sender's Sent Items. */
export async function findSentMail(from: string, tag: string): Promise<boolean> {
  const filter = `singleValueExtendedProperties/any(ep: ep/id eq ${odataString(TAG_PROPERTY)} and ep/value eq ${odataString(tag)})`;
  const page = await graph().get<{ value: unknown[] }>(`/users/${encodeURIComponent(from)}/mailFolders/sentitems/messages`, {
    $filter: filter,
    $select: 'id',
    $top: 1,
  });
  return page.value.length > 0;
}

/* ---------- importing items into mailboxes (application permission Mail.ReadWrite) ---------- */

/** The key every imported copy carries, so a retry finds the copy instead of creating a second. */
export const IMPORT_KEY_PROPERTY = 'String {0b3c6e1d-8f2a-4c5e-9d7b-a1e4f6c83d20} Name IntuneConnectorsImportKey';
/** PidTagMessageFlags: read (0x1), not unsent (0x8), so the item is received mail, not a draft. */
const FLAGS_PROPERTY = 'Integer 0x0E07';
const SUBMIT_TIME = 'SystemTime 0x0039';
const DELIVERY_TIME = 'SystemTime 0x0E06';
/** Attachments from this size go through an upload session (Graph's documented rule). */
export const UPLOAD_SESSION_FROM = 3 * 1024 * 1024;
/** Each chunk PUT to an upload session: 4 MiB, as production importers use. */
export const UPLOAD_CHUNK = 4 * 1024 * 1024;

const user = (mailbox: string) => `/users/${encodeURIComponent(mailbox)}`;

/** The id of the top-level folder `name` in the mailbox, created once however many workers ask at the same moment. */
export async function ensureMailFolder(mailbox: string, name: string): Promise<string> {
  const find = async () =>
    (
      await graph().get<{ value: { id: string }[] }>(`${user(mailbox)}/mailFolders`, {
        $filter: `displayName eq ${odataString(name)}`,
        $select: 'id',
      })
    ).value[0]?.id;
  const found = await find();
  if (found) return found;
  try {
    return (
      await graph().post<{ id: string }>(`${user(mailbox)}/mailFolders`, {
        '@odata.type': '#microsoft.graph.mailFolder',
        displayName: name,
      })
    ).id;
  } catch (e) {
    // Another worker created it first; the status of ErrorFolderExists varies (400 or 409): match the code.
    if (!(e instanceof GraphApiError && e.code === 'ErrorFolderExists')) throw e;
    const now = await find();
    if (!now) throw e;
    return now;
  }
}

export interface Participant {
  name: string;
  address: string;
}

export interface ImportItem {
  subject: string;
  html: string;
  from: Participant;
  to: Participant[];
  /** When the event happened (UTC): the item's sent and received time. */
  at: string;
  importKey: string;
  /** Attachments sent in the request that creates the item (those sentWithItem picks). */
  files?: FileToAttach[];
}

/** The copy imported with `key` in the folder, if there is one. */
export async function findImported(mailbox: string, folderId: string, key: string): Promise<string | undefined> {
  const page = await graph().get<{ value: { id: string }[] }>(`${user(mailbox)}/mailFolders/${encodeURIComponent(folderId)}/messages`, {
    $filter: `singleValueExtendedProperties/any(ep: ep/id eq ${odataString(IMPORT_KEY_PROPERTY)} and ep/value eq ${odataString(key)})`,
    $select: 'id',
    $top: 1,
  });
  return page.value[0]?.id;
}

/** Creates the item as received mail (not a draft), dated at the event: flags and dates can be set only at creation. */
export async function createImported(mailbox: string, folderId: string, item: ImportItem): Promise<string> {
  const recipient = (p: Participant) => ({
    '@odata.type': '#microsoft.graph.recipient',
    emailAddress: { name: p.name, address: p.address },
  });
  const created = await graph().post<{ id: string }>(`${user(mailbox)}/mailFolders/${encodeURIComponent(folderId)}/messages`, {
    '@odata.type': '#microsoft.graph.message',
    subject: item.subject,
    body: { contentType: 'HTML', content: item.html },
    from: recipient(item.from),
    sender: recipient(item.from),
    toRecipients: item.to.map(recipient),
    singleValueExtendedProperties: [
      [IMPORT_KEY_PROPERTY, item.importKey],
      [FLAGS_PROPERTY, '1'],
      [SUBMIT_TIME, item.at],
      [DELIVERY_TIME, item.at],
    ].map(([id, value]) => ({ '@odata.type': '#microsoft.graph.singleValueLegacyExtendedProperty', id, value })),
    ...(item.files?.length && {
      attachments: await Promise.all(
        item.files.map(async (f) => ({
          '@odata.type': '#microsoft.graph.fileAttachment',
          name: f.name,
          contentType: f.contentType,
          contentBytes: (await readAll(f)).toString('base64'),
        })),
      ),
    }),
  });
  return created.id;
}

/** The names of an item's attachments (to add only those a retry is missing). */
export async function listAttachmentNames(mailbox: string, folderId: string, messageId: string): Promise<string[]> {
  const all = await graph().all<{ name: string }>(
    `${user(mailbox)}/mailFolders/${encodeURIComponent(folderId)}/messages/${encodeURIComponent(messageId)}/attachments`,
    { $select: 'name' },
  );
  return all.map((a) => a.name);
}

/**
 * Graph's cap on a request body ("4 MB", taken as the smaller reading, 4,000,000 bytes), and room
 * for the JSON around a message's body and around each attachment.
 */
const MAX_REQUEST_BYTES = 4_000_000;
const MESSAGE_JSON_BYTES = 4096;
const ATTACHMENT_JSON_BYTES = 1024;
const base64Bytes = (size: number) => Math.ceil(size / 3) * 4;

/**
 * The attachments (by index) sent in the request that creates the item, as Graph allows: those
 * under 3 MB, in order, while the request stays under its 4 MB cap. The others are attached after
 * (attachFile): one request less per small attachment, and the item is whole when it first appears.
 */
export function sentWithItem(html: string, attachmentSizes: number[]): number[] {
  let body = Buffer.byteLength(JSON.stringify(html)) + MESSAGE_JSON_BYTES;
  const chosen: number[] = [];
  attachmentSizes.forEach((size, i) => {
    const more = base64Bytes(size) + ATTACHMENT_JSON_BYTES;
    if (size < UPLOAD_SESSION_FROM && body + more <= MAX_REQUEST_BYTES) {
      chosen.push(i);
      body += more;
    }
  });
  return chosen;
}

/**
 * The Graph requests and request-body bytes importing a new copy of an item takes (looked for,
 * created with the attachments sentWithItem picks, the others attached), for pacing. Completing a
 * copy found without all its attachments takes a request more per attachment; those wait for their
 * own room.
 */
export function importCost(html: string, attachmentSizes: number[]): { requests: number; bytes: number } {
  const withItem = new Set(sentWithItem(html, attachmentSizes));
  let requests = 2;
  let bytes = Buffer.byteLength(JSON.stringify(html)) + MESSAGE_JSON_BYTES;
  attachmentSizes.forEach((size, i) => {
    const session = size >= UPLOAD_SESSION_FROM;
    if (!withItem.has(i)) requests += session ? 1 + Math.ceil(size / UPLOAD_CHUNK) : 1;
    bytes += (session ? size : base64Bytes(size)) + ATTACHMENT_JSON_BYTES;
  });
  return { requests, bytes };
}

export interface FileToAttach {
  name: string;
  contentType: string;
  size: number;
  /** The bytes from the start, as a stream (read once per try). */
  open(): Promise<AsyncIterable<Uint8Array> | Iterable<Uint8Array>>;
}

/**
 * Attaches a file to an imported item: inline under 3 MB, otherwise through an upload session in
 * 4 MiB chunks read from the stream as they go (never the whole file in memory). A chunk that fails
 * cancels the session; the caller tries the whole attachment again.
 */
export async function attachFile(mailbox: string, folderId: string, messageId: string, file: FileToAttach): Promise<void> {
  const at = `${user(mailbox)}/mailFolders/${encodeURIComponent(folderId)}/messages/${encodeURIComponent(messageId)}/attachments`;
  if (file.size < UPLOAD_SESSION_FROM) {
    await graph().post(at, {
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: file.name,
      contentType: file.contentType,
      contentBytes: (await readAll(file)).toString('base64'),
    });
    return;
  }
  const session = await graph().post<{ uploadUrl: string }>(`${at}/createUploadSession`, {
    AttachmentItem: { attachmentType: 'file', name: file.name, size: file.size, contentType: file.contentType },
  });
  try {
    await uploadChunks(mailbox, session.uploadUrl, file);
  } catch (e) {
    await graph()
      .preauthenticated(mailbox, session.uploadUrl, { method: 'DELETE' })
      .catch(() => undefined);
    throw e;
  }
}

/** A small file's bytes (under 3 MB: it goes in one request, base64). */
async function readAll(file: FileToAttach): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const p of await file.open()) pieces.push(Buffer.from(p));
  return Buffer.concat(pieces);
}

async function uploadChunks(mailbox: string, url: string, file: FileToAttach): Promise<void> {
  let sent = 0;
  // One chunk buffer, filled from the stream and sent as it fills: memory stays at one chunk.
  const chunk = Buffer.allocUnsafe(Math.min(UPLOAD_CHUNK, file.size));
  let filled = 0;
  const put = async (length: number) => {
    const res = await graph().preauthenticated(mailbox, url, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${sent}-${sent + length - 1}/${file.size}`, 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(chunk.buffer, chunk.byteOffset, length),
    });
    const text = await res.text();
    const answer = parse(text);
    // A chunk re-sent after an answer was lost is refused as out of range, though it arrived: the session says so.
    const resumed = res.status === 416 && answer.nextExpectedRanges?.[0]?.startsWith(`${sent + length}-`);
    if (!res.ok && !resumed) {
      const retryAfter = Number(res.headers.get('retry-after') ?? 0);
      throw new GraphApiError(
        res.status,
        answer.error?.code ?? 'UploadFailed',
        answer.error?.message ?? text.slice(0, 200),
        undefined,
        retryAfter || undefined,
      );
    }
    sent += length;
  };
  for await (const piece of await file.open()) {
    let p = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (p.length) {
      const take = Math.min(p.length, chunk.length - filled);
      p.copy(chunk, filled, 0, take);
      filled += take;
      p = p.subarray(take);
      if (filled === chunk.length) {
        await put(filled);
        filled = 0;
      }
    }
  }
  if (filled) await put(filled);
  if (sent !== file.size) throw new GraphApiError(400, 'SizeMismatch', `The file had ${sent} bytes, not the ${file.size} announced.`);
}

/** An upload session's answer: its next ranges, or Graph's error. */
function parse(text: string): { nextExpectedRanges?: string[]; error?: { code?: string; message?: string } } {
  try {
    return JSON.parse(text) as ReturnType<typeof parse>;
  } catch {
    return {};
  }
}
