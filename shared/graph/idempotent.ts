import { EntityTable, type Entity } from '../platform/storage/tables';

/**
 * Creates in Graph that happen once per idempotency key, however often they are retried or the
 * process crashes. A ledger row is written before the create; when a later attempt finds the row
 * still pending (the earlier outcome is unknown), it looks for the object in Graph before creating.
 */
export interface CreateLedgerRow extends Entity {
  state: 'pending' | 'done';
  resourceId?: string;
  attempts: number;
  updatedAt: string;
}

export interface CreateOnce<T> {
  /** Finds the object an earlier attempt may have created (by a name or property derived from the key). */
  find: () => Promise<T | undefined>;
  create: () => Promise<T>;
  idOf: (created: T) => string;
}

export class CreateLedger {
  constructor(readonly table = new EntityTable<CreateLedgerRow>('graphcreates')) {}

  /** Returns the id of the object for (scope, key), creating it in Graph at most once. */
  async createOnce<T>(scope: string, key: string, op: CreateOnce<T>): Promise<{ id: string; created: boolean }> {
    const row = await this.table.get(scope, key);
    if (row?.entity.state === 'done' && row.entity.resourceId) return { id: row.entity.resourceId, created: false };
    if (row) {
      const found = await op.find();
      if (found) {
        await this.done(scope, key, op.idOf(found), row.entity.attempts);
        return { id: op.idOf(found), created: false };
      }
    }
    const attempts = (row?.entity.attempts ?? 0) + 1;
    await this.table.upsert({ partitionKey: scope, rowKey: key, state: 'pending', attempts, updatedAt: new Date().toISOString() });
    const created = await op.create();
    await this.done(scope, key, op.idOf(created), attempts);
    return { id: op.idOf(created), created: true };
  }

  private async done(scope: string, key: string, resourceId: string, attempts: number) {
    await this.table.upsert({ partitionKey: scope, rowKey: key, state: 'done', resourceId, attempts, updatedAt: new Date().toISOString() });
  }
}
