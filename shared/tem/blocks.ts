import { odata } from '@azure/data-tables';
import { GraphApiError } from '../graph/client';
import { listGroupMembers } from '../graph/objects';
import { clock } from '../platform/clock';
import { ConcurrencyError } from '../platform/errors';
import type { Logger } from '../platform/log';
import { newestFirst, type Stored } from '../platform/storage/tables';
import { addMember, ensureEnforcement, removeMember } from './enforcement';
import { KINDS, tables, type BlockRow, type Kind, type LedgerRow, type LineRow } from './model';

/**
 * Block records and the groups that enforce them. A block record (one per provider, line and kind)
 * is decided first, with a conditional write, and Graph is brought to the decided state afterwards
 * (converge), idempotently and by device: the device is in the kind's group exactly when some
 * record for it is active. Deciding never waits on Graph, and a worker that lost a race or died
 * between the two steps leaves a record marked `pending`, which the next convergence of that device
 * (a redelivered event, a switch-off step, the reconciliation) settles.
 */

/** What one event means for one record; `id` and `at` order events (time, then webhook-id). */
export interface Signal {
  id: string;
  at: string;
  block: boolean;
}

export type Decision =
  /** A newer event was already recorded: this one changes nothing. */
  | { kind: 'older'; last: string }
  /** This very event was recorded before (a redelivery): only convergence may be left to do. */
  | { kind: 'again'; active: boolean }
  /** Record the event; `changed` when the block switches on or off. */
  | { kind: 'record'; active: boolean; changed: boolean };

export function decide(current: Pick<BlockRow, 'active' | 'lastEventAt' | 'lastEventId'> | undefined, signal: Signal): Decision {
  if (current) {
    if (current.lastEventId === signal.id) return { kind: 'again', active: current.active };
    const last = Date.parse(current.lastEventAt);
    const at = Date.parse(signal.at);
    if (last > at || (last === at && current.lastEventId > signal.id)) return { kind: 'older', last: current.lastEventAt };
  }
  return { kind: 'record', active: signal.block, changed: signal.block !== (current?.active ?? false) };
}

const blockKey = (line: string, kind: Kind) => `${line}|${kind}`;

/**
 * Records `signal` on the provider's record for the line and kind, deciding again on the fresh row
 * whenever another writer got there first. Answers the decision and the row as written.
 */
export async function record(
  providerId: string,
  line: LineRow,
  kind: Kind,
  signal: Signal,
  directoryObjectId: () => Promise<string | undefined>,
): Promise<{ decision: Decision; row?: BlockRow }> {
  let looked: { id: string | undefined } | undefined;
  for (;;) {
    const current = await tables.blocks.get(providerId, blockKey(line.rowKey, kind));
    const decision = decide(current?.entity, signal);
    if (decision.kind !== 'record') return { decision, row: current?.entity };
    const was = current?.entity;
    // Looked up in Graph at most once, however many times the write is retried.
    const objectId = was?.directoryObjectId ?? (looked ??= { id: await directoryObjectId() }).id;
    const row: BlockRow = {
      partitionKey: providerId,
      rowKey: blockKey(line.rowKey, kind),
      line: line.rowKey,
      kind,
      managedDeviceId: line.managedDeviceId,
      directoryObjectId: objectId,
      active: decision.active,
      lastEventAt: signal.at,
      lastEventId: signal.id,
      rev: (was?.rev ?? 0) + (decision.changed ? 1 : 0),
      // Without a device object there is no membership to bring Graph to.
      pending: !!objectId && (decision.changed || (was?.pending ?? false)),
      since: decision.changed || !was ? clock.iso() : (was.since ?? was.updatedAt),
      updatedAt: clock.iso(),
    };
    try {
      if (current) await tables.blocks.update(row, current.etag);
      else await tables.blocks.insert(row);
      return { decision, row };
    } catch (e) {
      if (!(e instanceof ConcurrencyError) && (e as { status?: number }).status !== 409) throw e;
    }
  }
}

/** Switches a record off (switch-off), unless it is off already; the event times stay as they are. */
export function close(providerId: string, rowKey: string): Promise<BlockRow | undefined> {
  return tables.blocks.modify(providerId, rowKey, (r) =>
    r?.active
      ? { ...r, active: false, rev: (r.rev ?? 0) + 1, pending: !!r.directoryObjectId, since: clock.iso(), updatedAt: clock.iso() }
      : undefined,
  );
}

/** How many times a device's records may change under one convergence before it is retried later. */
const CONVERGE_ROUNDS = 8;

/**
 * Brings the device's membership of the kind's group to what its records say, and answers it. The
 * records are read again after each Graph change: when another writer changed them meanwhile, the
 * change is made again from the fresh records, so the last change any worker makes is the one the
 * final records ask for. Records settled this way are no longer pending; `settled` runs just before
 * that, so what it writes (a ledger outcome) is never lost to a crash: until it is written the
 * records stay pending and are converged again.
 */
