import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { badRequest, unauthorized } from './errors';
import { clock } from './clock';

/**
 * Standard Webhooks v1 (symmetric): `webhook-id`, `webhook-timestamp`, `webhook-signature` with
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several signatures allowed (key rotation),
 * ±300 s tolerance. The library computes the HMAC; the checks around it are ours, because the
 * library reads Date.now() itself and accepts timestamps such as "123abc".
 */
export const TOLERANCE_SECONDS = 300;
const TIMESTAMP = /^\d{1,12}$/;

export interface WebhookHeaders {
  id: string;
  timestamp: number;
  signatures: string[];
}

/** Reads and checks the three headers; a missing or malformed one is a 400 that names it. */
export function readWebhookHeaders(get: (name: string) => string | null): WebhookHeaders {
  const id = get('webhook-id');
  const ts = get('webhook-timestamp');
  const sig = get('webhook-signature');
  const missing = [!id && 'webhook-id', !ts && 'webhook-timestamp', !sig && 'webhook-signature'].filter(Boolean);
  if (missing.length) throw badRequest(`Missing Standard Webhooks header(s): ${missing.join(', ')}.`);
  if (id!.length > 256) throw badRequest('webhook-id is longer than 256 characters.');
  if (!TIMESTAMP.test(ts!)) throw badRequest('webhook-timestamp must be the send time in whole Unix seconds (digits only).');
  return { id: id!, timestamp: Number(ts), signatures: sig!.split(' ').filter(Boolean) };
}

/** Normalizes a secret given with or without the whsec_ prefix; throws when it is not base64 key material. */
export function normalizeSecret(secret: string): string {
  const raw = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || Buffer.from(raw, 'base64').length < 24)
    throw badRequest('A webhook secret is whsec_ followed by at least 24 bytes, base64-encoded.');
  return `whsec_${raw}`;
}

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function sign(secret: string, id: string, timestamp: number, body: string | Buffer): string {
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), Buffer.isBuffer(body) ? body.toString('utf8') : body);
}

/**
 * Verifies the headers and raw body against any of `secrets`. Throws 401 when the timestamp is
 * outside the tolerance or no v1 signature matches; returns the id and timestamp otherwise.
 */
export function verifyWebhook(secrets: string[], headers: WebhookHeaders, body: Buffer, nowMs = clock.now()): void {
  const now = Math.floor(nowMs / 1000);
  if (now - headers.timestamp > TOLERANCE_SECONDS)
    throw unauthorized('webhook-timestamp is more than 5 minutes old; re-sign the message when you retry it.');
  if (headers.timestamp - now > TOLERANCE_SECONDS)
    throw unauthorized('webhook-timestamp is more than 5 minutes in the future; check the sender clock.');
  const given = headers.signatures.filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s.slice(3)));
  for (const secret of secrets) {
    const expected = Buffer.from(sign(secret, headers.id, headers.timestamp, body).slice(3));
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return;
  }
  throw unauthorized('No webhook-signature matches this message with the provider secret.');
}
