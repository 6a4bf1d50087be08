import { odata } from '@azure/data-tables';
import { graph } from '../graph/client';
import { allManagedDevices, type ManagedDevice, type Read } from '../graph/objects';
import { clock } from '../platform/clock';
import { ConcurrencyError } from '../platform/errors';
import type { Logger } from '../platform/log';
import { forEachLimit } from '../platform/pool';
import { partDone, setOutcome, setTotal } from '../platform/runs';
import { queues } from '../platform/storage/queues';
import type { TableAction } from '../platform/storage/tables';
import {
  allDuePartitions,
  DAY_MS,
  devicePartition,
  duePartition,
  dueKey,
  ledgerKey,
  PARTNER_AGENTS,
  QUEUE_JOBS,
  SCANNED,
  SHARDS,
  shardKey,
  stateKey,
  tables,
  type DeviceStatus,
  type DueRow,
  type JobMessage,
  type LedgerRow,
  type ObservedDevice,
  type StateRow,
} from './model';
import { sweepLost } from './runner';
import { defaultActions, listPolicies, schedules, type ScheduledAction } from './schedules';

/**
 * Detection and planning. A scan reads, per compliance policy, which devices are noncompliant now;
 * a device newly noncompliant gets a state row (since when, grace until) and one ledger row and one
 * due-index row per scheduled action; a device compliant again has its pending actions cancelled.
 */

const DEVICE_FIELDS = [
  'deviceName',
  'userId',
  'userPrincipalName',
  'operatingSystem',
  'osVersion',
  'complianceState',
  'managementAgent',
] as const;
type GraphDevice = Read<ManagedDevice, (typeof DEVICE_FIELDS)[number]>;

interface GraphStatus {
  deviceDisplayName?: string | null;
  userPrincipalName?: string | null;
  status?: string;
}

const CONCURRENCY = 8;
const matchKey = (name?: string | null, upn?: string | null) => `${(name ?? '').toLowerCase()}|${(upn ?? '').toLowerCase()}`;
const addDays = (iso: string, days: number) => new Date(Date.parse(iso) + days * DAY_MS).toISOString();

export interface PlanResult {
  newlyNoncompliant: number;
  planned: number;
  skipped: number;
  resolved: number;
  /** Devices that left Intune while noncompliant. */
  removed: number;
  cancelled: number;
  /** Actions past due whose message was lost, sent again (see sweepLost). */
  resent?: number;
}

/**
 * One policy's plan against what is stored: `noncompliant` are the devices noncompliant now.
 * Writes due-index rows before the state and ledger rows they point to, so a crash between the two
 * leaves only due rows without a ledger row (the runner drops those) and the next scan replans.
 */
