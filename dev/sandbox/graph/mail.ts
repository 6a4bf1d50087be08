import { createHash, randomBytes, randomUUID, type Hash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { GraphError, type Entity, type GraphContext, type GraphService } from './framework';
import { sandboxClock } from '../clock';
import { sendJson, type SandboxRequest } from '../http';
import { mailboxThrottle } from './throttle';

/**
 * Mailboxes: well-known and created folders, sendMail (whose messages land in an outbox tests can
 * read), and importing items: messages created with their flags, dates and extended properties,
 * attachments inline or through an upload session on a pre-authenticated URL, Exchange's limits.
 */

const MB = 1024 * 1024;
const MAIL_DEFAULTS = {
  /** Exchange files a sent mail's Sent Items copy asynchronously; this is how late (control API). */
  sentItemsDelayMs: 0,
  /** A mailbox's maximum item size, counted as MIME (base64 attachments, +33%); Exchange's default is 35 MB. */
  maxItemBytes: 35 * MB,
  /** The status of ErrorFolderExists: reports differ between 409 and 400 (match on the code). */
  folderExistsStatus: 409,
  /** How long an upload session's URL stays valid. */
  uploadSessionMs: 3_600_000,
};
export const mailSettings = { ...MAIL_DEFAULTS };
export const resetMailSettings = () => {
  sessions.clear();
  mailboxThrottle.reset();
  Object.assign(mailSettings, MAIL_DEFAULTS);
};

/** PidTagMessageFlags, PidTagClientSubmitTime, PidTagMessageDeliveryTime (MS-OXCMSG / MS-OXPROPS). */
const FLAGS = 'integer 0x0e07';
const SUBMITTED = 'systemtime 0x0039';
const DELIVERED = 'systemtime 0x0e06';
const MSGFLAG_READ = 0x1;
const MSGFLAG_UNSENT = 0x8;
const WELL_KNOWN = ['inbox', 'sentitems', 'drafts', 'archive', 'deleteditems'] as const;

function mailbox(ctx: GraphContext): Entity {
  const user = ctx.store.get('users', ctx.params['user-id']);
  if (!user.mail)
    throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
  return user;
}

export function folders(ctx: GraphContext, user: Entity): Map<string, Entity> {
  const table = ctx.store.table(`mailFolders:${user.id}`);
  if (table.size === 0) {
    for (const name of WELL_KNOWN) {
      const id = Buffer.from(`${user.id}:${name}`).toString('base64url');
      table.set(id, {
        '@odata.type': '#microsoft.graph.mailFolder',
        id,
        displayName:
          name === 'sentitems' ? 'Sent Items' : name === 'deleteditems' ? 'Deleted Items' : name[0].toUpperCase() + name.slice(1),
        parentFolderId: null,
        childFolderCount: 0,
        unreadItemCount: 0,
        totalItemCount: 0,
        isHidden: false,
        wellKnownName: name,
      });
    }
  }
  return table;
}

export function messages(ctx: GraphContext, user: Entity): Map<string, Entity> {
  return ctx.store.table(`messages:${user.id}`);
}

/** Attachments of a mailbox's messages: metadata, the SHA-256 of the content, the bytes when small. */
export function attachments(ctx: GraphContext, user: Entity): Map<string, Entity> {
  return ctx.store.table(`attachments:${user.id}`);
}

function folderOf(ctx: GraphContext, user: Entity): Entity {
  const key = ctx.params['mailFolder-id'];
  const folder = [...folders(ctx, user).values()].find((f) => f.id === key || f.wellKnownName === key.toLowerCase());
  if (!folder) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return folder;
}

function messageOf(ctx: GraphContext, user: Entity): Entity {
  const m = messages(ctx, user).get(ctx.params['message-id']);
  if (!m || (ctx.params['mailFolder-id'] && m.parentFolderId !== folderOf(ctx, user).id))
    throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return m;
}

/** A message as Graph answers it: extended properties only when $expand asks for them. */
function shown(ctx: GraphContext, m: Entity): Entity {
  if (/singleValueExtendedProperties/i.test(ctx.query.get('$expand') ?? '')) return m;
  const { singleValueExtendedProperties: _p, ...rest } = m;
  return rest;
}

/** The MIME size Exchange counts: the body, and each attachment base64-encoded. */
function itemSize(ctx: GraphContext, user: Entity, m: Entity, adding = 0): number {
  const body = JSON.stringify(m.body ?? '').length;
  const files = [...attachments(ctx, user).values()].filter((a) => a.messageId === m.id).reduce((n, a) => n + Number(a.size), 0);
  return body + Math.ceil(((files + adding) * 4) / 3);
}

function checkSize(ctx: GraphContext, user: Entity, m: Entity, adding: number): void {
  if (itemSize(ctx, user, m, adding) > mailSettings.maxItemBytes)
    throw new GraphError(400, 'ErrorMessageSizeExceeded', 'The message exceeds the maximum supported size.');
}

/** A file attachment sent whole (base64 in `contentBytes`), with the item or on its own. */
function fileAttachment(a: Entity): { name: string; contentType: string; bytes: Buffer } {
  if (a['@odata.type'] !== '#microsoft.graph.fileAttachment' || typeof a.contentBytes !== 'string' || typeof a.name !== 'string' || !a.name)
    throw new GraphError(400, 'ErrorInvalidRequest', 'Send a #microsoft.graph.fileAttachment with name and contentBytes.');
  const contentType = typeof a.contentType === 'string' ? a.contentType : 'application/octet-stream';
  return { name: a.name, contentType, bytes: Buffer.from(a.contentBytes, 'base64') };
}

interface UploadSession {
  tenantStore: GraphContext['store'];
  user: Entity;
  message: Entity;
  name: string;
  contentType: string;
  size: number;
  received: number;
  hash: Hash;
  small: Buffer[];
  expires: number;
}
const sessions = new Map<string, UploadSession>();

export function registerMail(g: GraphService): void {
  g.route('GET', '/users/{user-id}/mailFolders', (ctx) => {
    const user = mailbox(ctx);
    return g.collection(
      ctx,
      [...folders(ctx, user).values()].map(({ wellKnownName: _w, ...f }) => f as Entity),
    );
  });

  g.route('POST', '/users/{user-id}/sendMail', (ctx) => {
    const user = mailbox(ctx);
    const message = (ctx.body as { message?: Record<string, unknown> } | undefined)?.message;
    const to = message?.toRecipients;
    if (!message || !Array.isArray(to) || to.length === 0)
      throw new GraphError(
        400,
        'ErrorInvalidRecipients',
        'At least one recipient is not valid., A message can\u2019t be sent because it contains no recipients.',
      );
    const sent: Entity = { id: randomUUID(), from: user.userPrincipalName, sentDateTime: sandboxClock.iso(), ...message };
    ctx.store.table('outbox').set(sent.id, sent);
    // saveToSentItems defaults to true: a copy (with its extended properties) lands in Sent Items.
    if ((ctx.body as { saveToSentItems?: boolean }).saveToSentItems !== false) {
      const sentItems = [...folders(ctx, user).values()].find((f) => f.wellKnownName === 'sentitems')!;
      const { attachments: _a, from: _f, ...copy } = sent;
      const file = () =>
        messages(ctx, user).set(sent.id, {
          '@odata.type': '#microsoft.graph.message',
          ...copy,
          parentFolderId: sentItems.id,
          isDraft: false,
          hasAttachments: Array.isArray(message.attachments) && message.attachments.length > 0,
        });
      if (mailSettings.sentItemsDelayMs > 0) setTimeout(file, mailSettings.sentItemsDelayMs).unref();
      else file();
    }
    return { status: 202 };
  });

  g.route('GET', '/users/{user-id}/mailFolders/{mailFolder-id}/messages', (ctx) => {
    const user = mailbox(ctx);
    const folder = folderOf(ctx, user);
    const result = g.collection(
      ctx,
      [...messages(ctx, user).values()].filter((m) => m.parentFolderId === folder.id),
    );
    const body = result.body as { value: Entity[] };
    return { ...result, body: { ...body, value: body.value.map((m) => shown(ctx, m)) } };
  });

  g.route('POST', '/users/{user-id}/mailFolders', (ctx) => {
    const user = mailbox(ctx);
    const b = (ctx.body ?? {}) as { displayName?: unknown; isHidden?: unknown };
    if (typeof b.displayName !== 'string' || !b.displayName.trim())
      throw new GraphError(400, 'ErrorInvalidRequest', "The folder's displayName is required.");
    const table = folders(ctx, user);
    if ([...table.values()].some((f) => String(f.displayName).toLowerCase() === String(b.displayName).toLowerCase()))
      throw new GraphError(mailSettings.folderExistsStatus, 'ErrorFolderExists', 'A folder with the specified name already exists.');
    const folder: Entity = {
      '@odata.type': '#microsoft.graph.mailFolder',
      id: randomBytes(24).toString('base64url'),
      displayName: b.displayName,
      parentFolderId: null,
      childFolderCount: 0,
      unreadItemCount: 0,
      totalItemCount: 0,
      isHidden: b.isHidden === true,
    };
    table.set(folder.id, folder);
    return { status: 201, body: folder };
  });

  // Creating an item: the flags and dates take effect only here (PidTagMessageFlags is read-only after the first save).
  g.route('POST', '/users/{user-id}/mailFolders/{mailFolder-id}/messages', (ctx) => {
    const user = mailbox(ctx);
    const folder = folderOf(ctx, user);
    const b = (ctx.body ?? {}) as Entity;
    const props = (Array.isArray(b.singleValueExtendedProperties) ? b.singleValueExtendedProperties : []) as {
      id: string;
      value: string;
    }[];
    const prop = (id: string) => props.find((p) => String(p.id).toLowerCase() === id)?.value;
    const flags = prop(FLAGS) === undefined ? MSGFLAG_UNSENT : Number(prop(FLAGS));
    const now = sandboxClock.iso();
    const received = prop(DELIVERED) ?? now;
    // Attachments may come with the item, in the same request (user-post-messages.md); here file attachments.
    const { attachments: withItem, ...fields } = b;
    const files = (Array.isArray(withItem) ? withItem : []).map((a: Entity) => fileAttachment(a));
    const message: Entity = {
      '@odata.type': '#microsoft.graph.message',
      ...fields,
      id: randomBytes(32).toString('base64url'),
      parentFolderId: folder.id,
      createdDateTime: now,
      lastModifiedDateTime: now,
      receivedDateTime: received,
      sentDateTime: prop(SUBMITTED) ?? received,
      isDraft: (flags & MSGFLAG_UNSENT) !== 0,
      isRead: (flags & MSGFLAG_READ) !== 0,
      hasAttachments: false,
      singleValueExtendedProperties: props,
    };
    checkSize(
      ctx,
      user,
      message,
      files.reduce((n, f) => n + f.bytes.length, 0),
    );
    messages(ctx, user).set(message.id, message);
    for (const f of files)
      attach(ctx.store, user, message, f.name, f.contentType, f.bytes.length, createHash('sha256').update(f.bytes), [f.bytes]);
    return { status: 201, body: shown(ctx, message) };
  });

  for (const prefix of ['/users/{user-id}/mailFolders/{mailFolder-id}/messages', '/users/{user-id}/messages']) {
    g.route('POST', `${prefix}/{message-id}/attachments`, (ctx) => {
      const user = mailbox(ctx);
      const message = messageOf(ctx, user);
      const f = fileAttachment((ctx.body ?? {}) as Entity);
      checkSize(ctx, user, message, f.bytes.length);
      return {
        status: 201,
        body: attach(ctx.store, user, message, f.name, f.contentType, f.bytes.length, createHash('sha256').update(f.bytes), [f.bytes]),
      };
    });

    g.route('GET', `${prefix}/{message-id}/attachments`, (ctx) => {
      const user = mailbox(ctx);
      const message = messageOf(ctx, user);
      return g.collection(
        ctx,
        [...attachments(ctx, user).values()]
          .filter((a) => a.messageId === message.id)
          .map(({ messageId: _m, sha256: _s, contentBytes: _c, ...a }) => a as Entity),
      );
    });

    g.route('POST', `${prefix}/{message-id}/attachments/createUploadSession`, (ctx) => {
      const user = mailbox(ctx);
      const message = messageOf(ctx, user);
      const item = (
        (ctx.body ?? {}) as { AttachmentItem?: { attachmentType?: string; name?: string; size?: number; contentType?: string } }
      ).AttachmentItem;
      if (!item?.name || typeof item.size !== 'number')
        throw new GraphError(400, 'ErrorInvalidRequest', 'AttachmentItem needs name and size.');
      if (item.attachmentType && item.attachmentType !== 'file')
        throw new GraphError(
          405,
          'ErrorAttachmentSessionIsSupportedOnlyForFileAttachments',
          'Upload sessions are supported only for file attachments.',
        );
      if (item.size < 3 * MB)
        throw new GraphError(400, 'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize', 'Attachment size should not be less than 3 MB.');
      if (item.size > 150 * MB)
        throw new GraphError(400, 'ErrorAttachmentSizeShouldNotBeMoreThanMaximumSize', 'Attachment size should not be more than 150 MB.');
      checkSize(ctx, user, message, item.size);
      const token = randomBytes(24).toString('base64url');
      const expires = sandboxClock.now() + mailSettings.uploadSessionMs;
      sessions.set(token, {
        tenantStore: ctx.store,
        user,
        message,
        name: item.name,
        contentType: item.contentType ?? 'application/octet-stream',
        size: item.size,
        received: 0,
        hash: createHash('sha256'),
        small: [],
        expires,
      });
      return {
        status: 201,
        body: {
          '@odata.context': `${ctx.origin}/v1.0/$metadata#microsoft.graph.uploadSession`,
          uploadUrl: `${ctx.origin}/upload/outlook/${token}`,
          expirationDateTime: new Date(expires).toISOString(),
          nextExpectedRanges: ['0-'],
        },
      };
    });
  }

  g.route('GET', '/users/{user-id}/messages/{message-id}/attachments/{attachment-id}', (ctx) => {
    const user = mailbox(ctx);
    const a = attachments(ctx, user).get(ctx.params['attachment-id']);
    if (!a || a.messageId !== messageOf(ctx, user).id)
      throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    const { messageId: _m, sha256: _s, ...shownAttachment } = a;
    return { status: 200, body: shownAttachment };
  });
}

/** Records an attachment on a message; the bytes are kept only when small (tests check big ones by hash). */
function attach(
  store: GraphContext['store'],
  user: Entity,
  message: Entity,
  name: string,
  contentType: string,
  size: number,
  hash: Hash,
  pieces: Buffer[],
): Entity {
  const a: Entity = {
    '@odata.type': '#microsoft.graph.fileAttachment',
    id: randomBytes(24).toString('base64url'),
    messageId: message.id,
    name,
    contentType,
    size,
    isInline: false,
    lastModifiedDateTime: sandboxClock.iso(),
    sha256: hash.digest('hex'),
    ...(size <= 4 * MB ? { contentBytes: Buffer.concat(pieces).toString('base64') } : {}),
  };
  store.table(`attachments:${user.id}`).set(a.id, a);
  message.hasAttachments = true;
  const { messageId: _m, sha256: _s, ...shownAttachment } = a;
  return shownAttachment;
}

/**
 * The pre-authenticated upload URL of an upload session (outlook.office.com in Azure): PUT chunks in
 * order with Content-Range and no Authorization header; the last answers 201 with Location.
 */
export function serveUpload(req: SandboxRequest, res: ServerResponse): boolean {
  const m = /^\/upload\/outlook\/([A-Za-z0-9_-]+)$/.exec(req.path);
  if (!m) return false;
  const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, { error: { code, message } }, headers);
  const session = sessions.get(m[1]);
  if (!session || session.expires < sandboxClock.now()) {
    sessions.delete(m[1]);
    fail(404, 'ErrorItemNotFound', 'The upload session does not exist or has expired.');
    return true;
  }
  if (req.method === 'DELETE') {
    sessions.delete(m[1]);
    res.writeHead(204).end();
    return true;
  }
  if (req.method !== 'PUT') return (fail(405, 'ErrorInvalidRequest', 'PUT the chunks; DELETE cancels.'), true);
  if (req.headers.authorization)
    return (fail(401, 'InvalidAuthenticationToken', 'The upload URL is pre-authenticated: send no Authorization header.'), true);
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
  const next = { nextExpectedRanges: [`${session.received}-`] };
  if (
    !range ||
    Number(range[3]) !== session.size ||
    Number(range[1]) !== session.received ||
    Number(range[2]) - Number(range[1]) + 1 !== req.raw.length
  )
    return (
      sendJson(res, 416, {
        error: { code: 'InvalidRange', message: `Expected bytes ${session.received}- of ${session.size}, matching the body.` },
        ...next,
      }),
      true
    );
  if (req.raw.length > 4 * MB) return (fail(413, 'RequestEntityTooLarge', 'A chunk is at most 4 MB.'), true);
  // The upload URL counts against the mailbox's limits like its Graph calls.
  const leave = mailboxThrottle.enter(String(session.user.id));
  const refused = mailboxThrottle.admit(String(session.user.id), req.raw.length);
  leave();
  if (refused) return (fail(429, refused.code, refused.message, { 'Retry-After': String(refused.retryAfterSeconds) }), true);
  session.hash.update(req.raw);
  if (session.size <= 4 * MB) session.small.push(req.raw);
  session.received += req.raw.length;
  if (session.received < session.size) {
    sendJson(res, 200, { expirationDateTime: new Date(session.expires).toISOString(), nextExpectedRanges: [`${session.received}-`] });
    return true;
  }
  sessions.delete(m[1]);
  const a = attach(
    session.tenantStore,
    session.user,
    session.message,
    session.name,
    session.contentType,
    session.size,
    session.hash,
    session.small,
  );
  res.writeHead(201, {
    Location: `https://outlook.office.com/api/v2.0/Users('${session.user.id}')/Messages('${session.message.id}')/Attachments('${a.id}')`,
  });
  res.end();
  return true;
}
