import type { ChildProcess } from 'node:child_process';
import { ARCHIVE_ACCOUNT } from '../../dev/sandbox/providers/archive';
import { adminCaller, eventually, startEnv, type TestEnv } from '../helpers/env';
import { kill, startHostProcess } from '../helpers/process';

/**
 * The archive import under failure: the app in its own process (as in Azure), storage stopped and
 * the worker killed in the middle of an import, then both back: every copy lands exactly once.
 */
jest.setTimeout(180_000);

let env: TestEnv;
let host: ChildProcess | undefined;
let port: number;
let call: ReturnType<typeof adminCaller>;
beforeAll(async () => {
  env = await startEnv();
  port = Number(new URL(env.settings.PUBLIC_BASE_URL).port);
  host = await startHostProcess(env, port, 'archive-resilience-host.log');
  call = adminCaller(env, `http://localhost:${port}/api`);
});
afterAll(async () => {
  env.azurite.process.kill('SIGCONT');
  await kill(host, 'SIGKILL');
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

test('storage stopped and the worker killed mid-import, then restarted: every item imported exactly once, the counters whole', async () => {
  await call('PUT', 'admin/archive/account', { providerUrl: `${env.sandbox.origin}/archive`, apiKey: ARCHIVE_ACCOUNT.apiKey });
  expect((await call('POST', 'admin/archive/account/test')).body.connection.state).toBe('connected');
  const day = '2026-07-01';
  const items = env.sandbox.archive.seedDay(day, { count: 40 });
  const mailboxes = () => [...env.sandbox.store.table('users').keys()].map((id) => env.sandbox.store.table(`messages:${id}`));
  const count = () => mailboxes().reduce((n, m) => n + m.size, 0);
  const before = count();
  // Slow creates down, so the kill lands while copies are being made.
  env.sandbox.graph.setFaults([{ method: 'POST', path: '/mailFolders/[^/]+/messages$', latencyMs: 150 }]);
  const asked = await call('POST', 'admin/archive/import', { from: `${day}T00:00:00Z`, to: `${day}T23:59:59Z` });
  expect(asked.status).toBe(202);
  await eventually(() => count() - before >= 6, 60_000, 'import under way');

  // Storage stops answering; while it is stopped, the worker dies.
  env.azurite.process.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 1500));
  await kill(host, 'SIGKILL');
  env.azurite.process.kill('SIGCONT');
  const during = count() - before;
  expect(during).toBeLessThan(items.length);
  host = await startHostProcess(env, port, 'archive-resilience-host.log');
  env.sandbox.graph.setFaults([]);

  const run = await eventually(
    async () => {
      const r = (await call('GET', `admin/runs/${asked.body.runId}`)).body as { state: string; counters: Record<string, number> };
      return r.state === 'running' || r.state === 'queued' ? undefined : r;
    },
    120_000,
    'import finished after restart',
  );
  expect(run.state).toBe('succeeded');
  const c = run.counters;
  expect(c.itemsAvailableFromSource).toBe(items.length);
  expect(c.imported + c.partiallyImported + c.skipped + c.failed).toBe(c.itemsAvailableForImport);
  expect(c.skipped).toBe(0);
  const bytes = items.reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0);
  expect(c).toMatchObject({ bytesDone: bytes, bytesTotal: bytes });
  expect(count() - before).toBe(c.imported); // one message per copy imported, none twice
  const keys = mailboxes().flatMap((box, i) =>
    [...box.values()]
      .map(
        (m) =>
          (m.singleValueExtendedProperties as { id: string; value: string }[] | undefined)?.find((p) => p.id.endsWith('ImportKey'))?.value,
      )
      .filter(Boolean)
      .map((k) => `${i}|${k}`),
  );
  expect(new Set(keys).size).toBe(keys.length);
});
