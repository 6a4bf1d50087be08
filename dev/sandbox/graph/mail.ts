import { randomUUID } from 'node:crypto';
import { GraphError, type Entity, type GraphContext, type GraphService } from './framework';

/** Mailboxes: well-known folders and sendMail, whose messages land in an outbox tests can read. */
const WELL_KNOWN = ['inbox', 'sentitems', 'drafts', 'archive', 'deleteditems'] as const;

function mailbox(ctx: GraphContext): Entity {
  const user = ctx.store.get('users', ctx.params['user-id']);
  if (!user.mail) throw new GraphError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
  return user;
}

export function folders(ctx: GraphContext, user: Entity): Map<string, Entity> {
  const table = ctx.store.table(`mailFolders:${user.id}`);
  if (table.size === 0) {
    for (const name of WELL_KNOWN) {
      const id = Buffer.from(`${user.id}:${name}`).toString('base64url');
      table.set(id, { '@odata.type': '#microsoft.graph.mailFolder', id, displayName: name === 'sentitems' ? 'Sent Items' : name === 'deleteditems' ? 'Deleted Items' : name[0].toUpperCase() + name.slice(1), parentFolderId: null, childFolderCount: 0, unreadItemCount: 0, totalItemCount: 0, isHidden: false, wellKnownName: name });
    }
  }
  return table;
}

export function registerMail(g: GraphService): void {
  g.route('GET', '/users/{user-id}/mailFolders', (ctx) => {
    const user = mailbox(ctx);
    return g.collection(ctx, [...folders(ctx, user).values()].map(({ wellKnownName: _w, ...f }) => f as Entity));
  });

  g.route('POST', '/users/{user-id}/sendMail', (ctx) => {
    const user = mailbox(ctx);
    const message = (ctx.body as { message?: Record<string, unknown> } | undefined)?.message;
    const to = message?.toRecipients;
    if (!message || !Array.isArray(to) || to.length === 0) throw new GraphError(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid., A message can\u2019t be sent because it contains no recipients.');
    ctx.store.table('outbox').set(randomUUID(), { id: randomUUID(), from: user.userPrincipalName, sentDateTime: new Date().toISOString(), ...message });
    return { status: 202 };
  });
}
