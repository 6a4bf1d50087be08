import { RestError, type TableClient, type TransactionAction } from '@azure/data-tables';
import { AppError, ConcurrencyError, StorageLimitError, badRequest, conflict } from '../errors';
import { forEachLimit } from '../pool';
import { storage } from './connection';
import type { TableName } from './resources';

/**
 * Typed Table Storage access. Azure's limits are enforced here, before anything is sent, because
 * Azurite accepts what Azure rejects: a write either passes every guard or nothing is written.
 */

export type Scalar = string | number | boolean | null | undefined;

/** A row key that sorts newest first (Table Storage lists in ascending key order). */
export const newestFirst = (ms: number) => String(9_999_999_999_999 - ms).padStart(13, '0');
export interface Entity {
  partitionKey: string;
  rowKey: string;
  [property: string]: Scalar;
}
export interface Stored<T extends Entity> {
  entity: T;
  etag: string;
}

// Azure Table Storage limits (learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model).
export const LIMITS = {
  entityBytes: 1024 * 1024,
  customProperties: 252,
  propertyBytes: 64 * 1024,
  keyBytes: 1024,
  transactionOperations: 100,
  transactionBytes: 4 * 1024 * 1024,
} as const;

// Azure refuses keys with / \ # ? and control characters (C0 and C1).
// eslint-disable-next-line no-control-regex
const KEY_FORBIDDEN = /[/\\#?\u0000-\u001f\u007f-\u009f]/;
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
const SYSTEM = new Set(['partitionKey', 'rowKey', 'timestamp', 'etag', 'odata.etag', 'odata.metadata']);

/** The entity's size as Azure counts it: 4 + keys (UTF-16) + per property 8 + name (UTF-16) + value. */
export function entitySize(e: Entity): number {
  let size = 4 + (e.partitionKey.length + e.rowKey.length) * 2;
  for (const [name, value] of Object.entries(e)) {
    if (SYSTEM.has(name) || value === undefined || value === null) continue;
    size += 8 + name.length * 2 + valueSize(value);
  }
  return size;
}

function valueSize(v: Exclude<Scalar, null | undefined>): number {
  if (typeof v === 'string') return 4 + v.length * 2;
  if (typeof v === 'boolean') return 1;
  return 8;
}

/** Throws a StorageLimitError naming the first limit the entity breaks. */
export function checkEntity(table: string, e: Entity): void {
  const where = `table '${table}', entity (${JSON.stringify(e.partitionKey)}, ${JSON.stringify(e.rowKey)})`;
  for (const key of ['partitionKey', 'rowKey'] as const) {
    const v = e[key];
    if (typeof v !== 'string') throw new StorageLimitError(`${where}: ${key} must be a string.`);
    if (v.length * 2 > LIMITS.keyBytes)
      throw new StorageLimitError(`${where}: ${key} is ${v.length * 2} bytes; Azure allows at most ${LIMITS.keyBytes}.`);
    if (KEY_FORBIDDEN.test(v))
      throw new StorageLimitError(
        `${where}: ${key} contains '/', '\\', '#', '?' or a control character, which Azure does not allow in keys.`,
      );
  }
  let count = 0;
  for (const [name, value] of Object.entries(e)) {
    if (SYSTEM.has(name) || value === undefined) continue;
    count++;
    if (!PROPERTY_NAME.test(name))
      throw new StorageLimitError(`${where}: property name '${name}' is not a valid C# identifier of at most 255 characters.`);
    if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
      throw new StorageLimitError(
        `${where}: property '${name}' is a ${typeof value}; store strings, numbers or booleans (serialize objects to JSON first).`,
      );
    }
    if (typeof value === 'string' && value.length * 2 > LIMITS.propertyBytes) {
      throw new StorageLimitError(
        `${where}: property '${name}' is ${value.length * 2} bytes as UTF-16; Azure allows at most ${LIMITS.propertyBytes} (64 KiB) per string.`,
      );
    }
  }
  if (count > LIMITS.customProperties)
    throw new StorageLimitError(
      `${where}: ${count} properties; Azure allows at most ${LIMITS.customProperties} besides PartitionKey, RowKey and Timestamp.`,
    );
  const size = entitySize(e);
  if (size > LIMITS.entityBytes)
    throw new StorageLimitError(`${where}: ${size} bytes; Azure allows at most ${LIMITS.entityBytes} (1 MiB) per entity.`);
}

