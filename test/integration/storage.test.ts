import { openStorageAccount } from '../../shared/platform/storage/connection';
import { EntityTable, LIMITS, checkEntity, entitySize, type Entity, type TableAction } from '../../shared/platform/storage/tables';
import { QueueProducer, decodeMessage, MAX_MESSAGE_BYTES } from '../../shared/platform/storage/queues';
import { BlobStore } from '../../shared/platform/storage/blobs';
import { claim, release, type Claimable } from '../../shared/platform/storage/claims';
import { setClock } from '../../shared/platform/clock';
import { ConcurrencyError, StorageLimitError } from '../../shared/platform/errors';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { z } from 'zod';
import type { ContainerName, QueueName, TableName } from '../../shared/platform/storage/resources';

// This suite exercises the layer itself on scratch names, outside the app's declared resources.
const scratch = <T>(name: string) => name as unknown as T;

/** The table, queue and blob layer against Azurite, which accepts what Azure rejects. */
let azurite: Azurite;
let account: ReturnType<typeof openStorageAccount>;
let n = 0;
const freshTable = <T extends Entity = Entity>() => {
  const name = `guards${Date.now().toString(36)}${n++}`;
  return new EntityTable<T>(scratch<TableName>(name), () => account.table(name));
};

beforeAll(async () => {
  azurite = await startAzurite();
  account = openStorageAccount({ kind: 'connectionString', connectionString: azurite.connectionString });
});
afterAll(() => azurite?.stop());

const rows = async (t: EntityTable<Entity>) => (await t.list()).map((r) => r.entity.rowKey).sort();

