import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import { openStorageAccount } from '../../shared/platform/storage/connection';
import { resolveStorageConnection } from '../../shared/platform/config';
import type { CapturedFunction } from './core';
import { invoke, type HostLog } from './invoke';
import { resolveSettingExpression, type HostSettings } from './settings';

/**
 * Storage-queue triggers with the Functions host's semantics: messages fetched in batches and run
 * concurrently, base64 decoding, JSON parsed when it parses, dequeueCount in trigger metadata; a
 * failed message becomes visible again after visibilityTimeout, and after maxDequeueCount attempts
 * it moves to `<queue>-poison`. Polling backs off to maxPollingInterval while the queue is empty.
 */

/**
 * A fetched message stays hidden for the lease while its invocation runs, and the lease is renewed
 * until the invocation ends, as the Functions host does. If the process dies, the message becomes
 * visible again when the lease runs out (LOCAL_HOST_QUEUE_LEASE_SECONDS, default 30).
 */
const leaseSeconds = () => Math.max(1, Number(process.env.LOCAL_HOST_QUEUE_LEASE_SECONDS ?? 30));
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface QueueListener {
  stop(): Promise<void>;
}

export function decodeQueueText(text: string, encoding: 'base64' | 'none'): { input: unknown; text: string } {
  let decoded = text;
  if (encoding === 'base64') {
    if (text.length % 4 !== 0 || !BASE64.test(text))
      throw new Error('The message is not base64-encoded, as host.json messageEncoding requires.');
    decoded = Buffer.from(text, 'base64').toString('utf8');
  }
  try {
    return { input: JSON.parse(decoded), text: decoded };
  } catch {
    return { input: decoded, text: decoded };
  }
}

export function startQueueListener(
  fn: CapturedFunction,
  env: NodeJS.ProcessEnv,
  settings: HostSettings['queues'],
  hostLog: HostLog,
): QueueListener {
  const queueName = resolveSettingExpression(String(fn.trigger.queueName ?? ''), env).toLowerCase();
  const connectionName = String(fn.trigger.connection || 'AzureWebJobsStorage');
  const conn = resolveStorageConnection(env, connectionName);
  if (typeof conn === 'string') throw new Error(`Function '${fn.name}': ${conn}`);
  const account = openStorageAccount(conn);
  const queue = account.queue(queueName);
  const poison = account.queue(`${queueName}-poison`);
  let stopped = false;
  let inFlight = 0;
  const active = new Set<Promise<void>>();
  let wake: (() => void) | undefined;
  let delay = 100;

  const process1 = async (q: QueueClient, m: DequeuedMessageItem) => {
    let popReceipt = m.popReceipt;
    const lease = leaseSeconds();
    // Renewals run one after another; settling waits for the last, so it uses the current pop receipt.
    let renewing: Promise<unknown> = Promise.resolve();
    const renew = setInterval(
      () => {
        renewing = renewing.then(() =>
          q
            .updateMessage(m.messageId, popReceipt, undefined, lease)
            .then((r) => (popReceipt = r.popReceipt ?? popReceipt))
            .catch((e) => hostLog(`Lease renewal of message ${m.messageId} on '${queueName}' failed: ${(e as Error).message}`)),
        );
      },
      (lease * 1000) / 3,
    );
    const metadata = {
      id: m.messageId,
      popReceipt: m.popReceipt,
      dequeueCount: m.dequeueCount,
      insertionTime: m.insertedOn.toISOString(),
      expirationTime: m.expiresOn.toISOString(),
      nextVisibleTime: m.nextVisibleOn.toISOString(),
      queueTrigger: m.messageText,
    };
    try {
      let failed = false;
      try {
        const { input, text } = decodeQueueText(m.messageText, settings.messageEncoding);
        metadata.queueTrigger = text;
        await invoke(fn, input, metadata, hostLog);
      } catch (e) {
        failed = true;
        if (!metadata.queueTrigger || metadata.queueTrigger === m.messageText)
          hostLog(`Message ${m.messageId} on '${queueName}': ${(e as Error).message}`);
      }
      clearInterval(renew);
      await renewing;
      if (!failed) await q.deleteMessage(m.messageId, popReceipt);
      else if (m.dequeueCount >= settings.maxDequeueCount) {
        await poison.createIfNotExists();
        await poison.sendMessage(m.messageText);
        await q.deleteMessage(m.messageId, popReceipt);
        hostLog(`Message ${m.messageId} on '${queueName}' failed ${m.dequeueCount} times; moved to '${queueName}-poison'.`);
      } else {
        await q.updateMessage(m.messageId, popReceipt, undefined, Math.round(settings.visibilityTimeoutMs / 1000));
      }
    } finally {
      clearInterval(renew);
    }
  };

  const loop = async () => {
    await queue.createIfNotExists();
    while (!stopped) {
      if (inFlight > settings.newBatchThreshold) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        messages = (await queue.receiveMessages({ numberOfMessages: Math.min(32, settings.batchSize), visibilityTimeout: leaseSeconds() }))
          .receivedMessageItems;
      } catch (e) {
        if (stopped) break;
        hostLog(`Queue '${queueName}' poll failed: ${(e as Error).message}`);
        messages = [];
      }
      if (messages.length === 0) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, delay);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
        delay = Math.min(delay * 2, settings.maxPollingIntervalMs);
        continue;
      }
      delay = 100;
      for (const m of messages) {
        inFlight++;
        const p: Promise<void> = process1(queue, m)
          .catch((e) => hostLog(`Queue '${queueName}' message ${m.messageId} could not be settled: ${(e as Error).message}`))
          .finally(() => {
            inFlight--;
            active.delete(p);
            // Wake the poller once there is room for another batch (and only then take its wake-up).
            if (inFlight <= settings.newBatchThreshold && wake) {
              const w = wake;
              wake = undefined;
              w();
            }
          });
        active.add(p);
      }
    }
  };

  const running = loop().catch((e) => hostLog(`Queue listener for '${queueName}' stopped: ${(e as Error).message}`));
  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await running;
      await Promise.all([...active]);
    },
  };
}