export async function planPolicy(
  policy: { id: string; displayName: string },
  actions: ScheduledAction[],
  noncompliant: ObservedDevice[],
  stored: StateRow[],
  now = clock.iso(),
  managed?: Set<string>,
): Promise<PlanResult> {
  const result: PlanResult = { newlyNoncompliant: 0, planned: 0, skipped: 0, resolved: 0, removed: 0, cancelled: 0 };
  const storedById = new Map(stored.map((s) => [s.deviceId, s]));
  const current = new Set(noncompliant.map((d) => d.deviceId));
  const deviceWrites: TableAction<StateRow | LedgerRow>[] = [];
  const dueWrites: TableAction<DueRow>[] = [];
  const mark = actions.find((a) => a.type === 'markNoncompliant') ?? { days: 0 };

  for (const d of noncompliant) {
    const prior = storedById.get(d.deviceId);
    const open = prior?.status === 'noncompliant' && prior.since ? prior : undefined;
    const already = new Set(open?.planned ? open.planned.split(',') : []);
    const todo = actions.filter((a) => !already.has(a.id));
    if (open && todo.length === 0) continue; // nothing new for this device
    const since = open?.since ?? now;
    const pk = devicePartition(policy.id, d.deviceId);
    const partner = d.managementAgent && PARTNER_AGENTS.has(d.managementAgent) ? 'partner-managed' : undefined;
    if (!open) result.newlyNoncompliant++;
    // Ledger rows first, then the state row that records them as planned: if a crash splits the
    // two, the next scan plans again rather than believing rows exist that do not.
    for (const a of todo) {
      const dueAt = addDays(since, a.days);
      const row: LedgerRow = {
        partitionKey: pk,
        rowKey: ledgerKey(d.deviceId, since, a.id),
        policyId: policy.id,
        deviceId: d.deviceId,
        episode: since,
        action: a.id,
        type: a.type,
        days: a.days,
        dueAt,
        status: partner ? 'skipped' : 'pending',
        reason: partner,
        attempts: 0,
        updatedAt: now,
        finishedAt: partner ? now : undefined,
      };
      deviceWrites.push({ kind: 'upsert', entity: row });
      if (partner) result.skipped++;
      else {
        result.planned++;
        dueWrites.push({
          kind: 'upsert',
          entity: {
            partitionKey: duePartition(d.deviceId),
            rowKey: dueKey(dueAt, policy.id, d.deviceId, since, a.id),
            policyId: policy.id,
            deviceId: d.deviceId,
            episode: since,
            action: a.id,
          },
        });
      }
    }
    const state: StateRow = {
      partitionKey: pk,
      rowKey: stateKey(d.deviceId),
      policyId: policy.id,
      policyName: policy.displayName,
      deviceId: d.deviceId,
      deviceName: d.deviceName,
      userId: d.userId,
      userPrincipalName: d.userPrincipalName,
      operatingSystem: d.operatingSystem,
      osVersion: d.osVersion,
      managementAgent: d.managementAgent,
      status: 'noncompliant',
      since,
      graceUntil: addDays(since, mark.days),
      planned: [...already, ...todo.map((a) => a.id)].filter(Boolean).join(','),
      skipped: partner,
      lastSeenAt: now,
    };
    // An open episode merges (keeping what the runner recorded, e.g. markedAt); a new one replaces the last.
    deviceWrites.push({ kind: 'upsert', entity: state, mode: open ? 'merge' : 'replace' });
  }

  // Devices noncompliant before and not now: close the episode, cancel what has not run. A device
  // Intune no longer has is not "compliant again": it is closed as no longer managed.
  const resolved = stored.filter((s) => s.status === 'noncompliant' && !current.has(s.deviceId));
  await tables.due.writeMany(dueWrites, CONCURRENCY);
  await tables.devices.writeMany(deviceWrites, CONCURRENCY);
  await forEachLimit(resolved, CONCURRENCY, async (s) => {
    const gone = managed !== undefined && !managed.has(s.deviceId);
    if (gone) result.removed++;
    else result.resolved++;
    const cancelled = await closeEpisode(s, now, gone ? 'noLongerManaged' : 'compliant');
    result.cancelled += cancelled; // added after the await: the pool's other closings add to it meanwhile
  });
  return result;
}

const CLOSE_REASON: Record<Exclude<DeviceStatus, 'noncompliant'>, string> = {
  compliant: 'device compliant again',
  noLongerManaged: 'device no longer managed (removed from Intune)',
};

/** Closes a device's episode (compliant again, or gone from Intune) and cancels its pending actions. */
async function closeEpisode(s: StateRow, now: string, status: Exclude<DeviceStatus, 'noncompliant'>): Promise<number> {
  const reason = CLOSE_REASON[status];
  const prefix = ledgerKey(s.deviceId, s.since!, '');
  const cancelled = await cancelPending(
    odata`PartitionKey eq ${s.partitionKey} and RowKey ge ${prefix} and RowKey lt ${`${prefix}~`}`,
    () => true,
    reason,
    now,
  );
  await tables.devices.upsert({ ...s, status, resolvedAt: now, lastSeenAt: now });
  return cancelled;
}