export type TableAction<T extends Entity> =
  | { kind: 'insert'; entity: T }
  | { kind: 'upsert'; entity: T; mode?: 'merge' | 'replace' }
  | { kind: 'update'; entity: T; etag?: string; mode?: 'merge' | 'replace' }
  | { kind: 'delete'; partitionKey: string; rowKey: string };

const keysOf = (a: TableAction<Entity>) =>
  a.kind === 'delete' ? { pk: a.partitionKey, rk: a.rowKey } : { pk: a.entity.partitionKey, rk: a.entity.rowKey };
// A changeset part carries headers and boundaries besides the JSON body; 1 KiB is a safe bound.
const actionBytes = (a: TableAction<Entity>) => 1024 + (a.kind === 'delete' ? 0 : Buffer.byteLength(JSON.stringify(a.entity)));

/** Serializes for the SDK: integers beyond Int32 travel as Edm.Double so Azure does not reject them. */
function toWire(e: Entity): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'number' && Number.isInteger(v) && (v > 2147483647 || v < -2147483648) ? { value: String(v), type: 'Double' } : v;
  }
  return out;
}

function fromWire<T extends Entity>(raw: Record<string, unknown>): Stored<T> {
  const { etag, timestamp: _ts, 'odata.metadata': _m, ...rest } = raw as Record<string, unknown> & { etag: string };
  return { entity: rest as T, etag };
}

const statusOf = (e: unknown) => (e instanceof RestError ? e.statusCode : undefined);

export class EntityTable<T extends Entity> {
  private ready?: Promise<void>;

  constructor(
    readonly name: TableName,
    private readonly clientFor: () => TableClient = () => storage().table(name),
  ) {}

  private get client() {
    return this.clientFor();
  }

  /** Creates the table once per process (idempotent: an existing table is fine). */
  ensure(): Promise<void> {
    return (this.ready ??= this.client.createTable().catch((e) => {
      this.ready = undefined;
      throw e;
    }));
  }

