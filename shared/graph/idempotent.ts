import { clock } from '../platform/clock';
import { AppError, ConcurrencyError } from '../platform/errors';
import { EntityTable, type Entity } from '../platform/storage/tables';

/**
 * Creates in Graph that happen once per idempotency key, however often they are retried, however
 * many workers race for them, and whether or not a process crashes midway. A caller claims the key
 * with a ledger row (an insert, so only one wins) before creating. Others get a retriable
 * CreateInProgressError while the claim is held. A creator whose call fails releases the claim; one
 * that died holds it until it is stale. Either way the next caller takes over and looks for the
 * object in Graph (an ambiguous failure may have created it) before creating it again.
 */
export interface CreateLedgerRow extends Entity {
  state: 'pending' | 'done';
  resourceId?: string;
  attempts: number;
  claimedAt: number;
}

export interface CreateOnce<T> {
  /** Finds the object an earlier attempt may have created (by a name or property derived from the key). */
  find: () => Promise<T | undefined>;
  create: () => Promise<T>;
  idOf: (created: T) => string;
}

/** Another worker is creating the same object; try again shortly (queue handlers just rethrow). */
export class CreateInProgressError extends AppError {
  constructor(scope: string, key: string) {
    super(409, 'Conflict', `Creating ${scope}/${key} is in progress elsewhere; retry shortly.`);
    this.name = 'CreateInProgressError';
  }
}

/** How long a claim protects its creator before another caller may take over. */
export const CLAIM_MS = 60_000;

export class CreateLedger {
  constructor(readonly table = new EntityTable<CreateLedgerRow>('graphcreates')) {}

  /** Returns the id of the object for (scope, key), creating it in Graph at most once. */
  async createOnce<T>(scope: string, key: string, op: CreateOnce<T>): Promise<{ id: string; created: boolean }> {
    let row = await this.table.get(scope, key);
    if (row?.entity.state === 'done' && row.entity.resourceId) return { id: row.entity.resourceId, created: false };
    const now = clock.now();
    let attempts: number;
    if (!row) {
      try {
        await this.table.insert({ partitionKey: scope, rowKey: key, state: 'pending', attempts: 1, claimedAt: now });
        attempts = 1;
      } catch (e) {
        if ((e as AppError).status === 409) throw new CreateInProgressError(scope, key);
        throw e;
      }
    } else {
      if (now - row.entity.claimedAt < CLAIM_MS) throw new CreateInProgressError(scope, key);
      attempts = row.entity.attempts + 1;
      try {
        await this.table.update({ ...row.entity, attempts, claimedAt: now }, row.etag);
      } catch (e) {
        if (e instanceof ConcurrencyError) throw new CreateInProgressError(scope, key);
        throw e;
      }
      // The earlier creator may have succeeded before it died.
      const found = await op.find();
      if (found) return { id: await this.done(scope, key, op.idOf(found), attempts), created: false };
    }
    let created: T;
    try {
      created = await op.create();
    } catch (e) {
      // This creator is done trying: release the claim, so the next attempt looks before creating.
      row = await this.table.get(scope, key);
      if (row?.entity.state === 'pending') await this.table.update({ ...row.entity, claimedAt: 0 }, row.etag).catch(() => undefined);
      throw e;
    }
    return { id: await this.done(scope, key, op.idOf(created), attempts), created: true };
  }

  private async done(scope: string, key: string, resourceId: string, attempts: number): Promise<string> {
    await this.table.upsert({ partitionKey: scope, rowKey: key, state: 'done', resourceId, attempts, claimedAt: clock.now() });
    return resourceId;
  }
}
