import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { GraphApiError } from '../graph/client';
import { sendMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { badRequest, notFound, payloadTooLarge, unsupportedMediaType } from '../platform/errors';
import { isJson, zodErrors } from '../platform/http';
import type { Logger } from '../platform/log';
import { claim, release } from '../platform/storage/claims';
import { queues } from '../platform/storage/queues';
import { newestFirst } from '../platform/storage/tables';
import { readWebhookHeaders, verifyWebhook } from '../platform/webhooks';
import { close, converge, record } from './blocks';
import { directoryObjectId } from './enforcement';
import { findLine } from './lines';
import { activeSecrets, cachedProvider, updateProvider } from './providers';
import {
  eventSchema,
  EVENT_CLAIM_MS,
  QUEUE_EVENTS,
  QUEUE_JOBS,
  REVERT_BATCH,
  tables,
  WEBHOOK_ID_RETENTION_MS,
  WEBHOOK_MAX_BYTES,
  type Kind,
  type LedgerRow,
  type LineRow,
  type ProviderRow,
  type TemEvent,
} from './model';

/**
 * Signals from providers: accepted over a signed webhook, queued durably, then applied to the
 * tenant in order per line. Every decision is a ledger row.
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

/** Another worker holds the claim on this event; the queue retries the message later. */
export class EventInProgressError extends Error {
  constructor(webhookId: string) {
    super(`Event ${webhookId} is being applied by another worker.`);
    this.name = 'EventInProgressError';
  }
}

async function ledger(providerId: string, rowKey: string, row: Omit<LedgerRow, 'partitionKey' | 'rowKey' | 'at'>): Promise<void> {
  await tables.ledger.upsert({ partitionKey: providerId, rowKey, at: clock.iso(), ...row } as LedgerRow);
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
  const provider = (await tables.providers.get('provider', providerId))?.entity;
  if (!provider) return log.warn('Event for a deleted provider dropped', { providerId, webhookId });
  // The last signal time is kept to the minute, so a stream of signals does not contend with admin changes.
  if (!provider.lastSignalAt || clock.now() - Date.parse(provider.lastSignalAt) > 60_000) {
    await tables.providers.upsert({ partitionKey: 'provider', rowKey: providerId, lastSignalAt: clock.iso() } as ProviderRow, 'merge');
  }

  const base = { eventId: webhookId, eventType: event.type, eventAt: event.timestamp };
  const key = (suffix: string) => `${newestFirst(Date.parse(event.timestamp))}-${webhookId}-${suffix}`;
  const ignore = (reason: string, line?: string) =>
    ledger(providerId, key(line ? `${line}-ignored` : 'ignored'), { ...base, action: 'none', line, status: 'ignored', reason });

  if (!provider.enabled) await ignore('The service is switched off for this provider; the signal is recorded and ignored.');
  else if (provider.connection !== 'Active') await ignore('The provider is not connected (admin consent not confirmed).');
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
  ) => ledger(providerId, ledgerKey, { ...base, action: act, ...row });

  try {
    const objectId = async () => (line.azureADDeviceId ? directoryObjectId(line.azureADDeviceId) : undefined);
    const { decision, row } = await record(providerId, line, kind, { id: webhookId, at: event.timestamp, block }, objectId);
    if (decision.kind === 'older')
      return await note({ status: 'ignored', reason: `Older than the last event for this line and kind (${decision.last}).` }, 'none');
    if (!row) return;
    if (decision.kind === 'record' && !decision.changed && !block && !row.pending)
      return await note({ status: 'ignored', reason: 'Nothing to unblock: no active block for this line.' }, 'none');
    if (!row.directoryObjectId)
      return await note({ status: 'failed', reason: 'The device has no Entra device object, so it cannot join the restriction group.' });

    // A switch-off that began before this block was recorded may have listed the blocks already: the
    // block is closed again here, so nothing stays blocked behind a finished switch-off.
    let switchedOff = false;
    if (row.active && !(await tables.providers.get('provider', providerId))?.entity.enabled)
      switchedOff = !!(await close(providerId, row.rowKey));

    await note({ status: 'requested', reason: event.type });
    const member = row.pending || switchedOff ? await converge(row.directoryObjectId, kind) : row.active;
    const mine = (await tables.blocks.get(providerId, row.rowKey))?.entity;
    if (switchedOff)
      return await note({
        status: 'ignored',
        reason: 'The service was switched off while this event was applied; its block was reverted.',
      });
    if (mine?.lastEventId !== webhookId)
      return await note({
        status: 'ignored',
        reason: `Superseded by a newer event (${mine?.lastEventId}, ${mine?.lastEventAt}) before it reached the device.`,
      });
    const shared = !block && member ? ' The device stays blocked: another provider blocks this line too.' : '';
    await note({ status: block ? 'applied' : 'reverted', reason: `${event.type}${shared}` });
    if (block && event.type === 'usage.threshold_exceeded') await raiseAlert(provider, line, kind, event, webhookId, log);
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

async function raiseAlert(
  provider: ProviderRow,
  line: { rowKey: string; deviceName?: string; userPrincipalName?: string },
  kind: Kind,
  event: Extract<TemEvent, { type: 'usage.threshold_exceeded' }>,
  webhookId: string,
  log: Logger,
): Promise<void> {
  const rowKey = `${newestFirst(Date.parse(event.timestamp))}-${webhookId}-${kind}`;
  const existing = await tables.alerts.get(provider.rowKey, rowKey);
  if (existing && existing.entity.email !== 'pending') return;
  const what = kind === 'data' ? 'cellular data' : 'roaming';
  const message = `${line.rowKey} (${line.deviceName ?? 'device'}, ${line.userPrincipalName ?? 'no user'}) crossed its ${what} threshold${event.data.usageMb !== undefined ? `: ${event.data.usageMb} MB used${event.data.capMb !== undefined ? ` of ${event.data.capMb} MB` : ''}` : ''}${event.data.country ? ` in ${event.data.country}` : ''}. ${what[0].toUpperCase()}${what.slice(1)} is now blocked on the device.`;
  const sender = config().ALERT_MAIL_SENDER;
  const email = provider.alertEmail && sender ? 'pending' : 'notConfigured';
  const alert = {
    partitionKey: provider.rowKey,
    rowKey,
    at: clock.iso(),
    eventId: webhookId,
    line: line.rowKey,
    kind,
    message,
    usageMb: event.data.usageMb,
    capMb: event.data.capMb,
    country: event.data.country,
    email,
  } as const;
  await tables.alerts.upsert(alert);
  if (email !== 'pending') return;
  try {
    await sendMail(
      sender!,
      [provider.alertEmail!],
      `TEM alert: ${what} threshold crossed on ${line.rowKey}`,
      `<p>${message}</p><p>Provider: ${provider.name}. Event ${webhookId} at ${event.timestamp}.</p>`,
    );
    await tables.alerts.upsert({ ...alert, email: 'sent' });
  } catch (e) {
    log.warn('Alert email failed', { error: e });
    await tables.alerts.upsert({ ...alert, email: 'failed', emailError: (e as Error).message });
  }
}

/**
 * One step of a switch-off: reverts up to REVERT_BATCH active blocks, then queues the next step.
 * A crash at any point leaves the message to be delivered again; reverting is idempotent.
 */
export async function revertStep(providerId: string, log: Logger): Promise<{ reverted: number; remaining: boolean }> {
  const provider = await tables.providers.get('provider', providerId);
  if (!provider || provider.entity.enabled || provider.entity.revert !== 'reverting') return { reverted: 0, remaining: false };
  // Pending rows too: a step that died between closing a block and converging its device left one.
  const open = odata`PartitionKey eq ${providerId} and (active eq true or pending eq true)`;
  const batch = await tables.blocks.list(open, REVERT_BATCH);
  let reverted = 0;
  for (const { entity: b } of batch) {
    // One row per switch-off and line: a step repeated after a crash overwrites its own record.
    const key = `${newestFirst(Date.parse(provider.entity.revertStartedAt ?? clock.iso()))}-switchoff-${b.rowKey}`;
    const row = {
      action: 'unblock' as const,
      kind: b.kind,
      line: b.line,
      reason: 'The service was switched off: every action is reverted.',
    };
    await ledger(providerId, key, { ...row, status: 'requested' });
    const closed = await close(providerId, b.rowKey);
    const outcome = () => ledger(providerId, key, { ...row, status: 'reverted' });
    if (closed?.directoryObjectId) await converge(closed.directoryObjectId, closed.kind, outcome);
    else await outcome();
    if (b.active) reverted++;
  }
  const left = (await tables.blocks.list(open, 1)).length > 0;
  const done = !left;
  await updateProvider(providerId, (row) => ({
    ...row,
    reverted: row.reverted + reverted,
    ...(done ? { revert: 'done' as const, revertFinishedAt: clock.iso() } : {}),
  }));
  if (!done) await queues.send(QUEUE_JOBS, 'tem.job', { job: 'revert', providerId }, { key: `revert:${providerId}:${clock.now()}` });
  log.info('Switch-off step', { providerId, reverted, remaining: left });
  return { reverted, remaining: left };
}

/** Forgets webhook ids past their retention. */
export async function purgeWebhookIds(): Promise<number> {
  // expiresAt is stored as Edm.Double (it exceeds Int32), so compare with a double literal.
  const old = await tables.webhooks.list(`expiresAt lt ${clock.now()}.0`);
  for (const r of old) await tables.webhooks.delete(r.entity.partitionKey, r.entity.rowKey);
  return old.length;
}

export const ledgerQuery = z.object({ top: z.coerce.number().int().min(1).max(1000).default(100) });