  async get(partitionKey: string, rowKey: string): Promise<Stored<T> | undefined> {
    await this.ensure();
    try {
      return fromWire<T>(await this.client.getEntity(partitionKey, rowKey));
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Inserts; a row with the same keys gives a 409 AppError. Returns the new ETag. */
  async insert(entity: T): Promise<string> {
    checkEntity(this.name, entity);
    await this.ensure();
    try {
      return (await this.client.createEntity(toWire(entity) as Entity)).etag ?? '';
    } catch (e) {
      if (statusOf(e) === 409) throw conflict(`A row (${entity.partitionKey}, ${entity.rowKey}) already exists in '${this.name}'.`);
      throw e;
    }
  }

  async upsert(entity: T, mode: 'merge' | 'replace' = 'replace'): Promise<string> {
    checkEntity(this.name, entity);
    await this.ensure();
    return (await this.client.upsertEntity(toWire(entity) as Entity, mode === 'merge' ? 'Merge' : 'Replace')).etag ?? '';
  }

  /** Updates only if the row still has `etag` (optimistic concurrency); otherwise ConcurrencyError. */
  async update(entity: T, etag: string, mode: 'merge' | 'replace' = 'replace'): Promise<string> {
    checkEntity(this.name, entity);
    await this.ensure();
    try {
      return (await this.client.updateEntity(toWire(entity) as Entity, mode === 'merge' ? 'Merge' : 'Replace', { etag })).etag ?? '';
    } catch (e) {
      const s = statusOf(e);
      if (s === 412 || s === 404)
        throw new ConcurrencyError(
          `Row (${entity.partitionKey}, ${entity.rowKey}) in '${this.name}' changed or vanished since it was read.`,
        );
      throw e;
    }
  }

  /** Deletes; a missing row is not an error. With an ETag, only that version is deleted. */
  async delete(partitionKey: string, rowKey: string, etag = '*'): Promise<void> {
    await this.ensure();
    try {
      await this.client.deleteEntity(partitionKey, rowKey, { etag });
    } catch (e) {
      const s = statusOf(e);
      if (s === 404) return;
      if (s === 412) throw new ConcurrencyError(`Row (${partitionKey}, ${rowKey}) in '${this.name}' changed since it was read.`);
      throw e;
    }
  }

  /**
   * Deletes the rows matching `filter` (the purge of expired rows). A row changed since it was read
   * is left: whoever changed it still uses it. Returns how many were deleted.
   */
  async deleteWhere(filter: string): Promise<number> {
    let deleted = 0;
    for await (const row of this.query(filter)) {
      try {
        await this.delete(row.entity.partitionKey, row.entity.rowKey, row.etag);
        deleted++;
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
    return deleted;
  }

  /**
   * Read-modify-write under optimistic concurrency: `change` gets the row (undefined when there is
   * none) and returns the row to write, or undefined to write nothing. When another writer gets in
   * between, the row is read and `change` run again, so `change` must only compute. Returns the row
   * as written, or as read when nothing was written.
   */
  async modify(partitionKey: string, rowKey: string, change: (row: T | undefined) => T | undefined, attempts = 10): Promise<T | undefined> {
    for (let attempt = 1; ; attempt++) {
      const got = await this.get(partitionKey, rowKey);
      const next = change(got ? { ...got.entity } : undefined);
      if (!next) return got?.entity;
      try {
        if (got) await this.update(next, got.etag);
        else await this.insert(next);
        return next;
      } catch (e) {
        const lost = e instanceof ConcurrencyError || (e instanceof AppError && e.status === 409);
        if (!lost || attempt >= attempts) throw e;
      }
    }
  }

  /** Rows matching an OData filter (use `odata` from @azure/data-tables to build it), page by page. */
  async *query(filter?: string, pageSize = 1000): AsyncGenerator<Stored<T>> {
    await this.ensure();
    const pages = this.client.listEntities({ queryOptions: filter ? { filter } : undefined }).byPage({ maxPageSize: pageSize });
    for await (const page of pages) for (const raw of page) yield fromWire<T>(raw);
  }

  /**
   * One page of rows and the token of the next page (none on the last). A page may hold fewer rows
   * than `size` and still have a next one (Azure ends pages at its own limits): follow the token.
   */
  async page(filter: string | undefined, size: number, token?: string): Promise<{ rows: Stored<T>[]; next?: string }> {
    await this.ensure();
    try {
      const pages = this.client
        .listEntities({ queryOptions: filter ? { filter } : undefined })
        .byPage({ maxPageSize: size, continuationToken: token });
      for await (const page of pages) return { rows: page.map((raw) => fromWire<T>(raw)), next: page.continuationToken };
      return { rows: [] };
    } catch (e) {
      // A token this API did not give (edited, truncated, from another list) is the caller's mistake.
      if (token !== undefined && !(e instanceof RestError && (e.statusCode ?? 500) >= 500))
        throw badRequest('The continuationToken is not one this list gave; start again without it.');
      throw e;
    }
  }

  async list(filter?: string, limit = Infinity): Promise<Stored<T>[]> {
    const out: Stored<T>[] = [];
    for await (const row of this.query(filter)) {
      if (out.length >= limit) break;
      out.push(row);
    }
    return out;
  }

  /**
   * One atomic entity-group transaction. Refused whole, before sending, when it breaks a limit:
   * more than 100 operations, more than one partition, a key twice, 4 MiB or an entity guard.
   */
  async transact(actions: TableAction<T>[]): Promise<void> {
    if (actions.length === 0) return;
    if (actions.length > LIMITS.transactionOperations) {
      throw new StorageLimitError(
        `A transaction on '${this.name}' has ${actions.length} operations; Azure allows at most ${LIMITS.transactionOperations}. Use writeMany() to split it.`,
      );
    }
    const partitions = new Set(actions.map((a) => keysOf(a).pk));
    if (partitions.size > 1)
      throw new StorageLimitError(
        `A transaction on '${this.name}' spans ${partitions.size} partitions; Azure requires one partition per transaction.`,
      );
    const rows = new Set<string>();
    let bytes = 0;
    for (const a of actions) {
      const { rk } = keysOf(a);
      if (rows.has(rk))
        throw new StorageLimitError(`A transaction on '${this.name}' touches row '${rk}' twice; Azure allows one operation per entity.`);
      rows.add(rk);
      if (a.kind !== 'delete') checkEntity(this.name, a.entity);
      bytes += actionBytes(a);
    }
    if (bytes >= LIMITS.transactionBytes)
      throw new StorageLimitError(`A transaction on '${this.name}' is about ${bytes} bytes; Azure allows less than 4 MiB.`);
    await this.ensure();
    try {
      await this.client.submitTransaction(actions.map(toSdkAction));
    } catch (e) {
      const s = statusOf(e);
      if (s === 409) throw conflict(`A transaction on '${this.name}' inserts a row that already exists; nothing was written.`);
      if (s === 412 || s === 404) throw new ConcurrencyError(`A transaction on '${this.name}' lost an ETag check; nothing was written.`);
      throw e;
    }
  }

  /**
   * Many writes, split into valid transactions (per partition, at most 100 operations and under
   * 4 MiB each). Every entity is checked before the first transaction is sent. Each transaction is
   * atomic; the whole set is not, so use it for idempotent writes (upserts, deletes). Up to
   * `concurrency` transactions are in flight at once (they touch different rows or partitions).
   */
  async writeMany(actions: TableAction<T>[], concurrency = 1): Promise<{ transactions: number }> {
    for (const a of actions) if (a.kind !== 'delete') checkEntity(this.name, a.entity);
    const byPartition = new Map<string, TableAction<T>[]>();
    for (const a of actions) {
      const pk = keysOf(a).pk;
      let list = byPartition.get(pk);
      if (!list) byPartition.set(pk, (list = []));
      list.push(a);
    }
    const chunks: TableAction<T>[][] = [];
    for (const list of byPartition.values()) {
      let chunk: TableAction<T>[] = [];
      let bytes = 0;
      let rows = new Set<string>();
      for (const a of list) {
        const size = actionBytes(a);
        const rk = keysOf(a).rk;
        if (chunk.length && (chunk.length === LIMITS.transactionOperations || bytes + size >= LIMITS.transactionBytes || rows.has(rk))) {
          chunks.push(chunk);
          chunk = [];
          bytes = 0;
          rows = new Set();
        }
        chunk.push(a);
        rows.add(rk);
        bytes += size;
      }
      if (chunk.length) chunks.push(chunk);
    }
    await forEachLimit(chunks, concurrency, (chunk) => this.transact(chunk));
    return { transactions: chunks.length };
  }
}

function toSdkAction(a: TableAction<Entity>): TransactionAction {
  switch (a.kind) {
    case 'insert':
      return ['create', toWire(a.entity) as Entity];
    case 'upsert':
      return ['upsert', toWire(a.entity) as Entity, a.mode === 'merge' ? 'Merge' : 'Replace'];
    case 'update':
      return ['update', toWire(a.entity) as Entity, a.mode === 'merge' ? 'Merge' : 'Replace', { etag: a.etag ?? '*' }];
    case 'delete':
      return ['delete', { partitionKey: a.partitionKey, rowKey: a.rowKey }];
  }
}
