import { QueueClient } from '@azure/storage-queue';
import { resolve } from 'node:path';
import { encodeMessage } from '../../shared/platform/storage/queues';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/** The local Functions host: queue retry/poison semantics, timers, HTTP routing, invocation logs. */
let env: TestEnv;
let seen: typeof import('../fixtures/app').seen;
const queue = (name: string) => new QueueClient(env.azurite.connectionString.replace(/;$/, ''), name);

beforeAll(async () => {
  env = await startEnv({
    entry: 'dist/test/fixtures/app/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    // FAR_SCHEDULE: the 1st of the month after next, always more than 24.8 days (setTimeout's limit) away.
    settings: {
      FAILING_QUEUE: 'fixture-failing',
      TICK_SCHEDULE: '*/1 * * * * *',
      FAR_SCHEDULE: `0 0 0 1 ${((new Date().getUTCMonth() + 2) % 12) + 1} *`,
    },
  });
  seen = (await import('../fixtures/app')).seen;
});
afterAll(() => env?.stop());

test('a queue function that always throws is attempted exactly maxDequeueCount times, then its message sits in <queue>-poison', async () => {
  const text = encodeMessage('test', { n: 1 }, 'poison-key');
  await queue('fixture-failing').createIfNotExists();
  await queue('fixture-failing').sendMessage(text);
  const poisoned = await eventually(
    async () => {
      const poison = queue('fixture-failing-poison');
      if (!(await poison.exists())) return undefined;
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.length ? peeked.peekedMessageItems : undefined;
    },
    30_000,
    'poison message',
  );
  expect(poisoned).toHaveLength(1);
  expect(poisoned[0].messageText).toBe(text);
  expect(seen.failing).toEqual([1, 2, 3, 4, 5]);
  // Nothing left on the source queue, and no sixth attempt afterwards.
  await new Promise((r) => setTimeout(r, 500));
  expect((await queue('fixture-failing').peekMessages()).peekedMessageItems).toHaveLength(0);
  expect(seen.failing).toHaveLength(5);
});

test('queue messages arrive base64-decoded and JSON-parsed, with dequeueCount in trigger metadata', async () => {
  await queue('fixture-records').createIfNotExists();
  await queue('fixture-records').sendMessage(encodeMessage('rec', { hello: 'wörld' }, 'k1'));
  const got = await eventually(() => seen.received.find((r) => (r.item as { key?: string }).key === 'k1'), 15_000, 'record');
  expect(got.item).toMatchObject({ v: 1, type: 'rec', key: 'k1', data: { hello: 'wörld' } });
  expect(got.dequeueCount).toBe(1);
});

test('a burst larger than batchSize + newBatchThreshold is drained completely', async () => {
  const q = queue('fixture-records');
  await Promise.all(Array.from({ length: 30 }, (_, i) => q.sendMessage(encodeMessage('burst', { i }, `burst-${i}`))));
  await eventually(
    () => seen.received.filter((r) => String((r.item as { key?: string }).key).startsWith('burst-')).length === 30,
    15_000,
    '30 burst messages',
  );
});

test('a timer runs on its NCRONTAB schedule: never before its due time, always announcing the occurrence after it', async () => {
  const start = seen.ticks.length;
  await eventually(() => seen.ticks.length >= start + 4, 8_000, 'four timer runs');
  const ticks = seen.ticks.slice();
  // Each run's due time is the occurrence the run before announced (the first run's is the first
  // second after the host started, which this test does not see). The host's start time is
  // lastUpdated, on the same clock as the due times: no slack.
  for (let i = 1; i < ticks.length; i++) {
    const due = Date.parse(ticks[i - 1].next);
    const started = Date.parse(ticks[i].lastUpdated);
    expect(started).toBeGreaterThanOrEqual(due);
    expect(ticks[i].at).toBeGreaterThanOrEqual(due);
    const next = Date.parse(ticks[i].next);
    expect(next).toBeGreaterThan(due);
    // The schedule is */1 seconds: the next occurrence is the first whole second after the due
    // time, or after the start when the run started late.
    expect(next % 1000).toBe(0);
    expect(next - 1000).toBeLessThanOrEqual(Math.max(started, due));
    expect(ticks[i].isPastDue).toBe(false);
    // last is the previous run's occurrence, or its start if it started late (as the host records it).
    if (i >= 2) expect(Date.parse(ticks[i].last)).toBe(Math.max(Date.parse(ticks[i - 1].lastUpdated), Date.parse(ticks[i - 2].next)));
  }
  // A schedule more than 2^31 ms away has not fired (setTimeout would have fired it at once).
  expect(seen.farAway).toEqual([]);
});

test('HTTP triggers honour route templates, constraints, methods, query and raw bodies', async () => {
  const res = await fetch(`${env.host!.url}/api/things/42/extra?x=1`, {
    method: 'POST',
    body: '{"a":1}',
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(201);
  expect(res.headers.get('x-echo')).toBe('yes');
  expect(await res.json()).toEqual({
    method: 'POST',
    params: { id: '42', rest: 'extra' },
    query: { x: '1' },
    body: '{"a":1}',
    contentType: 'application/json',
  });
  expect((await fetch(`${env.host!.url}/api/things/abc`, { method: 'POST' })).status).toBe(404); // int constraint
  expect((await fetch(`${env.host!.url}/api/things/42`, { method: 'GET' })).status).toBe(404); // method
  const literal = await fetch(`${env.host!.url}/api/things/special`);
  expect(await literal.text()).toBe('literal');
});

test('the host can list every function it loaded with its trigger', () => {
  expect(env.host!.functions.map((f) => `${f.name}:${f.trigger.type}`).sort()).toEqual([
    'alwaysFails:queueTrigger',
    'echo:httpTrigger',
    'everySecond:timerTrigger',
    'farAway:timerTrigger',
    'literalWins:httpTrigger',
    'records:queueTrigger',
  ]);
});
