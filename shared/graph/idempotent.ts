import { randomUUID } from 'node:crypto';
import { AppError } from '../platform/errors';
import { claim, release, type Claimable } from '../platform/storage/claims';
import { EntityTable } from '../platform/storage/tables';

/**
 * Creates in Graph that happen once per idempotency key, however often they are retried, however
 * many workers race for them, and whether or not a process crashes midway. A caller claims the key
 * with a ledger row (an insert, so only one wins) before creating. Others get a retriable
 * CreateInProgressError while the claim is held. A creator whose call fails releases the claim; one
 * that died holds it until it is stale. Either way the next caller takes over and looks for the
 * object in Graph (an ambiguous failure may have created it) before creating it again.
 */
export interface CreateLedgerRow extends Claimable {
  state: 'pending' | 'done';
  resourceId?: string;
  attempts: number;
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
    const holder = randomUUID();
    const claimed = await claim(this.table, scope, key, {
      holder,
      forMs: CLAIM_MS,
      create: () => ({ state: 'pending', attempts: 1 }),
      done: (row) => row.state === 'done' && !!row.resourceId,
      take: (row) => ({ ...row, attempts: row.attempts + 1 }),
    });
    if (claimed.status === 'done') return { id: claimed.row.resourceId!, created: false };
    if (claimed.status !== 'claimed') throw new CreateInProgressError(scope, key);
    const { attempts } = claimed.row;
    if (!claimed.fresh) {
      // An earlier creator may have succeeded before it died or failed ambiguously.
      const found = await op.find();
      if (found) return { id: await this.done(scope, key, op.idOf(found), attempts), created: false };
    }
    let created: T;
    try {
      created = await op.create();
    } catch (e) {
      // This creator is done trying: release the claim, so the next attempt looks before creating.
      await release(this.table, scope, key, holder).catch(() => undefined);
      throw e;
    }
    return { id: await this.done(scope, key, op.idOf(created), attempts), created: true };
  }

  private async done(scope: string, key: string, resourceId: string, attempts: number): Promise<string> {
    await this.table.upsert({ partitionKey: scope, rowKey: key, state: 'done', resourceId, attempts });
    return resourceId;
  }
}
