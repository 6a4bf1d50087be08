import { graph, odataString } from './client';

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
