import type { ChildProcess } from 'node:child_process';
import { complianceDriver } from '../helpers/compliance';
import { eventually, startEnv, type TestEnv } from '../helpers/env';
import { kill, startHostProcess } from '../helpers/process';

/**
 * The compliance runner killed mid-action: the app runs as its own process, its sendMail and
 * remoteLock calls are in flight when it is killed, and a new process finishes the work. Every
 * device still gets exactly one email and one lock.
 */
jest.setTimeout(180_000);

let env: TestEnv;
let host: ChildProcess | undefined;
let c: ReturnType<typeof complianceDriver>;
let port: number;
const LOG = 'compliance-resilience-host.log';

beforeAll(async () => {
  // A mail or a lock of the dead worker is looked for until its request can no longer be in flight:
  // 10 s here (Azure: 60 s); a mail, 2 s more for Exchange to file it in Sent Items (Azure: 120 s).
  env = await startEnv({
    settings: { COMPLIANCE_SCAN_SCHEDULE: '0 0 0 1 1 *', COMPLIANCE_SENT_ITEMS_WAIT_SECONDS: '2', GRAPH_TIMEOUT_SECONDS: '10' },
  });
  port = Number(new URL(env.settings.PUBLIC_BASE_URL).port);
  host = await startHostProcess(env, port, LOG);
  c = complianceDriver(env, `http://localhost:${port}/api`);
});
afterAll(async () => {
  await kill(host, 'SIGKILL');
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

test('killed while sendMail and remoteLock are in flight, restarted: exactly one email and one lock per device', async () => {
  const template = await c.template();
  const android = c.policy('android-baseline');
  expect(
    (
      await c.call('PUT', `admin/compliance/policies/${android}/actions`, {
        actions: [
          { type: 'markNoncompliant', days: 0 },
          { type: 'email', days: 0, templateId: template.id },
          { type: 'remoteLock', days: 0 },
        ],
      })
    ).status,
  ).toBe(200);
  const added = (await (
    await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, { method: 'POST', body: JSON.stringify({ count: 8, os: 'Android' }) })
  ).json()) as { value: { id: string; deviceName: string }[] };
  for (const d of added.value) await c.flip(d.id, 'noncompliant');
  const devices = [...added.value, { id: c.device('johanna-android'), deviceName: 'johanna-android' }];

  // Every effect takes seconds to answer, so the kill lands while requests are in flight; the
  // sandbox still applies them, as Graph would after the client went away. A mail or a lock lands
  // only after the restarted worker has taken its message again (3 s lease): it must not send a second one.
  env.sandbox.graph.setFaults([
    { method: 'POST', path: '/sendMail$', latencyMs: 6000 },
    { method: 'POST', path: '/remoteLock$', latencyMs: 6000 },
  ]);
  expect((await c.call('POST', 'admin/compliance/evaluate')).status).toBe(202);
  const started = (route: string) =>
    Object.entries(env.sandbox.graph.stats.byRoute)
      .filter(([k]) => k.endsWith(route))
      .reduce((n, [, v]) => n + v, 0);
  await eventually(() => started('/sendMail') >= 2 && started('/remoteLock') >= 2, 30_000, 'sends and locks in flight');
  await kill(host, 'SIGKILL');
  host = await startHostProcess(env, port, LOG);
  env.sandbox.graph.setFaults([]);

  for (const d of devices) {
    let l: Awaited<ReturnType<typeof c.ledger>>['actions'] = [];
    await eventually(
      async () => {
        l = (await c.ledger(d.id)).actions;
        return ['email@0', 'remoteLock@0', 'markNoncompliant@0'].every((a) => c.status(l, a) === 'done');
      },
      60_000,
      `${d.deviceName} done`,
    ).catch((e: Error) => {
      throw new Error(`${e.message} Ledger: ${JSON.stringify(l)}`);
    });
  }
  for (const d of devices) {
    expect(c.outbox().filter((m) => m.subject.includes(` ${d.deviceName} `))).toHaveLength(1);
    expect(c.locks(d.id)).toHaveLength(1);
  }
  // The interrupted ones were recognised, not repeated.
  const reasons = (await Promise.all(devices.map(async (d) => (await c.ledger(d.id)).actions.map((a) => a.reason)))).flat();
  expect(reasons).toContain('sent before an interruption (found in Sent Items)');
  expect(reasons).toContain('remoteLock sent before an interruption (found on the device)');
});

test("the local host's clock control moves the app a day ahead, and a day-1 action falls due", async () => {
  const template = await c.template('Day one');
  const android = c.policy('android-baseline');
  expect(
    (
      await c.call('PUT', `admin/compliance/policies/${android}/actions`, {
        actions: [
          { type: 'markNoncompliant', days: 0 },
          { type: 'email', days: 1, templateId: template.id },
        ],
      })
    ).status,
  ).toBe(200);
  const diego = c.device('diego-android');
  await c.flip(diego, 'noncompliant');
  const planned = await c.evaluateUntil(
    diego,
    (l) => c.status(l, 'markNoncompliant@0') === 'done' && c.status(l, 'email@1') === 'pending',
    'diego planned',
  );
  expect(planned).toHaveLength(2);

  const clock = `http://localhost:${port}/_host/clock`;
  expect((await fetch(clock, { method: 'PUT', body: JSON.stringify({ offsetDays: -1 }) })).status).toBe(400);
  const moved = (await (await fetch(clock, { method: 'PUT', body: JSON.stringify({ offsetDays: 1.01 }) })).json()) as {
    offsetDays: number;
    appTime: string;
  };
  expect(moved.offsetDays).toBe(1.01);
  expect(Date.parse(moved.appTime) - Date.now()).toBeGreaterThan(86_000_000);
  await c.evaluateUntil(diego, (l) => c.status(l, 'email@1') === 'done', 'diego emailed a day later');
  expect(c.outbox().filter((m) => m.subject.includes(' diego-android '))).toHaveLength(1);
  await fetch(clock, { method: 'PUT', body: JSON.stringify({ offsetDays: 0 }) });
});
