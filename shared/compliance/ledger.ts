import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { ACTION_TYPES } from './inputs';
import { notFound } from '../platform/errors';
import { forEachLimit } from '../platform/pool';
import { readDevice } from './notify';
import { devicePartition, ledgerPrefix, SCANNED, stateKey, tables, type LedgerRow, type StateRow } from './model';
import { listPolicies, schedules } from './schedules';

/** Reading the device states and action ledgers for the admin API. */

export const stateSchema = z.object({
  policyId: z.string(),
  policyName: z.string(),
  deviceId: z.string(),
  deviceName: z.string(),
  userPrincipalName: z.string().nullable(),
  operatingSystem: z.string().nullable(),
  osVersion: z.string().nullable(),
  managementAgent: z.string().nullable(),
  status: z.enum(['noncompliant', 'compliant', 'noLongerManaged']),
  noncompliantSince: z.string().nullable(),
  inGracePeriod: z.boolean().describe('Noncompliant, and the mark-noncompliant action has not run yet.'),
  graceUntil: z.string().nullable(),
  markedNoncompliantAt: z.string().nullable(),
  skipped: z.string().nullable().describe('Why no action runs for the device (partner-managed).'),
  resolvedAt: z.string().nullable(),
  lastSeenAt: z.string().describe('When a scan last saw the device in this state.'),
});

export const ledgerSchema = z.object({
  policyId: z.string(),
  deviceId: z.string(),
  episode: z.string().describe('When the noncompliance episode began.'),
  action: z.string().describe('<type>@<days>'),
  type: z.enum(ACTION_TYPES),
  days: z.number(),
  dueAt: z.string(),
  status: z.enum(['pending', 'running', 'done', 'failed', 'cancelled', 'skipped']),
  reason: z.string().nullable(),
  error: z.string().nullable(),
  sentTo: z.string().nullable(),
  attempts: z.number(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});

/** When a scan last finished planning each policy. */
async function lastScans(): Promise<Map<string, string>> {
  const rows = await tables.scans.list(odata`PartitionKey eq ${SCANNED}`);
  return new Map(rows.map((r) => [r.entity.rowKey, r.entity.finishedAt ?? '']));
}

/**
 * A device still noncompliant was seen by the last scan of its policy (one that did not see it
 * would have closed its episode), so its lastSeenAt is that scan's time; otherwise its own record.
 */
const seenAt = (s: StateRow, scans: Map<string, string>) => {
  const scanned = scans.get(s.policyId);
  return s.status === 'noncompliant' && scanned && scanned > s.lastSeenAt ? scanned : s.lastSeenAt;
};

const stateView = (s: StateRow, scans: Map<string, string>) => ({
  policyId: s.policyId,
  policyName: s.policyName,
  deviceId: s.deviceId,
  deviceName: s.deviceName,
  userPrincipalName: s.userPrincipalName ?? null,
  operatingSystem: s.operatingSystem ?? null,
  osVersion: s.osVersion ?? null,
  managementAgent: s.managementAgent ?? null,
  status: s.status,
  noncompliantSince: s.since ?? null,
  // Until the mark action has run, the device is in its grace period.
  inGracePeriod: s.status === 'noncompliant' && !s.markedAt && !s.skipped,
  graceUntil: s.graceUntil ?? null,
  markedNoncompliantAt: s.markedAt ?? null,
  skipped: s.skipped ?? null,
  resolvedAt: s.resolvedAt ?? null,
  lastSeenAt: seenAt(s, scans),
});

const ledgerView = (l: LedgerRow) => ({
  policyId: l.policyId,
  deviceId: l.deviceId,
  episode: l.episode,
  action: l.action,
  type: l.type,
  days: l.days,
  dueAt: l.dueAt,
  status: l.status,
  reason: l.reason ?? null,
  error: l.error ?? null,
  sentTo: l.sentTo ?? null,
  attempts: l.attempts,
  updatedAt: l.updatedAt,
  finishedAt: l.finishedAt ?? null,
});

/** One device across the tenant's policies (and any with a schedule): its state per policy and its ledger, oldest first. */
export async function deviceLedger(deviceId: string) {
  const [policies, configured, scans] = await Promise.all([listPolicies(), schedules(), lastScans()]);
  const policyIds = [...new Set([...policies.map((p) => p.id), ...configured.keys()])];
  const states: ReturnType<typeof stateView>[] = [];
  const actions: ReturnType<typeof ledgerView>[] = [];
  await forEachLimit(policyIds, 8, async (policyId) => {
    const pk = devicePartition(policyId, deviceId);
    const state = await tables.devices.get(pk, stateKey(deviceId));
    if (state) states.push(stateView(state.entity as StateRow, scans));
    const prefix = ledgerPrefix(deviceId);
    for await (const r of tables.devices.query(odata`PartitionKey eq ${pk} and RowKey ge ${prefix} and RowKey lt ${`${prefix}~`}`))
      actions.push(ledgerView(r.entity as LedgerRow));
  });
  actions.sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.action.localeCompare(b.action));
  // No records: a device Intune has (never noncompliant yet) is an empty answer; any other id is a 404.
  if (!states.length && !actions.length && !(await readDevice(deviceId)))
    throw notFound(`No managed device '${deviceId}' in Intune, and no compliance records for it.`);
  return { deviceId, states, actions };
}

/** Open alerts for the overview: actions that ended failed (each row says why: no sender, no mailbox, a Graph refusal). */
export async function countFailedActions(): Promise<number> {
  return (await tables.ledger.list(odata`RowKey ge ${'a|'} and RowKey lt ${'a|~'} and status eq ${'failed'}`)).length;
}

/** One page of device states across policies, filtered by status. */
export async function listDeviceStates(status: StateRow['status'] | undefined, top: number, token?: string) {
  const filter = status
    ? odata`RowKey ge ${'s|'} and RowKey lt ${'s|~'} and status eq ${status}`
    : odata`RowKey ge ${'s|'} and RowKey lt ${'s|~'}`;
  const [scans, { rows, next }] = await Promise.all([lastScans(), tables.devices.page(filter, top, token)]);
  return { value: rows.map((r) => stateView(r.entity as StateRow, scans)), next };
}
