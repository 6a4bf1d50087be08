import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitUntilHealthy } from '../../dev/ready';
import { matchRoute, parseRoute } from '../../dev/host/http';
import { parseSchedule, startTimer } from '../../dev/host/timers';
import type { CapturedFunction } from '../../dev/host/core';
import { decodeQueueText } from '../../dev/host/queues';
import { resolveSettingExpression, timeSpanMs } from '../../dev/host/settings';

test('route templates: literals, parameters, constraints, optional and catch-all', () => {
  const r = parseRoute('admin/tem/providers/{id:guid}/{action?}');
  const id = '4f1c2b7e-8a3d-4c59-9e61-0d2b7a5c3f18';
  expect(matchRoute(r, ['admin', 'TEM', 'providers', id])).toEqual({ id });
  expect(matchRoute(r, ['admin', 'tem', 'providers', id, 'rotate'])).toEqual({ id, action: 'rotate' });
  expect(matchRoute(r, ['admin', 'tem', 'providers', 'not-a-guid'])).toBeUndefined();
  expect(matchRoute(r, ['admin', 'tem', 'providers', id, 'a', 'b'])).toBeUndefined();
  expect(matchRoute(parseRoute('files/{*path}'), ['files', 'a', 'b.txt'])).toEqual({ path: 'a/b.txt' });
});

test('NCRONTAB six-field schedules and TimeSpan intervals', () => {
  const nightly = parseSchedule('0 30 2 * * *');
  expect(nightly.next(new Date('2026-11-21T10:00:00Z')).toISOString()).toBe('2026-11-22T02:30:00.000Z');
  expect(parseSchedule('*/15 * * * * *').next(new Date('2026-11-21T10:00:07Z')).toISOString()).toBe('2026-11-21T10:00:15.000Z');
  expect(parseSchedule('0 0 9 * * Mon').next(new Date('2026-11-21T10:00:00Z')).toISOString()).toBe('2026-11-23T09:00:00.000Z');
  expect(parseSchedule('00:05:00').next(new Date('2026-11-21T10:00:00Z')).toISOString()).toBe('2026-11-21T10:05:00.000Z');
  expect(() => parseSchedule('0 2 * * *')).toThrow(/six NCRONTAB fields/);
  expect(() => parseSchedule('0 99 * * * *')).toThrow();
});

test('a timer whose wall clock runs slower than setTimeout never starts early and always announces the following occurrence', async () => {
  // setTimeout counts on a monotonic clock; here the wall clock runs 2% slow, so every timeout fires
  // about 20 ms before its due time by that clock, as it can by a millisecond on a real machine.
  const t0 = Date.parse('2026-11-21T10:00:00.500Z');
  const p0 = performance.now();
  const now = () => new Date(t0 + (performance.now() - p0) * 0.98);
  const runs: { started: number; isPastDue: boolean; last: string; next: string; lastUpdated: string }[] = [];
  const fn: CapturedFunction = {
    name: 'tick',
    bindings: {},
    trigger: { type: 'timerTrigger', direction: 'in', schedule: '*/1 * * * * *' },
    handler: (timer) => {
      const t = timer as { isPastDue: boolean; scheduleStatus: { last: string; next: string; lastUpdated: string } };
      runs.push({ started: now().getTime(), isPastDue: t.isPastDue, ...t.scheduleStatus });
    },
  };
  const timer = startTimer(fn, {}, () => undefined, now);
  while (runs.length < 3) await new Promise((r) => setTimeout(r, 50));
  await timer.stop();
  let due = Date.parse('2026-11-21T10:00:01.000Z'); // the first occurrence after t0
  let last = '0001-01-01T00:00:00.000Z'; // the host's value before any run
  for (const run of runs) {
    const started = Date.parse(run.lastUpdated);
    expect(started).toBeGreaterThanOrEqual(due);
    expect(run.started).toBeGreaterThanOrEqual(due);
    expect(run.isPastDue).toBe(false);
    expect(run.last).toBe(last);
    const next = Date.parse(run.next);
    expect(next).toBeGreaterThan(due);
    expect(next).toBe(
      parseSchedule('*/1 * * * * *')
        .next(new Date(Math.max(started, due)))
        .getTime(),
    );
    last = new Date(Math.max(started, due)).toISOString();
    due = next;
  }
});

test('%SETTING% expressions and TimeSpans', () => {
  expect(resolveSettingExpression('%SCHEDULE%', { SCHEDULE: '0 0 1 * * *' })).toBe('0 0 1 * * *');
  expect(() => resolveSettingExpression('%MISSING%', {})).toThrow(/MISSING/);
  expect(timeSpanMs('00:00:30')).toBe(30_000);
  expect(timeSpanMs('1.00:00:00')).toBe(86_400_000);
  expect(timeSpanMs('00:00:00.250')).toBe(250);
});

test('queue text: base64 decoded, JSON parsed when it parses', () => {
  expect(decodeQueueText(Buffer.from('{"a":1}').toString('base64'), 'base64').input).toEqual({ a: 1 });
  expect(decodeQueueText(Buffer.from('plain').toString('base64'), 'base64').input).toBe('plain');
  expect(decodeQueueText('{"a":1}', 'none').input).toEqual({ a: 1 });
  expect(() => decodeQueueText('not base64!', 'base64')).toThrow(/base64/);
});

describe('npm start says Ready only once the app answers its health check', () => {
  const serve = async (status: number) => {
    const server = createServer((_req, res) => res.writeHead(status).end(status === 200 ? '{"status":"healthy"}' : 'storage unreachable'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/health` };
  };

  test('an app answering 503 is not ready, and the reason is kept', async () => {
    const { server, url } = await serve(503);
    try {
      expect(await waitUntilHealthy(url, 300, 50)).toEqual({ ok: false, last: '503 storage unreachable' });
    } finally {
      server.close();
    }
  });

  test('no app listening is not ready; a healthy one is', async () => {
    const { server, url } = await serve(200);
    expect(await waitUntilHealthy(url, 300, 50)).toEqual({ ok: true, last: '200' });
    await new Promise((ok) => server.close(ok));
    expect((await waitUntilHealthy(url, 200, 50)).ok).toBe(false);
  });
});
