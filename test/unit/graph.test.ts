import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Graph, GraphApiError, mailboxOf, retryDelayMs } from '../../shared/graph/client';
import { KeyedLimiter, WindowBudget } from '../../shared/graph/limiter';
import { evaluate, parseFilter } from '../../dev/sandbox/graph/odata';

const policy = { maxRetries: 6, baseDelayMs: 100, maxDelayMs: 10_000 };

test('retry delays: Retry-After seconds or date when given; otherwise exponential with jitter, capped', () => {
  expect(retryDelayMs(1, '3', policy)).toBe(3000);
  expect(retryDelayMs(1, '120', policy)).toBe(10_000);
  const inTwo = new Date(Date.now() + 2000).toUTCString();
  expect(retryDelayMs(1, inTwo, policy)).toBeGreaterThan(500);
  for (let attempt = 1; attempt <= 8; attempt++) {
    const ceiling = Math.min(10_000, 100 * 2 ** (attempt - 1));
    const samples = Array.from({ length: 50 }, () => retryDelayMs(attempt, null, policy));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(ceiling / 2);
    expect(Math.max(...samples)).toBeLessThanOrEqual(ceiling);
  }
  expect(new Set(Array.from({ length: 20 }, () => retryDelayMs(5, null, policy))).size).toBeGreaterThan(1);
});

test('mailbox keys come from /users/{id}/ paths', () => {
  expect(mailboxOf('https://graph.microsoft.com/v1.0/users/Adele@contoso.com/messages')).toBe('adele@contoso.com');
  expect(mailboxOf('https://graph.microsoft.com/v1.0/users/abc')).toBeNull();
  expect(mailboxOf('https://graph.microsoft.com/v1.0/groups/abc/members')).toBeNull();
});

test('the keyed limiter admits at most the limit per key and hands slots over in order', async () => {
  const limiter = new KeyedLimiter((k) => (k === 'a' ? 2 : 1));
  const order: string[] = [];
  let active = 0;
  let peak = 0;
  const task = (key: string, name: string) =>
    limiter.acquire(key).then(async (release) => {
      active++;
      peak = Math.max(peak, active);
      order.push(name);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      release();
      release(); // a second release is harmless
    });
  await Promise.all([task('a', '1'), task('a', '2'), task('a', '3'), task('a', '4'), task('b', 'x')]);
  expect(limiter.peak.get('a')).toBe(2);
  expect(limiter.peak.get('b')).toBe(1);
  expect(order.filter((o) => o !== 'x')).toEqual(['1', '2', '3', '4']);
  expect(limiter.inFlight('a')).toBe(0);
});

test('window budgets: room by count and by bytes in sliding windows; reservations hold room; a refused request gives its room back; returning work is booked into the windows as they free up', () => {
  const b = new WindowBudget({ amount: 3, windowMs: 1000 }, { amount: 100, windowMs: 1000 });
  const t = performance.now();
  const answered = [b.take('m', 40), b.take('m', 40)];
  expect(b.waitMs('m', 0, 1, t)).toBe(0);
  expect(b.waitMs('m', 30, 1, t)).toBeGreaterThan(900); // 80 + 30 bytes is over 100 until the first ages out
  expect(b.waitMs('m', 0, 2, t)).toBeGreaterThan(900); // 2 sent + 2 is over 3
  expect(b.waitMs('other', 30, 3, t)).toBe(0);
  const held = b.reserve('m', 1, 0);
  expect(b.waitMs('m', 0, 1, t)).toBeGreaterThan(900); // 2 sent + 1 held
  b.release(held);
  expect(b.waitMs('m', 0, 1, t)).toBe(0);
  answered[1](false); // refused by the service: not counted
  expect(b.waitMs('m', 30, 2, t)).toBe(0); // 1 request and 40 bytes left in the window
  // 1 request sent: 3 more fit once it has aged out, and 3 after those once they have.
  const first = b.book('m', 'a', 3, 0, 500, t);
  expect(first).toBeGreaterThan(1000);
  expect(b.book('m', 'b', 3, 0, 500, t) - first).toBeCloseTo(1250, 6); // a window (1000) and the margin for the way to the service (250)
  // Nothing sent: three single requests come together, the fourth a window later; a body waits for room too.
  expect(['a', 'b', 'c', 'd'].map((id) => Math.round(b.book('n', id, 1, 0, 0, t)))).toEqual([0, 0, 0, 1250]);
  expect(Math.round(b.book('o', 'a', 1, 60, 100, t))).toBe(100);
  expect(Math.round(b.book('o', 'b', 1, 60, 100, t))).toBe(1350);
  // Booked work counts at its moment until it starts: started, its room is what it holds.
  b.release(b.reserve('n', 1, 0, 'a'));
  expect(Math.round(b.book('n', 'e', 1, 0, 0, t))).toBe(1250); // b, c and d still booked
  expect(Math.round(b.book('n', 'd', 1, 0, 0, t))).toBe(1250); // booking d again replaces its booking
});