export async function converge(directoryObjectId: string, kind: Kind, settled?: () => Promise<void>): Promise<boolean> {
  const { groupId } = await ensureEnforcement(kind);
  let applied: string | undefined;
  for (let round = 0; round < CONVERGE_ROUNDS; round++) {
    const rows = await tables.blocks.list(odata`directoryObjectId eq ${directoryObjectId} and kind eq ${kind}`);
    const version = rows
      .map((r) => `${r.entity.partitionKey}/${r.entity.rowKey}/${r.entity.rev ?? 0}`)
      .sort()
      .join(' ');
    const member = rows.some((r) => r.entity.active);
    if (version === applied) {
      await settled?.();
      for (const r of rows) if (r.entity.pending) await settle(r);
      return member;
    }
    if (member) await addMember(groupId, directoryObjectId);
    else await removeMember(groupId, directoryObjectId);
    applied = version;
  }
  throw new Error(
    `The block records of device ${directoryObjectId} (${kind}) kept changing; the group membership is settled on the next attempt.`,
  );
}

async function settle(r: Stored<BlockRow>): Promise<void> {
  try {
    await tables.blocks.update({ ...r.entity, pending: false }, r.etag);
  } catch (e) {
    // Changed since: its writer converges it.
    if (!(e instanceof ConcurrencyError)) throw e;
  }
}

/** Ledger rows written by the reconciliation. */
async function repaired(
  providerIds: string[],
  row: Omit<LedgerRow, 'partitionKey' | 'rowKey' | 'at' | 'status'>,
  suffix: string,
): Promise<void> {
  const at = clock.iso();
  for (const providerId of new Set(providerIds)) {
    await tables.ledger.upsert({
      partitionKey: providerId,
      rowKey: `${newestFirst(Date.parse(at))}-reconcile-${suffix}`,
      at,
      status: 'repaired',
      ...row,
    } as LedgerRow);
  }
}

export interface Reconciliation {
  checked: number;
  added: number;
  removed: number;
  /** Devices whose repair Graph refused; the next run tries again. */
  failed: number;
}

/**
 * Compares every block record with the groups' actual members and repairs each difference, with a
 * ledger row: a blocked device missing from its group is added back, a member no active record asks
 * for is removed (whoever put it there), and pending records are settled.
 */
export async function reconcile(log: Logger): Promise<Reconciliation> {
  const out: Reconciliation = { checked: 0, added: 0, removed: 0, failed: 0 };
  /** Converges one device; a device Graph refuses is counted and left for the next run, not the end of this one. */
  const settleDevice = async (device: string, kind: Kind): Promise<boolean | undefined> => {
    try {
      return await converge(device, kind);
    } catch (e) {
      if (!(e instanceof GraphApiError) || e.transient) throw e;
      out.failed++;
      log.warn('TEM reconciliation could not repair a device', { device, kind, error: e.summary });
      return undefined;
    }
  };
  const providers = (await tables.providers.list()).map((p) => p.entity.rowKey);
  for (const kind of KINDS) {
    const setup = await tables.setup.get('setup', kind);
    if (!setup) continue; // never set up: no group to compare with
    const members = new Set<string>();
    for await (const m of listGroupMembers(setup.entity.groupId, [])) members.add(m.id);
    const byDevice = new Map<string, BlockRow[]>();
    for (const { entity } of await tables.blocks.list(odata`kind eq ${kind}`)) {
      if (entity.directoryObjectId) byDevice.set(entity.directoryObjectId, [...(byDevice.get(entity.directoryObjectId) ?? []), entity]);
    }
    for (const [device, rows] of byDevice) {
      out.checked++;
      const was = members.has(device);
      if (was === rows.some((r) => r.active) && !rows.some((r) => r.pending)) continue;
      const now = await settleDevice(device, kind);
      if (now === undefined || now === was) continue;
      const owners = rows.filter((r) => r.active === now);
      const lines = [...new Set(owners.map((r) => r.line))].join(', ');
      await repaired(
        owners.map((r) => r.partitionKey),
        {
          action: now ? 'block' : 'unblock',
          kind,
          line: lines,
          reason: now
            ? 'Reconciliation: the device was missing from the block group although its line is blocked; it was added back.'
            : 'Reconciliation: the device was in the block group although no active block asks for it; it was removed.',
        },
        `${owners[0]?.rowKey ?? device}`,
      );
      if (now) out.added++;
      else out.removed++;
    }
    for (const member of members) {
      if (byDevice.has(member)) continue;
      // In the group with no record at all: the records say it is not blocked. Converging reads the
      // records again, so a block recorded since the list above keeps its member.
      if ((await settleDevice(member, kind)) !== false) continue;
      await repaired(
        providers,
        {
          action: 'unblock',
          kind,
          reason: `Reconciliation: directory object ${member} was in the block group with no block record; it was removed.`,
        },
        `${kind}-${member}`,
      );
      out.removed++;
    }
  }
  log.info('TEM reconciliation', { ...out });
  return out;
}
