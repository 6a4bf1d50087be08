import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log';
import { StorageLimitError, badRequest } from '../errors';
import { storage, type StorageAccount } from './connection';
import type { QueueName } from './resources';

/**
 * Queue messages: JSON in a versioned envelope, base64-encoded as the Functions host expects by
 * default. Every message carries an idempotency key, because triggers deliver at least once.
 */
export const MESSAGE_VERSION = 1;
export const MAX_MESSAGE_BYTES = 64 * 1024;

export const envelopeSchema = z.object({
  v: z.literal(MESSAGE_VERSION),
  type: z.string().min(1),
  key: z.string().min(1),
  at: z.iso.datetime(),
  data: z.unknown(),
});
export type Envelope<T = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: T };

/** One delivery of a queue message, as the queue layer hands it to a handler. */
export interface Delivery {
  /** The queue message's id: the same on every delivery of that message. */
  messageId: string;
  dequeueCount: number;
  /** The host's last delivery of this message: a failure now goes to poison, so record it instead of throwing. */
  finalDelivery: boolean;
  log: Logger;
}

export interface SendOptions {
  /** Idempotency key: handlers use it to apply the message's effect once. Defaults to a new UUID. */
  key?: string;
  /** Keep the message invisible this long before its first delivery. */
  delaySeconds?: number;
}

export function encodeMessage<T>(type: string, data: T, key: string = randomUUID(), at = new Date()): string {
  const envelope: Envelope<T> = { v: MESSAGE_VERSION, type, key, at: at.toISOString(), data };
  const text = Buffer.from(JSON.stringify(envelope)).toString('base64');
  if (text.length > MAX_MESSAGE_BYTES) {
    throw new StorageLimitError(
      `A '${type}' queue message is ${text.length} bytes encoded; Azure allows ${MAX_MESSAGE_BYTES}. Put the payload in a blob and send its name.`,
    );
  }
  return text;
}

/**
 * Reads a message as a queue trigger delivers it (already JSON-parsed by the host, or a string) and
 * checks the envelope and the payload. A message that fails is not retried by design: callers
 * should log and drop it, since redelivery cannot fix it.
 */
export function decodeMessage<T>(raw: unknown, data: z.ZodType<T>): Envelope<T> {
  let value = raw;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw badRequest('Queue message is not JSON.');
    }
  }
  const env = envelopeSchema.safeParse(value);
  if (!env.success) throw badRequest(`Queue message envelope is invalid: ${z.prettifyError(env.error)}`);
  const payload = data.safeParse(env.data.data);
  if (!payload.success) throw badRequest(`Queue message '${env.data.type}' payload is invalid: ${z.prettifyError(payload.error)}`);
  return { ...env.data, data: payload.data };
}

const created = new Map<string, Promise<unknown>>();

export class QueueProducer {
  constructor(private readonly account: () => StorageAccount = storage) {}

  /** Creates the queue once per process. */
  ensure(queue: QueueName): Promise<unknown> {
    const client = this.account().queue(queue);
    let p = created.get(client.url);
    if (!p) {
      p = client.createIfNotExists().catch((e) => {
        created.delete(client.url);
        throw e;
      });
      created.set(client.url, p);
    }
    return p;
  }

  /** Durably enqueues one message; resolves only after the storage service accepted it. */
  async send<T>(queue: QueueName, type: string, data: T, opts: SendOptions = {}): Promise<{ messageId: string; key: string }> {
    const key = opts.key ?? randomUUID();
    const text = encodeMessage(type, data, key);
    await this.ensure(queue);
    const res = await this.account().queue(queue).sendMessage(text, { visibilityTimeout: opts.delaySeconds });
    return { messageId: res.messageId, key };
  }
}

export const queues = new QueueProducer();
