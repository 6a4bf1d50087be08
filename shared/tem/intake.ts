import { clock } from '../platform/clock';
import { badRequest, notFound, payloadTooLarge, unsupportedMediaType } from '../platform/errors';
import { isJson, zodErrors } from '../platform/http';
import { queues } from '../platform/storage/queues';
import { readWebhookHeaders, verifyWebhook } from '../platform/webhooks';
import { activeSecrets, cachedProvider } from './providers';
import { eventSchema, QUEUE_EVENTS, tables, WEBHOOK_MAX_BYTES } from './model';

/**
 * Signals from providers, accepted over a signed webhook and queued durably; the worker applies
 * them (apply.ts). Webhook-ids are remembered for the retention period, then forgotten.
 */

export interface Intake {
  status: 202;
  webhookId: string;
}

/**
 * Verifies and queues one webhook delivery; 202 means the event is durably in the queue. Nothing is
 * queued for bad input. Repeated deliveries of a webhook-id are queued too and answered 202, but the
 * worker applies each webhook-id once (processEvent), so a retry never has a second effect.
 */
export async function acceptEvent(providerId: string, headers: { get(name: string): string | null }, body: Buffer): Promise<Intake> {
  const provider = await cachedProvider(providerId);
  if (!provider) throw notFound(`No TEM provider '${providerId}'. Use the webhook URL given when the provider was registered.`);
  if (body.length > WEBHOOK_MAX_BYTES) throw payloadTooLarge(`Event bodies are limited to ${WEBHOOK_MAX_BYTES} bytes.`);
  if (!isJson(headers.get('content-type'))) throw unsupportedMediaType('Send events as application/json.');
  const wh = readWebhookHeaders((n) => headers.get(n));
  verifyWebhook(activeSecrets(provider), wh, body);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The signed body is not valid JSON.');
  }
  const parsed = eventSchema.safeParse(json);
  if (!parsed.success)
    throw badRequest(
      `The event is not a TEM event: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}.`,
      zodErrors(parsed.error),
    );
  await queues.send(QUEUE_EVENTS, 'tem.event', { providerId, webhookId: wh.id, event: parsed.data }, { key: `${providerId}:${wh.id}` });
  return { status: 202, webhookId: wh.id };
}

/** Forgets webhook ids past their retention. */
export async function purgeWebhookIds(): Promise<number> {
  // expiresAt is stored as Edm.Double (it exceeds Int32), so compare with a double literal.
  return tables.webhooks.deleteWhere(`expiresAt lt ${clock.now()}.0`);
}
