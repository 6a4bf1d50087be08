import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { GraphApiError } from '../graph/client';
import { clock } from '../platform/clock';
import type { Logger } from '../platform/log';
import { claim, release } from '../platform/storage/claims';
import { newestFirst } from '../platform/storage/tables';
import { close, converge, record } from './blocks';
import { directoryObjectId } from './enforcement';
import { findLine } from './lines';
import { findProvider, writeLedger } from './providers';
import { raiseAlert } from './alerts';
import { afterDevice, beforeDevice } from './outcomes';
import {
  EVENT_CLAIM_MS,
  tables,
  WEBHOOK_ID_RETENTION_MS,
  type Kind,
  type LedgerRow,
  type LineRow,
  type ProviderRow,
  type TemEvent,
} from './model';

/**
 * Applying a queued signal: each webhook-id once (a claim), in order per line (the block record),
 * then the device's group membership; every decision is a ledger row.
 */

/** Another worker holds the claim on this event; the queue retries the message later. */
export class EventInProgressError extends Error {
  constructor(webhookId: string) {
    super(`Event ${webhookId} is being applied by another worker.`);
    this.name = 'EventInProgressError';
  }
}

const eventKinds = (e: TemEvent): Kind[] => (e.type === 'billing_cycle.reset' ? ['data', 'roaming'] : [e.data.kind]);

/** Applies one queued event. Safe to run twice for the same event: the second run does nothing. */
export async function processEvent(msg: { providerId: string; webhookId: string; event: TemEvent }, log: Logger): Promise<void> {
  const { providerId, webhookId, event } = msg;
  // Each attempt claims the webhook-id: a stale claim (its worker died) or a released one is taken over.
  const holder = randomUUID();
  const claimed = await claim(tables.webhooks, providerId, webhookId, {
    holder,
    forMs: EVENT_CLAIM_MS,
    create: () => ({ state: 'processing', expiresAt: clock.now() + WEBHOOK_ID_RETENTION_MS }),
    done: (row) => row.state === 'processed',
  });
  if (claimed.status === 'done') return log.info('Duplicate delivery ignored', { providerId, webhookId });
  if (claimed.status !== 'claimed') throw new EventInProgressError(webhookId);
  try {
    await applyEvent(providerId, webhookId, event, log);
  } catch (e) {
    // This attempt is over: release the claim so the retry (or a duplicate) can take it at once.
    await release(tables.webhooks, providerId, webhookId, holder).catch(() => undefined);
    throw e;
  }
}

async function applyEvent(providerId: string, webhookId: string, event: TemEvent, log: Logger): Promise<void> {
  const provider = await findProvider(providerId);
  if (!provider) return log.warn('Event for a deleted provider dropped', { providerId, webhookId });
  // The last signal time is kept to the minute, so a stream of signals does not contend with admin changes.
  if (!provider.lastSignalAt || clock.now() - Date.parse(provider.lastSignalAt) > 60_000) {
    await tables.providers.upsert({ partitionKey: 'provider', rowKey: providerId, lastSignalAt: clock.iso() } as ProviderRow, 'merge');
  }

  const base = { eventId: webhookId, eventType: event.type, eventAt: event.timestamp };
  const key = (suffix: string) => `${newestFirst(Date.parse(event.timestamp))}-${webhookId}-${suffix}`;
  // An ignored signal still says whose it was: its line (when it names one) and kind (both, for a billing reset).
  const kind = event.type === 'billing_cycle.reset' ? undefined : event.data.kind;
  const ignore = (reason: string, line = event.data.phoneNumber) =>
    writeLedger(providerId, key(line ? `${line}-ignored` : 'ignored'), { ...base, action: 'none', line, kind, status: 'ignored', reason });

  if (!provider.enabled) await ignore('The service is switched off for this provider; the signal is recorded and ignored.');
  else if (provider.connection !== 'active') await ignore('The provider is not connected (admin consent not confirmed).');
  else {
    const numbers = event.data.phoneNumber
      ? [event.data.phoneNumber]
      : (await tables.blocks.list(odata`PartitionKey eq ${providerId} and active eq true`)).map((b) => b.entity.line);
    for (const number of new Set(numbers)) {
      const line = await findLine(number);
      if (!line) await ignore('Unknown line: no managed device has this number.', number);
      else if (line.ownership !== 'company') await ignore('Personal line: only company-owned lines are monitored.', number);
      else for (const kind of eventKinds(event)) await applyToLine(provider, line, kind, event, webhookId, key(`${number}-${kind}`), log);
    }
  }
  await tables.webhooks.upsert({
    partitionKey: providerId,
    rowKey: webhookId,
    state: 'processed',
    expiresAt: clock.now() + WEBHOOK_ID_RETENTION_MS,
  });
}

async function applyToLine(
  provider: ProviderRow,
  line: LineRow,
  kind: Kind,
  event: TemEvent,
  webhookId: string,
  ledgerKey: string,
  log: Logger,
): Promise<void> {
  const providerId = provider.rowKey;
  const block = event.type === 'usage.threshold_exceeded';
  const action = block ? 'block' : 'unblock';
  const base = {
    eventId: webhookId,
    eventType: event.type,
    eventAt: event.timestamp,
    kind,
    line: line.rowKey,
    deviceName: line.deviceName,
  };
  const note = (
    row: Omit<
      LedgerRow,
      'partitionKey' | 'rowKey' | 'at' | 'eventId' | 'eventType' | 'eventAt' | 'kind' | 'line' | 'deviceName' | 'action'
    >,
    act: LedgerRow['action'] = action,
  ) => writeLedger(providerId, ledgerKey, { ...base, action: act, ...row });

  try {
    const objectId = async () => (line.azureADDeviceId ? directoryObjectId(line.azureADDeviceId) : undefined);
    const { decision, row } = await record(providerId, line, kind, { id: webhookId, at: event.timestamp, block }, objectId);
    const early = beforeDevice(decision, row, block);
    if (early === 'stop' || !row) return;
    if (early) return await note({ status: early.status, reason: early.reason }, early.action ?? action);

    // A switch-off that began before this block was recorded may have listed the blocks already: the
    // block is closed again here, so nothing stays blocked behind a finished switch-off.
    let switchedOff = false;
    if (row.active && !(await tables.providers.get('provider', providerId))?.entity.enabled)
      switchedOff = !!(await close(providerId, row.rowKey));

    await note({ status: 'requested', reason: event.type });
    const member = row.pending || switchedOff ? await converge(row.directoryObjectId!, kind) : row.active;
    const newest = (await tables.blocks.get(providerId, row.rowKey))?.entity;
    const outcome = afterDevice({ block, eventType: event.type, webhookId, switchedOff, member, newest });
    await note({ status: outcome.note.status, reason: outcome.note.reason });
    if (outcome.alert && event.type === 'usage.threshold_exceeded') await raiseAlert(provider, line, kind, event, webhookId, log);
  } catch (e) {
    if (e instanceof GraphApiError) {
      // The record keeps the decision (pending): a retry, a switch-off step or the reconciliation settles it.
      await note({ status: 'failed', error: e.summary });
      if (e.transient) throw e;
      return;
    }
    throw e;
  }
}