/** Cancels the pending ledger rows the filter finds and `which` picks, with their due rows. */
async function cancelPending(filter: string, which: (l: LedgerRow) => boolean, reason: string, now: string): Promise<number> {
  let cancelled = 0;
  for await (const r of tables.devices.query(filter)) {
    const l = r.entity as LedgerRow;
    if (l.status !== 'pending' || !which(l)) continue;
    try {
      await tables.devices.update({ ...l, status: 'cancelled', reason, updatedAt: now, finishedAt: now }, r.etag);
      await tables.due.delete(duePartition(l.deviceId), dueKey(l.dueAt, l.policyId, l.deviceId, l.episode, l.action));
      cancelled++;
    } catch (e) {
      // A runner claimed it meanwhile; it re-checks the device and the schedule and cancels itself.
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
  return cancelled;
}

/**
 * After a schedule edit: the pending actions of open episodes that the new schedule no longer has
 * are cancelled now (not when they would have fallen due), so the ledger never shows as pending an
 * action that will not run. Actions the edit added are planned by the next scan.
 */
export async function cancelRemovedActions(policyId: string, keep: ScheduledAction[], now = clock.iso()): Promise<number> {
  const ids = new Set(keep.map((a) => a.id));
  let cancelled = 0;
  await forEachLimit(shardPartitions(policyId), CONCURRENCY, async (pk) => {
    const n = await cancelPending(
      odata`PartitionKey eq ${pk} and RowKey ge ${'a|'} and RowKey lt ${'a|~'} and status eq ${'pending'}`,
      (l) => !ids.has(l.action),
      'removed from the policy schedule',
      now,
    );
    cancelled += n; // added after the await: the other shards add to it meanwhile
  });
  return cancelled;
}

const shardPartitions = (policyId: string) => Array.from({ length: SHARDS }, (_, i) => `${policyId}|${shardKey(i)}`);

/** Stored state rows of one policy (all shards). */
async function storedStates(policyId: string): Promise<StateRow[]> {
  const out: StateRow[] = [];
  await forEachLimit(shardPartitions(policyId), CONCURRENCY, async (pk) => {
    for await (const r of tables.devices.query(odata`PartitionKey eq ${pk} and RowKey ge ${'s|'} and RowKey lt ${'s|~'}`))
      out.push(r.entity as StateRow);
  });
  return out;
}

/**
 * A full scan: every compliance policy, its device statuses matched to managed devices by device
 * name and user (deviceComplianceDeviceStatus carries no device id), then a plan per policy and
 * one dispatch job per due partition.
 */
export async function scan(runId: string, log: Logger): Promise<Record<string, PlanResult>> {
  const now = clock.iso();
  const [policies, configured, devices] = await Promise.all([listPolicies(), schedules(), allManagedDevices(DEVICE_FIELDS)]);
  const byKey = new Map<string, GraphDevice[]>();
  for (const d of devices) {
    const k = matchKey(d.deviceName, d.userPrincipalName);
    byKey.set(k, [...(byKey.get(k) ?? []), d]);
  }
  const results: Record<string, PlanResult> = {};
  const partitions = allDuePartitions();
  await setTotal(runId, policies.length + partitions.length);
  for (const policy of policies) {
    const actions = configured.get(policy.id)?.actions ?? defaultActions();
    const statuses = await graph().all<GraphStatus>(
      `/deviceManagement/deviceCompliancePolicies/${encodeURIComponent(policy.id)}/deviceStatuses`,
      { $select: 'deviceDisplayName,userPrincipalName,status' },
    );
    const noncompliant = new Map<string, ObservedDevice>();
    for (const s of statuses) {
      if (s.status !== 'nonCompliant') continue;
      // The policy says noncompliant; act only where Intune's device record agrees (not a stale report).
      for (const d of byKey.get(matchKey(s.deviceDisplayName, s.userPrincipalName)) ?? []) {
        if (d.complianceState !== 'noncompliant' && d.complianceState !== 'inGracePeriod') continue;
        noncompliant.set(d.id, {
          deviceId: d.id,
          deviceName: d.deviceName,
          userId: d.userId ?? undefined,
          userPrincipalName: d.userPrincipalName ?? undefined,
          operatingSystem: d.operatingSystem ?? undefined,
          osVersion: d.osVersion ?? undefined,
          managementAgent: d.managementAgent,
        });
      }
    }
    results[policy.id] = await planPolicy(
      policy,
      actions,
      [...noncompliant.values()],
      await storedStates(policy.id),
      now,
      new Set(devices.map((d) => d.id)),
    );
    let resent = 0;
    await forEachLimit(shardPartitions(policy.id), CONCURRENCY, async (pk) => {
      const n = await sweepLost(pk, Date.parse(now));
      resent += n; // added after the await: the other shards add to it meanwhile
    });
    results[policy.id].resent = resent;
    // This scan saw every device it left noncompliant: their lastSeenAt is this time (ledger.ts).
    await tables.scans.upsert({ partitionKey: SCANNED, rowKey: policy.id, runId, finishedAt: now });
    await partDone(runId, `policy:${policy.id}`, { counters: { ...results[policy.id] } });
  }
  await setOutcome(runId, { devicesRead: devices.length, policies: results });
  await forEachLimit(partitions, CONCURRENCY, async (partition) => {
    await queues.send(QUEUE_JOBS, 'dispatch', { kind: 'dispatch', runId, partition } satisfies JobMessage, {
      key: `${runId}|${partition}`,
    });
  });
  log.info('Compliance scan planned', { runId, policies: policies.length, devices: devices.length, results });
  return results;
}