test('window budgets: room held by work not sent yet (requests and bodies) counts for a window from now; a request of that work counts the others, not its own', () => {
  const b = new WindowBudget({ amount: 4, windowMs: 1000 }, { amount: 100, windowMs: 1000 });
  const t = performance.now();
  const one = b.reserve('m', 3, 0);
  b.reserve('m', 1, 0);
  // Nothing sent and all four held: more waits at least a window, as the held requests are still to go.
  expect(b.waitMs('m', 0, 1, t)).toBeGreaterThanOrEqual(1250);
  expect(b.waitMs('m', 0, 1, t, one)).toBe(0); // a request of the three-request work goes
  b.take('m', 0, one);
  b.take('m', 0, one);
  b.take('m', 0, one);
  expect(one.requests).toBe(0);
  expect(b.waitMs('m', 0, 1, performance.now(), one)).toBeGreaterThan(900); // its fourth would be over: 3 sent + 1 held
  // Bodies the same way: held ones count from when they go; one larger than the window goes once nothing else is in it.
  const c = new WindowBudget({ amount: 10, windowMs: 1000 }, { amount: 100, windowMs: 1000 });
  expect(c.waitMs('m', 150, 1, t)).toBe(0);
  const body = c.reserve('m', 1, 80);
  expect(c.waitMs('m', 30, 1, t)).toBeGreaterThanOrEqual(1250);
  expect(c.waitMs('m', 20, 1, t)).toBe(0);
  c.release(body);
  expect(c.waitMs('m', 150, 1, t)).toBe(0);
});

describe('the sandbox $filter', () => {
  const d = {
    id: '1',
    '@odata.type': '#microsoft.graph.iosVppApp',
    deviceName: "O'Brien phone",
    operatingSystem: 'iOS',
    n: 5,
    lastSyncDateTime: '2026-11-20T08:00:00Z',
    owner: { kind: 'company' },
    props: [
      { id: 'a', value: '1' },
      { id: 'b', value: '1' },
    ],
  };
  const t = (f: string) => evaluate(parseFilter(f), d);
  test.each([
    ["operatingSystem eq 'ios'", true],
    ["operatingSystem ne 'iOS'", false],
    ["deviceName eq 'O''Brien phone'", true],
    ["startswith(deviceName,'o''b') and n gt 4", true],
    ['n ge 5 and n lt 5', false],
    ["(n eq 1 or n eq 5) and not (operatingSystem eq 'Android')", true],
    ["operatingSystem in ('Android','iOS')", true],
    ['lastSyncDateTime lt 2026-11-21T00:00:00Z', true],
    ["contains(deviceName,'brien')", true],
    ["isof('microsoft.graph.iosVppApp')", true],
    ["owner/kind eq 'company'", true],
    ["props/any(p: p/id eq 'a' and p/value eq '1')", true],
    ["props/any(p: p/id eq 'a' and p/value eq '2')", false],
    ["props/all(p: p/value eq '1')", true],
  ])('%s → %s', (f, expected) => expect(t(f)).toBe(expected));
  test('bad filters are errors', () => {
    expect(() => parseFilter("deviceName eq 'x")).toThrow(/Unterminated/);
    expect(() => parseFilter('deviceName eq')).toThrow();
    expect(() => parseFilter("phones/any(p eq '1')")).toThrow(/expected 'name:'/);
    expect(() => parseFilter("phones(p: p eq '1')")).toThrow(/Unsupported/);
  });
});

test('a Graph attempt past its time limit, headers or body stalled, counts as a 504: a read is retried, a write is not re-sent', async () => {
  // A loopback Graph that stalls the first answer to each path: /slow before its headers, /stalled mid-body.
  const seen: string[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    const first = !seen.includes(key);
    seen.push(key);
    open.add(res);
    res.on('close', () => open.delete(res));
    if (first && req.url!.includes('/stalled')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.write('{"value":[');
    }
    if (first) return; // no answer at all
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value: [1, 2] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const warnings: unknown[] = [];
  const logger = {
    warn: (_m: string, f: unknown) => warnings.push(f),
    info: () => undefined,
    error: () => undefined,
    debug: () => undefined,
    child: () => logger,
  } as never;
  const g = new Graph({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    authProvider: { getAccessToken: () => Promise.resolve('token') },
    retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    limits: { total: 4, perMailbox: 4 },
    timeoutMs: 200,
    log: logger,
  });
  try {
    await expect(g.get('/slow')).resolves.toEqual({ value: [1, 2] });
    await expect(g.get('/stalled')).resolves.toEqual({ value: [1, 2] });
    expect(warnings).toEqual([
      expect.objectContaining({ method: 'GET', path: '/v1.0/slow', status: 504 }),
      expect.objectContaining({ method: 'GET', path: '/v1.0/stalled', status: 504 }),
    ]);
    const err = await g.post('/slow-write', { a: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(GraphApiError);
    expect(err).toMatchObject({
      graphStatus: 504,
      code: 'Timeout',
      transient: true,
      graphMessage: expect.stringMatching(/did not answer POST \/v1\.0\/slow-write within 0\.2 s/),
    });
    expect(seen.filter((k) => k.startsWith('POST'))).toHaveLength(1);
  } finally {
    for (const res of open) res.destroy();
    await new Promise((r) => server.close(r));
  }
});