describe('table guards refuse what Azure would, and write nothing', () => {
  test('an entity over 1 MiB is refused with a clear error; Azurite never sees it', async () => {
    const t = freshTable();
    const big: Entity = { partitionKey: 'p', rowKey: 'big' };
    for (let i = 0; i < 20; i++) big[`chunk${i}`] = 'x'.repeat(30_000); // 20 × 60 KB as UTF-16 = 1.2 MB
    expect(entitySize(big)).toBeGreaterThan(LIMITS.entityBytes);
    await expect(t.upsert(big)).rejects.toThrow(/1 MiB/);
    await expect(t.insert(big)).rejects.toBeInstanceOf(StorageLimitError);
    expect(await t.get('p', 'big')).toBeUndefined();
  });

  test('a string over 64 KiB, more than 252 properties, bad keys and objects are refused', () => {
    expect(() => checkEntity('t', { partitionKey: 'p', rowKey: 'r', s: 'x'.repeat(32_769) })).toThrow(/64 KiB/);
    const wide: Entity = { partitionKey: 'p', rowKey: 'r' };
    for (let i = 0; i < 253; i++) wide[`p${i}`] = i;
    expect(() => checkEntity('t', wide)).toThrow(/at most 252/);
    expect(() => checkEntity('t', { partitionKey: 'a/b', rowKey: 'r' })).toThrow(/'\/'/);
    expect(() => checkEntity('t', { partitionKey: 'p', rowKey: 'x'.repeat(513) })).toThrow(/1024/);
    expect(() => checkEntity('t', { partitionKey: 'p', rowKey: 'r', nested: { a: 1 } as unknown as string })).toThrow(
      /serialize objects to JSON/,
    );
    expect(() => checkEntity('t', { partitionKey: 'p', rowKey: 'r', 'bad-name': 1 })).toThrow(/C# identifier/);
    // The largest legal string passes.
    expect(() => checkEntity('t', { partitionKey: 'p', rowKey: 'r', s: 'x'.repeat(32_768) })).not.toThrow();
  });

  test('a 101-operation transaction is refused whole: nothing is written', async () => {
    const t = freshTable();
    const ops: TableAction<Entity>[] = Array.from({ length: 101 }, (_, i) => ({
      kind: 'upsert',
      entity: { partitionKey: 'p', rowKey: `r${i}`, v: i },
    }));
    await expect(t.transact(ops)).rejects.toThrow(/101 operations; Azure allows at most 100/);
    expect(await rows(t)).toEqual([]);
    await t.transact(ops.slice(0, 100));
    expect((await rows(t)).length).toBe(100);
  });

  test('a transaction across partitions, or with one oversized entity, is refused whole', async () => {
    const t = freshTable();
    await expect(
      t.transact([
        { kind: 'upsert', entity: { partitionKey: 'a', rowKey: '1' } },
        { kind: 'upsert', entity: { partitionKey: 'b', rowKey: '1' } },
      ]),
    ).rejects.toThrow(/one partition/);
    const huge: Entity = { partitionKey: 'a', rowKey: 'huge' };
    for (let i = 0; i < 20; i++) huge[`c${i}`] = 'y'.repeat(30_000);
    await expect(
      t.transact([
        { kind: 'upsert', entity: { partitionKey: 'a', rowKey: 'ok' } },
        { kind: 'upsert', entity: huge },
      ]),
    ).rejects.toThrow(/1 MiB/);
    await expect(
      t.transact([
        { kind: 'upsert', entity: { partitionKey: 'a', rowKey: 'same' } },
        { kind: 'delete', partitionKey: 'a', rowKey: 'same' },
      ]),
    ).rejects.toThrow(/twice/);
    expect(await rows(t)).toEqual([]);
  });

  test('a transaction over 4 MiB is refused before sending', async () => {
    const t = freshTable();
    const ops: TableAction<Entity>[] = Array.from({ length: 80 }, (_, i) => ({
      kind: 'upsert',
      entity: { partitionKey: 'p', rowKey: `r${i}`, a: 'z'.repeat(30_000), b: 'z'.repeat(30_000) },
    }));
    await expect(t.transact(ops)).rejects.toThrow(/4 MiB/);
    expect(await rows(t)).toEqual([]);
  });

  test('a failing insert inside a transaction rolls the whole transaction back', async () => {
    const t = freshTable();
    await t.insert({ partitionKey: 'p', rowKey: 'exists' });
    await expect(
      t.transact([
        { kind: 'insert', entity: { partitionKey: 'p', rowKey: 'new' } },
        { kind: 'insert', entity: { partitionKey: 'p', rowKey: 'exists' } },
      ]),
    ).rejects.toThrow(/nothing was written/);
    expect(await rows(t)).toEqual(['exists']);
  });
});

test('writeMany splits into valid transactions per partition and checks everything first', async () => {
  const t = freshTable();
  const ops: TableAction<Entity>[] = [];
  for (let p = 0; p < 3; p++)
    for (let i = 0; i < 150; i++)
      ops.push({ kind: 'upsert', entity: { partitionKey: `p${p}`, rowKey: `r${String(i).padStart(3, '0')}`, i } });
  const { transactions } = await t.writeMany(ops);
  expect(transactions).toBe(6); // 3 partitions × (100 + 50)
  expect((await t.list()).length).toBe(450);

  const t2 = freshTable();
  const bad: Entity = { partitionKey: 'z', rowKey: 'bad' };
  for (let i = 0; i < 20; i++) bad[`c${i}`] = 'w'.repeat(30_000);
  await expect(t2.writeMany([...ops.slice(0, 10), { kind: 'upsert', entity: bad }])).rejects.toThrow(/1 MiB/);
  expect(await rows(t2)).toEqual([]);
});

test('updates use ETags: a stale ETag loses with ConcurrencyError, the row keeps the winner', async () => {
  const t = freshTable<Entity & { n: number }>();
  await t.insert({ partitionKey: 'p', rowKey: 'r', n: 1 });
  const read = (await t.get('p', 'r'))!;
  await t.update({ ...read.entity, n: 2 }, read.etag);
  await expect(t.update({ ...read.entity, n: 3 }, read.etag)).rejects.toBeInstanceOf(ConcurrencyError);
  expect((await t.get('p', 'r'))!.entity.n).toBe(2);
  await expect(t.insert({ partitionKey: 'p', rowKey: 'r', n: 9 })).rejects.toThrow(/already exists/);
  await expect(t.delete('p', 'r', read.etag)).rejects.toBeInstanceOf(ConcurrencyError);
  await t.delete('p', 'r');
  expect(await t.get('p', 'r')).toBeUndefined();
});

test('large integers round-trip', async () => {
  const t = freshTable<Entity & { big: number }>();
  await t.upsert({ partitionKey: 'p', rowKey: 'r', big: 5_000_000_000 });
  expect((await t.get('p', 'r'))!.entity.big).toBe(5_000_000_000);
});

test('the queue producer writes base64 JSON envelopes with a version and an idempotency key', async () => {
  const producer = new QueueProducer(() => account);
  const { key } = await producer.send(scratch<QueueName>('envelopes'), 'thing.happened', { id: 7 }, { key: 'idem-1' });
  expect(key).toBe('idem-1');
  const [m] = (await account.queue('envelopes').receiveMessages()).receivedMessageItems;
  const decoded = JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8'));
  expect(decoded).toMatchObject({ v: 1, type: 'thing.happened', key: 'idem-1', data: { id: 7 } });
  expect(decodeMessage(decoded, z.object({ id: z.number() })).data).toEqual({ id: 7 });
  expect(() => decodeMessage({ ...decoded, v: 2 }, z.object({ id: z.number() }))).toThrow(/envelope is invalid/);
  expect(() => decodeMessage(decoded, z.object({ id: z.string() }))).toThrow(/payload is invalid/);
  await expect(producer.send(scratch<QueueName>('envelopes'), 'too.big', { blob: 'x'.repeat(MAX_MESSAGE_BYTES) })).rejects.toThrow(
    /Put the payload in a blob/,
  );
});

test('blobs are written once: a retried stage does not overwrite', async () => {
  const store = new BlobStore(scratch<ContainerName>('staging'), () => account);
  expect(await store.putOnce('a/b.json', Buffer.from('first'))).toBe(true);
  expect(await store.putOnce('a/b.json', Buffer.from('second'))).toBe(false);
  expect((await store.get('a/b.json'))!.toString()).toBe('first');
  expect(await store.get('missing')).toBeUndefined();
});

describe('claims: one worker at a time on a row', () => {
  interface Work extends Claimable {
    state: 'open' | 'finished';
    takes: number;
    rerun?: boolean;
  }
  const options = (holder: string, forMs = 60_000) => ({
    holder,
    forMs,
    create: () => ({ state: 'open' as const, takes: 0 }),
    done: (r: Work) => r.state === 'finished',
    take: (r: Work) => ({ ...r, takes: r.takes + 1 }),
  });
  afterEach(() => setClock());

  test('twenty workers racing for one row: exactly one claims it, the others find it held', async () => {
    const t = freshTable<Work>();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(t, 'p', 'r', options(`w${i}`))));
    const winners = results.filter((r) => r.status === 'claimed');
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 'held')).toHaveLength(19);
    expect((await t.get('p', 'r'))!.entity.claimedBy).toBe((winners[0] as { row: Work }).row.claimedBy);
    // Twenty more on the existing row: still one holder, and nobody else took it over.
    const again = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(t, 'p', 'r', options(`x${i}`))));
    expect(again.every((r) => r.status === 'held')).toBe(true);
  });

  test('a lapsed claim is taken over; its holder may take it again while it lasts; a clock moved back never ends one early', async () => {
    const t = freshTable<Work>();
    const now = Date.now();
    setClock(() => now);
    expect((await claim(t, 'p', 'r', options('a', 1000))).status).toBe('claimed');
    expect((await claim(t, 'p', 'r', options('a', 1000))).status).toBe('claimed');
    setClock(() => now - 3_600_000);
    expect((await claim(t, 'p', 'r', options('b', 1000))).status).toBe('held');
    setClock(() => now + 1001);
    const taken = await claim(t, 'p', 'r', options('b', 1000));
    expect(taken).toMatchObject({ status: 'claimed', fresh: false, row: { claimedBy: 'b', takes: 2 } });
  });

  test('only the holder releases; a released row is free at once; finished work is not claimed again', async () => {
    const t = freshTable<Work>();
    await claim(t, 'p', 'r', options('a'));
    expect(await release(t, 'p', 'r', 'b')).toBeUndefined();
    expect((await claim(t, 'p', 'r', options('b'))).status).toBe('held');
    expect(await release(t, 'p', 'r', 'a')).toMatchObject({ claimedBy: 'a' });
    expect((await claim(t, 'p', 'r', options('b'))).status).toBe('claimed');
    await release(t, 'p', 'r', 'b', (r): Work => ({ ...r, state: 'finished' }));
    expect((await claim(t, 'p', 'r', options('c'))).status).toBe('done');
    // A row that must exist is not created.
    expect(await claim(t, 'p', 'gone', { holder: 'a', forMs: 1000 })).toEqual({ status: 'missing' });
  });

  test('a worker that finds the row held can leave word (asking for another run), and a release that deletes returns it', async () => {
    const t = freshTable<Work>();
    await claim(t, 'p', 'lease', options('run1'));
    const asks = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        claim(t, 'p', 'lease', { ...options(`run${i + 2}`), whileHeld: (r: Work) => ({ ...r, rerun: true }) }),
      ),
    );
    expect(asks.every((a) => a.status === 'held')).toBe(true);
    expect(await release(t, 'p', 'lease', 'run1', () => null)).toMatchObject({ rerun: true });
    expect(await t.get('p', 'lease')).toBeUndefined();
  });
});
