import { randomUUID } from 'node:crypto';
import { GraphError, type Entity, type GraphContext, type GraphService } from './framework';
import { sandboxClock } from '../clock';

/** Mailboxes: well-known folders and sendMail, whose messages land in an outbox tests can read. */

/** Exchange files a sent mail's Sent Items copy asynchronously; this is how late (control API). */
export const mailSettings = { sentItemsDelayMs: 0 };
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
    const key = ctx.params['mailFolder-id'].toLowerCase();
    const folder = [...folders(ctx, user).values()].find((f) => f.id === ctx.params['mailFolder-id'] || f.wellKnownName === key);
    if (!folder) throw new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return g.collection(
      ctx,
      [...messages(ctx, user).values()].filter((m) => m.parentFolderId === folder.id),
    );
  });
}
