import { odata } from '@azure/data-tables';
import { notFound } from '../platform/errors';
import { forEachLimit } from '../platform/pool';
import { readDevice } from './notify';
import { devicePartition, ledgerPrefix, stateKey, tables, type LedgerRow, type StateRow } from './model';
import { listPolicies, schedules } from './schedules';

/** Reading the device states and action ledgers for the admin API. */

const stateView = (s: StateRow) => ({
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
  lastSeenAt: s.lastSeenAt,
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
  const [policies, configured] = await Promise.all([listPolicies(), schedules()]);
  const policyIds = [...new Set([...policies.map((p) => p.id), ...configured.keys()])];
  const states: ReturnType<typeof stateView>[] = [];
  const actions: ReturnType<typeof ledgerView>[] = [];
  await forEachLimit(policyIds, 8, async (policyId) => {
    const pk = devicePartition(policyId, deviceId);
    const state = await tables.devices.get(pk, stateKey(deviceId));
    if (state) states.push(stateView(state.entity as StateRow));
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

/** Device states across policies, filtered by status, at most `top`. */
export async function listDeviceStates(status: StateRow['status'] | undefined, top: number) {
  const filter = status
    ? odata`RowKey ge ${'s|'} and RowKey lt ${'s|~'} and status eq ${status}`
    : odata`RowKey ge ${'s|'} and RowKey lt ${'s|~'}`;
  return (await tables.devices.list(filter, top)).map((r) => stateView(r.entity as StateRow));
}
