import { graph } from './client';

/** Sends an HTML mail from a mailbox of the tenant (application permission Mail.Send). */
export async function sendMail(from: string, to: string[], subject: string, html: string, cc: string[] = []): Promise<void> {
  const recipients = (list: string[]) => list.map((address) => ({ emailAddress: { address } }));
  await graph().post(`/users/${encodeURIComponent(from)}/sendMail`, {
    message: { subject, body: { contentType: 'HTML', content: html }, toRecipients: recipients(to), ...(cc.length ? { ccRecipients: recipients(cc) } : {}) },
    saveToSentItems: false,
  });
}
