import { createHash } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { graph, GraphApiError } from '../graph/client';
import { findSentMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { forEachLimit } from '../platform/pool';
import { claim, UNTIL_RELEASED } from '../platform/storage/claims';
import { queues, type Delivery } from '../platform/storage/queues';
import type { Stored } from '../platform/storage/tables';
import {
  devicePartition,
  dueKey,
  duePartition,
  ledgerKey,
  QUEUE_ACTIONS,
  stateKey,
  tables,
  TERMINAL,
  type ActionMessage,
  type DueRow,
  type LedgerRow,
  type StateRow,
} from './model';
import { groupMailboxes, prepareMail, readDevice, senderMailbox } from './notify';
import { scheduleOf } from './schedules';
import { findTemplate } from './templates';
import { deviceActionSent, stillApplies } from './outcomes';

/**
 * The runner: one queue message per device action. Each ledger row is claimed by one message
 * (ETag), the device is checked again just before acting, and an effect that may have happened
 * before a crash is looked for (the mail in Sent Items, the lock on the device) instead of repeated.
 */

const DISPATCH_PAGE = 5000;
const CLOCK_SLACK_MS = 5 * 60 * 1000;
const SEND_CONCURRENCY = 16;
/** Azure Queue Storage hides a message for at most 7 days; a longer wait is taken in steps. */
const MAX_DELAY_SECONDS = 7 * 24 * 3600 - 60;
/** A pending action this long past due with no due row has lost its message: the sweep sends it again. */
const LOST_AFTER_MS = 30 * 60 * 1000;

const actionKey = (m: ActionMessage) => `${m.policyId}|${m.deviceId}|${m.episode}|${m.action}`;

export type RunOutcome = 'done' | 'failed' | 'cancelled' | 'skipped' | 'duplicate' | 'stale' | 'busy' | 'early' | 'deferred';

/** A stable key per action instance: the mail's Sent Items tag. */
export const instanceTag = (m: ActionMessage) =>
  createHash('sha256').update(`${m.policyId}|${m.deviceId}|${m.episode}|${m.action}`).digest('hex').slice(0, 40);

export async function runAction(m: ActionMessage, d: Delivery): Promise<RunOutcome> {
  const pk = devicePartition(m.policyId, m.deviceId);
  const rk = ledgerKey(m.deviceId, m.episode, m.action);
  const got = await tables.devices.get(pk, rk);
  if (!got) {
    d.log.warn('No ledger row for this action; dropped', { ...m });
    return 'stale';
  }
  let row = got.entity as LedgerRow;
  if (TERMINAL.has(row.status)) return 'duplicate';
  // Not due yet by this instance's clock (its clock is behind the dispatcher's, or a copy came
  // early): the message comes back when the action is due here, since its due row may be gone
  // already. The slack covers clocks that differ a little, so an on-time message runs at once.
  const wait = Date.parse(row.dueAt) - clock.now();
  if (row.status === 'pending' && wait > CLOCK_SLACK_MS) {
    await queues.send(QUEUE_ACTIONS, 'action', m, { key: actionKey(m), delaySeconds: Math.min(Math.ceil(wait / 1000), MAX_DELAY_SECONDS) });
    return 'early';
  }
  // A message claims the row until it finishes: another message finds it held ('busy'); its own
  // message, delivered again after a crash, takes it again and looks for the effect first.
  const retake = row.status === 'running';
  const claimed = await claim(
    tables.ledger,
    pk,
    rk,
    {
      holder: d.messageId,
      forMs: UNTIL_RELEASED,
      done: (r) => TERMINAL.has(r.status),
      take: (r): LedgerRow => ({ ...r, status: 'running', attempts: r.attempts + 1, updatedAt: clock.iso() }),
    },
    got as Stored<LedgerRow>,
  );
  if (claimed.status === 'done') return 'duplicate';
  if (claimed.status !== 'claimed') return 'busy';
  row = claimed.row;
  let etag = claimed.etag;
  const save = async (fields: Partial<LedgerRow>) => {
    row = { ...row, ...fields, updatedAt: clock.iso() };
    etag = await tables.devices.update(row, etag);
  };
  // An effect an interrupted worker began may not show yet: look again later, under a new message that takes over the claim.
  const lookAgainLater = async (waitMs: number, message: string): Promise<RunOutcome> => {
    const next = await queues.send(QUEUE_ACTIONS, 'action', m, {
      key: `${instanceTag(m)}|recheck`,
      delaySeconds: Math.ceil(waitMs / 1000),
    });
    await save({ claimedBy: next.messageId });
    d.log.info(message, { ...m, waitMs });
    return 'deferred';
  };
  const finish = async (status: LedgerRow['status'], fields: Partial<LedgerRow> = {}): Promise<RunOutcome> => {
    await save({ status, claimedBy: undefined, claimedUntil: 0, finishedAt: clock.iso(), ...fields });
    d.log.info('Compliance action finished', { ...m, status, reason: row.reason, error: row.error });
    return status as RunOutcome;
  };

  try {
    const action = (await scheduleOf(m.policyId)).actions.find((a) => a.id === m.action);
    const state = (await tables.devices.get(pk, stateKey(m.deviceId)))?.entity as StateRow | undefined;
    const device = action && state?.status === 'noncompliant' && state.since === m.episode ? await readDevice(m.deviceId) : undefined;
    const skip = stillApplies({ scheduled: !!action, state, episode: m.episode, device });
    // stillApplies goes on only with the action, the state and the device; the rest narrows their types.
    if (skip || !action || !state || !device)
      return await finish(skip?.status ?? 'cancelled', { reason: skip?.reason ?? 'no longer applies' });

    switch (action.type) {
      case 'markNoncompliant':
        await tables.devices.upsert({ partitionKey: pk, rowKey: stateKey(m.deviceId), markedAt: clock.iso() } as StateRow, 'merge');
        return await finish('done', { reason: 'marked noncompliant' });

      case 'email': {
        const sender = senderMailbox();
        if (!sender) return await finish('failed', { error: 'No sender mailbox: set COMPLIANCE_MAIL_SENDER (or ALERT_MAIL_SENDER).' });
        const template = await findTemplate(String(action.templateId));
        if (!template) return await finish('failed', { error: `Template '${String(action.templateId)}' no longer exists.` });
        const tag = instanceTag(m);
        if (retake && row.effectStartedAt) {
          if (await findSentMail(sender, tag)) return await finish('done', { reason: 'sent before an interruption (found in Sent Items)' });
          // Exchange may not have filed the copy yet, and the interrupted send may not even have landed:
          // unless Graph answered it, it may be on its way until the time limit of a Graph request.
          const landedBy = row.effectAnsweredMs ?? (row.effectStartedMs ?? 0) + config().GRAPH_TIMEOUT_SECONDS * 1000;
          const waitMs = landedBy + config().COMPLIANCE_SENT_ITEMS_WAIT_SECONDS * 1000 - clock.now();
          if (waitMs > 0) return await lookAgainLater(waitMs, 'Interrupted send not in Sent Items yet; looking again later');
        }
        const mail = await prepareMail(template, device, state.policyName, m.episode);
        if (!mail.to)
          return await finish('failed', { error: `User ${device.userPrincipalName ?? device.userId ?? '(none)'} has no mailbox address.` });
        const cc = (await groupMailboxes((action.additionalRecipientGroupIds as string[] | undefined) ?? [])).filter(
          (a) => a !== mail.to!.toLowerCase(),
        );
        await save({ effectStartedAt: clock.iso(), effectStartedMs: clock.now(), effectAnsweredMs: undefined });
        try {
          await mail.send([mail.to], cc, tag);
        } catch (e) {
          if (e instanceof GraphApiError) await save({ effectAnsweredMs: clock.now() });
          throw e;
        }
        return await finish('done', { sentTo: [mail.to, ...cc].join(', '), reason: `sent in ${mail.locale}` });
      }

      case 'remoteLock':
      case 'retire': {
        // Intune lists each device action in deviceActionResults: one newer than the baseline is ours.
        const { sent, latest } = deviceActionSent(action.type, device.deviceActionResults, row);
        if (retake && sent) return await finish('done', { reason: `${action.type} sent before an interruption (found on the device)` });
        if (retake && row.effectStartedAt) {
          // The interrupted request may still be on its way (Intune lists it once it lands): look
          // again once it can no longer be in flight, the time limit of a Graph request.
          const waitMs = config().GRAPH_TIMEOUT_SECONDS * 1000 - (clock.now() - (row.effectStartedMs ?? 0));
          if (waitMs > 0)
            return await lookAgainLater(waitMs, `Interrupted ${action.type} not listed on the device yet; looking again later`);
        }
        await save({ effectStartedAt: clock.iso(), effectStartedMs: clock.now(), actionBaseline: latest ?? '' });
        await graph().post(`/deviceManagement/managedDevices/${encodeURIComponent(m.deviceId)}/${action.type}`);
        return await finish('done', { reason: `${action.type} sent` });
      }
    }
  } catch (e) {
    if (e instanceof GraphApiError) {
      // Keep the claim and let the queue deliver again, unless this was the last delivery.
      if (e.transient && !d.finalDelivery) throw e;
      return await finish('failed', { error: e.summary });
    }
    throw e;
  }
}

/**
 * Sends every action due by now in one due partition to the runner queue, then removes those due
 * rows. A crash between the two sends them again later, which the runner's claim makes harmless.
 * Returns whether more are due than one page, so the caller can continue in a new message.
 */
export async function dispatchDue(partition: string, now = clock.iso()): Promise<{ sent: number; more: boolean }> {
  const due: DueRow[] = [];
  for await (const r of tables.due.query(odata`PartitionKey eq ${partition} and RowKey le ${`${now}~`}`)) {
    due.push(r.entity);
    if (due.length >= DISPATCH_PAGE) break;
  }
  await forEachLimit(due, SEND_CONCURRENCY, async (r) => {
    const msg: ActionMessage = { policyId: r.policyId, deviceId: r.deviceId, episode: r.episode, action: r.action };
    await queues.send(QUEUE_ACTIONS, 'action', msg, { key: actionKey(msg) });
  });
  await tables.due.writeMany(
    due.map((r) => ({ kind: 'delete' as const, partitionKey: r.partitionKey, rowKey: r.rowKey })),
    4,
  );
  return { sent: due.length, more: due.length >= DISPATCH_PAGE };
}

/**
 * Sends again every action of one ledger partition that is still pending well past its due time
 * and has no due row left: its message was lost (a poison queue, a storage fault between dispatch
 * and delivery). A duplicate message is harmless: the runner's claim lets one of them act.
 */
export async function sweepLost(partition: string, now = clock.now()): Promise<number> {
  const cutoff = new Date(now - LOST_AFTER_MS).toISOString();
  const lost: ActionMessage[] = [];
  for await (const { entity } of tables.devices.query(
    odata`PartitionKey eq ${partition} and RowKey ge ${'a|'} and RowKey lt ${'a|~'} and status eq ${'pending'} and dueAt lt ${cutoff}`,
  )) {
    const l = entity as LedgerRow;
    if (await tables.due.get(duePartition(l.deviceId), dueKey(l.dueAt, l.policyId, l.deviceId, l.episode, l.action))) continue;
    lost.push({ policyId: l.policyId, deviceId: l.deviceId, episode: l.episode, action: l.action });
  }
  await forEachLimit(lost, SEND_CONCURRENCY, (m) => queues.send(QUEUE_ACTIONS, 'action', m, { key: actionKey(m) }).then(() => undefined));
  return lost.length;
}
