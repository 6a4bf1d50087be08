import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { sendJson, sendProblem, type SandboxRequest } from '../http';
import { sandboxClock } from '../clock';

/**
 * A Datalert-style telecom expense provider: it signs events with Standard Webhooks and posts them
 * to the app's webhook, retrying 5xx answers and network errors with backoff, as providers do.
 *
 * POST /_sandbox/tem/deliveries
 *   {url, secret, type, data, timestamp?, webhookId?, copies?: 1, concurrency?: 1}
 * sends `copies` deliveries of the same event (same webhook-id), `concurrency` at a time.
 */
export interface Delivery {
  url: string;
  secret: string;
  type: string;
  data: Record<string, unknown>;
  timestamp?: string;
  webhookId?: string;
  copies?: number;
  concurrency?: number;
}

export async function deliver(d: Delivery, maxAttempts = 4): Promise<{ webhookId: string; statuses: number[] }> {
  const webhookId = d.webhookId ?? `msg_${randomUUID().replace(/-/g, '')}`;
  const body = JSON.stringify({ type: d.type, timestamp: d.timestamp ?? sandboxClock.iso(), data: d.data });
  const wh = new Webhook(d.secret);
  const sendOnce = async (): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const now = new Date(sandboxClock.now());
      const signature = wh.sign(webhookId, now, body);
      try {
        const res = await fetch(d.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': webhookId,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
            'webhook-signature': signature,
          },
          body,
        });
        await res.arrayBuffer();
        if (res.status < 500 || attempt >= maxAttempts) return res.status;
      } catch {
        if (attempt >= maxAttempts) return 0;
      }
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  };
  const copies = Math.max(1, d.copies ?? 1);
  const concurrency = Math.max(1, Math.min(copies, d.concurrency ?? 1));
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < copies) {
        next++;
        statuses.push(await sendOnce());
      }
    }),
  );
  return { webhookId, statuses };
}

export function temProvider() {
  return async (req: SandboxRequest, res: ServerResponse): Promise<boolean> => {
    if (req.path !== '/_sandbox/tem/deliveries' || req.method !== 'POST') return false;
    const d = req.json() as Delivery | undefined;
    if (!d?.url || !d.secret || !d.type || typeof d.data !== 'object') {
      sendProblem(
        res,
        400,
        'Bad Request',
        'Send {"url", "secret", "type", "data", "timestamp"?, "webhookId"?, "copies"?, "concurrency"?}.',
      );
      return true;
    }
    sendJson(res, 200, await deliver(d));
    return true;
  };
}
