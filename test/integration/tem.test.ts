import { resolve } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { QUEUE_EVENTS, tables } from '../../shared/tem/model';
import { PROFILE_SETTINGS } from '../../shared/tem/enforcement';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';
import { temDriver } from '../helpers/tem';

/** The TEM connector end to end: the app in the local host, Azurite, the sandbox tenant and provider. */
let env: TestEnv;
let api: string;
let tem: ReturnType<typeof temDriver>;

beforeAll(async () => {
  env = await startEnv({
    entry: 'dist/functions/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    settings: { CONSENT_WAIT_SECONDS: '3' },
  });
  api = `${env.host!.url}/api`;
  tem = temDriver(env, api);
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const ADELE = '+447700900101'; // adele-iphone, company-owned iOS
const DIEGO = '+447700900103'; // diego-android, company-owned Android
const ISAIAH = '+447700900105'; // isaiah-iphone, personal

test('register → connect through admin consent → Active → roaming block → switch off reverts and ignores → switch on blocks again', async () => {
  const p = await tem.register('Datalert');
  expect(p.secret).toMatch(/^whsec_/);
  expect(p.webhookUrl).toBe(`${env.host!.url}/api/tem/providers/${p.id}/events`);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({ connection: 'notConnected', enabled: true });
  expect(JSON.stringify((await tem.call('GET', `admin/tem/providers/${p.id}`)).body)).not.toContain(p.secret);

  const c = await tem.connected(p.id);
  expect(c.start.status).toBe(302);
  expect(new URL(c.start.headers.get('location')!).pathname).toMatch(/\/v2\.0\/adminconsent$/);
  expect(c.page).toMatch(/Connected/);
  const provider = (await tem.call('GET', `admin/tem/providers/${p.id}`)).body;
  expect(provider).toMatchObject({ connection: 'active', enabled: true, activeBlocks: 0 });
  expect(provider.corporateLines).toBeGreaterThanOrEqual(5);

  // Groups and the iOS and Android profiles with the real settings, assigned to the groups.
  const profiles = [...env.sandbox.store.table('deviceConfigurations').values()];
  expect(profiles.map((x) => x.displayName).sort()).toEqual([
    'TEM: block cellular data (Android)',
    'TEM: block cellular data (iOS)',
    'TEM: block roaming (Android)',
    'TEM: block roaming (iOS)',
  ]);
  const iosRoaming = profiles.find((x) => x.displayName === 'TEM: block roaming (iOS)')!;
  expect(iosRoaming).toMatchObject(PROFILE_SETTINGS.roaming.ios);
  expect(
    [...env.sandbox.store.table(`assignments:${iosRoaming.id}`).values()].map((a) => (a.target as { groupId: string }).groupId),
  ).toEqual([tem.group('roaming')!.id]);

  // A signed roaming-exceeded event for a corporate line puts its device in the roaming group.
  const sent = await tem.send(p, 'usage.threshold_exceeded', {
    phoneNumber: ADELE,
    kind: 'roaming',
    usageMb: 512,
    capMb: 500,
    country: 'FR',
  });
  expect(sent.statuses).toEqual([202]);
  await eventually(() => tem.members('roaming').includes(tem.deviceObject('adele-iphone')), 15_000, 'device in the roaming group');
  expect(tem.members('data')).toEqual([]);
  await eventually(
    async () => (await tem.ledger(p.id)).some((r) => r.eventId === sent.webhookId && r.status === 'applied'),
    10_000,
    'ledger row',
  );
  const alerts = await eventually(
    async () => {
      const a = (await tem.call('GET', `admin/tem/providers/${p.id}/alerts`)).body.value as { email: string; message: string }[];
      return a.length && a[0].email === 'sent' ? a : undefined;
    },
    10_000,
    'alert emailed',
  );
  expect(alerts[0].message).toMatch(/\+447700900101.*roaming threshold: 512 MB used of 500 MB in FR/);
  const outbox = [...env.sandbox.store.table('outbox').values()];
  expect(outbox.some((m) => String(m.subject).includes('roaming threshold crossed on +447700900101'))).toBe(true);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({ activeBlocks: 1, lastSignalAt: expect.any(String) });

  // Switching off reverts every action, then signals are recorded and ignored.
  const off = await tem.call('PATCH', `admin/tem/providers/${p.id}`, { enabled: false });
  expect(off.status).toBe(202);
  expect(off.body.switchOff).toMatchObject({ state: 'reverting', runId: off.body.runId });
  expect(off.headers.get('location')).toBe(`/api/admin/runs/${off.body.runId}`);
  // Asked again while it runs: the same run.
  const repeated = await tem.call('PATCH', `admin/tem/providers/${p.id}`, { enabled: false });
  expect([repeated.status, repeated.body.runId]).toEqual([202, off.body.runId]);
  const run = await eventually(
    async () => {
      const r = (await tem.call('GET', `admin/runs/${off.body.runId}`)).body;
      return r.state === 'succeeded' ? r : undefined;
    },
    15_000,
    'switch-off run succeeded',
  );
  expect(run).toMatchObject({ kind: 'tem.switchOff', subject: p.id, progress: { done: 1, total: 1 }, counters: { reverted: 1 } });
  expect(run.startedBy).toMatch(/^admin:/);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body.switchOff.state).toBe('done');
  expect(tem.members('roaming')).toEqual([]);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({
    activeBlocks: 0,
    switchOff: { reverted: 1, remaining: 0 },
  });
  const ignored = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: DIEGO, kind: 'roaming' });
  expect(ignored.statuses).toEqual([202]);
  await eventually(
    async () =>
      (await tem.ledger(p.id)).some(
        (r) =>
          r.eventId === ignored.webhookId &&
          r.status === 'ignored' &&
          /switched off/.test(r.reason ?? '') &&
          r.line === DIEGO &&
          r.kind === 'roaming',
      ),
    10_000,
    'ignored while off',
  );
  expect(tem.members('roaming')).toEqual([]);

  // Switching on: a new event blocks again.
  // Switching on: the last switch-off's figures go; a new event blocks again.
  const idle = { state: 'idle', startedAt: null, finishedAt: null, reverted: 0, remaining: 0, runId: null };
  expect((await tem.call('PATCH', `admin/tem/providers/${p.id}`, { enabled: true })).body).toMatchObject({
    enabled: true,
    switchOff: idle,
  });
  const again = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: DIEGO, kind: 'roaming' });
  expect(again.statuses).toEqual([202]);
  await eventually(() => tem.members('roaming').includes(tem.deviceObject('diego-android')), 15_000, 'blocked again');
  // Nothing is left to revert while no switch-off runs, however many blocks are active.
  await eventually(async () => (await tem.call('GET', `admin/tem/providers/${p.id}`)).body.activeBlocks === 1, 10_000, 'one active block');
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body.switchOff).toEqual(idle);

  // Cleared unblocks; a data event uses the data group.
  await tem.send(p, 'usage.threshold_cleared', { phoneNumber: DIEGO, kind: 'roaming' });
  await eventually(() => !tem.members('roaming').includes(tem.deviceObject('diego-android')), 15_000, 'cleared');
  await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: DIEGO, kind: 'data', usageMb: 10_240, capMb: 10_000 });
  await eventually(() => tem.members('data').includes(tem.deviceObject('diego-android')), 15_000, 'data block');
  // A billing-cycle reset unblocks every line of the provider.
  await tem.send(p, 'billing_cycle.reset', { cycleStart: '2026-12-01' });
  await eventually(() => tem.members('data').length === 0, 15_000, 'reset unblocks');
  // Every action recorded as requested is settled: the outcome is written just after the group changes.
  await eventually(async () => (await tem.ledger(p.id)).every((r) => r.status !== 'requested'), 10_000, 'every requested action settled');
  expect((await tem.ledger(p.id)).filter((r) => r.status === 'requested')).toEqual([]);
});

test('personal and unknown lines are recorded and ignored with their reason', async () => {
  const p = await tem.register('Datalert personal');
  await tem.connected(p.id);
  const personal = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ISAIAH, kind: 'roaming' });
  const unknown = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: '+15551234567', kind: 'data' });
  const rows = await eventually(
    async () => {
      const l = await tem.ledger(p.id);
      return l.filter((r) => r.eventId === personal.webhookId || r.eventId === unknown.webhookId).length === 2 ? l : undefined;
    },
    10_000,
    'both ignored',
  );
  expect(rows.find((r) => r.eventId === personal.webhookId)).toMatchObject({
    status: 'ignored',
    reason: expect.stringMatching(/Personal line/),
  });
  expect(rows.find((r) => r.eventId === unknown.webhookId)).toMatchObject({
    status: 'ignored',
    reason: expect.stringMatching(/Unknown line/),
  });
  expect(tem.members('roaming')).not.toContain(tem.deviceObject('isaiah-iphone'));
});

test('an event older than the line\u2019s last applied one never overwrites it', async () => {
  const p = await tem.register('Datalert order');
  await tem.connected(p.id);
  const t0 = Date.now();
  const newer = await tem.send(
    p,
    'usage.threshold_exceeded',
    { phoneNumber: '+447700900104', kind: 'roaming' },
    { timestamp: new Date(t0).toISOString() },
  );
  await eventually(() => tem.members('roaming').includes(tem.deviceObject('grady-android')), 15_000, 'blocked');
  const older = await tem.send(
    p,
    'usage.threshold_cleared',
    { phoneNumber: '+447700900104', kind: 'roaming' },
    { timestamp: new Date(t0 - 60_000).toISOString() },
  );
  const row = await eventually(
    async () => (await tem.ledger(p.id)).find((r) => r.eventId === older.webhookId),
    10_000,
    'older event recorded',
  );
  expect(row).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/Older than the last event/) });
  expect(tem.members('roaming')).toContain(tem.deviceObject('grady-android'));
  expect(newer.statuses).toEqual([202]);
  await tem.send(
    p,
    'usage.threshold_cleared',
    { phoneNumber: '+447700900104', kind: 'roaming' },
    { timestamp: new Date(t0 + 1000).toISOString() },
  );
  await eventually(() => !tem.members('roaming').includes(tem.deviceObject('grady-android')), 15_000, 'newer clear applies');
});

test('the same event sent 50 times (20 at once) has exactly one effect', async () => {
  const p = await tem.register('Datalert dup');
  await tem.connected(p.id);
  env.sandbox.graph.resetStats();
  const r = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: '+447700900102', kind: 'data' }, { copies: 50, concurrency: 20 });
  // Every copy is acknowledged (2xx); the worker applies the webhook-id once.
  expect(r.statuses).toEqual(Array(50).fill(202));
  await eventually(() => tem.members('data').includes(tem.deviceObject('alex-iphone')), 15_000, 'blocked once');
  await new Promise((res) => setTimeout(res, 1000));
  const rows = (await tem.ledger(p.id)).filter((x) => x.eventId === r.webhookId);
  expect(rows).toEqual([expect.objectContaining({ status: 'applied', action: 'block' })]);
  expect(env.sandbox.graph.stats.byRoute[`POST /groups/{id}/members/$ref`]).toBe(1);
  const alerts = (await tem.call('GET', `admin/tem/providers/${p.id}/alerts`)).body.value;
  expect(alerts).toHaveLength(1);
});

test('connect: replayed, forged, expired-looking, foreign-browser and missing states change nothing', async () => {
  const p = await tem.register('Datalert state');
  const before = (await tem.call('GET', `admin/tem/providers/${p.id}`)).body;
  const link = await tem.call('GET', `tem/providers/${p.id}/connect`);
  const start = await fetch(link.body.url as string, { redirect: 'manual' });
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0];
  const consent = await fetch(start.headers.get('location')!, { redirect: 'manual' });
  const callback = new URL(consent.headers.get('location')!);

  const missing = new URL(callback);
  missing.searchParams.delete('state');
  const forged = new URL(callback);
  forged.searchParams.set('state', 'forged-state-value');
  for (const [url, headers, reason] of [
    [missing, { cookie }, /no state/],
    [forged, { cookie }, /unknown/],
    [callback, {}, /another browser/],
    [callback, { cookie: `${cookie.split('=')[0]}=someone-else` }, /another browser/],
  ] as const) {
    const res = await fetch(url, { headers });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(reason);
  }
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toEqual(before);
  // The start link was used once: opening it again starts nothing.
  const again = await fetch(link.body.url as string, { redirect: 'manual' });
  expect(again.status).toBe(400);
  expect(await again.text()).toMatch(/already used/);
  const ok = await fetch(callback, { headers: { cookie } });
  expect(ok.status).toBe(200);
  const replay = await fetch(callback, { headers: { cookie } });
  expect(replay.status).toBe(400);
  expect(await replay.text()).toMatch(/already used/);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body.connection).toBe('active');
});

test("connection states are camelCase; a provider stored as 'Active' by an earlier release reads as active and keeps enforcing", async () => {
  const p = await tem.register('Datalert legacy');
  await tem.connected(p.id);
  await tables.providers.modify('provider', p.id, (r) => ({ ...r!, connection: 'Active' as never }));
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body.connection).toBe('active');
  const s = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ISAIAH, kind: 'roaming' });
  // Isaiah's line is personal: the signal gets as far as the line check, past "not connected".
  await eventually(async () => (await tem.ledger(p.id)).find((r) => r.eventId === s.webhookId), 10_000, 'ledger row').then((row) =>
    expect(row.reason).toMatch(/Personal line/),
  );
});

test('connect: a declined consent and a failed Graph probe leave the provider not active', async () => {
  const p = await tem.register('Datalert declined');
  env.sandbox.entra.consentDecision = 'deny';
  const declined = await tem.connect(p.id);
  env.sandbox.entra.consentDecision = 'grant';
  expect(declined.done.status).toBe(400);
  expect(declined.page).toMatch(/not granted/);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({
    connection: 'failed',
    connectionDetail: expect.stringMatching(/declined/),
  });

  // Only the consent probe ($top=1), not a line sync running in the background. Entra ID may take
  // minutes to apply a consent: the probe is retried for CONSENT_WAIT_SECONDS (3 s here), shown as
  // pendingConsent, then failed with the reason.
  env.sandbox.graph.setFaults([
    { method: 'GET', path: '^/deviceManagement/managedDevices$', query: '\\$top=1(&|$)', status: 403, code: 'Forbidden', count: 1000 },
  ]);
  const probe = await tem.connect(p.id);
  expect(probe.done.status).toBe(200);
  expect(probe.page).toMatch(/few minutes/);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({
    connection: 'pendingConsent',
    connectionDetail: expect.stringMatching(/refused the app/),
  });
  await eventually(
    async () => (await tem.call('GET', `admin/tem/providers/${p.id}`)).body.connection === 'failed',
    15_000,
    'consent wait over',
  );
  env.sandbox.graph.setFaults([]);
  const failed = (await tem.call('GET', `admin/tem/providers/${p.id}`)).body;
  expect(failed.connectionDetail).toMatch(/refused the app.*still refused/);
  expect(failed.connectionAttempts.map((a: { outcome: string }) => a.outcome)).toEqual(['failed', 'failed']);
  expect(env.sandbox.graph.stats.byRoute['GET /deviceManagement/managedDevices']).toBeGreaterThan(2);
  // A signal for a provider that is not connected is recorded and ignored.
  const s = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'roaming' });
  await eventually(
    async () =>
      (await tem.ledger(p.id)).some(
        (r) => r.eventId === s.webhookId && /not connected/.test(r.reason ?? '') && r.line === ADELE && r.kind === 'roaming',
      ),
    10_000,
    'ignored: not connected',
  );
});

describe('webhook input', () => {
  let p: { id: string; secret: string; webhookUrl: string };
  const eventsQueue = () => new QueueClient(env.azurite.connectionString.replace(/;$/, ''), QUEUE_EVENTS);
  const queued = async () => (await eventsQueue().getProperties()).approximateMessagesCount ?? 0;

  beforeAll(async () => {
    p = await tem.register('Datalert input');
  });

  test('500 malformed or mis-signed requests get 4xx, never 5xx, and queue nothing', async () => {
    const { Webhook } = await import('standardwebhooks');
    const good = JSON.stringify({
      type: 'usage.threshold_exceeded',
      timestamp: new Date().toISOString(),
      data: { phoneNumber: ADELE, kind: 'roaming' },
    });
    const now = Math.floor(Date.now() / 1000);
    const sign = (id: string, ts: number, body: string, secret = p.secret) => new Webhook(secret).sign(id, new Date(ts * 1000), body);
    const variants: ((i: number) => { headers: Record<string, string>; body: string })[] = [
      (i) => ({ headers: { 'content-type': 'application/json', 'webhook-id': `m${i}`, 'webhook-timestamp': String(now) }, body: good }),
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': `${now}abc`,
          'webhook-signature': sign(`m${i}`, now, good),
        },
        body: good,
      }),
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now - 301),
          'webhook-signature': sign(`m${i}`, now - 301, good),
        },
        body: good,
      }),
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now),
          'webhook-signature': sign(`m${i}`, now, good, 'whsec_' + Buffer.alloc(32, 7).toString('base64')),
        },
        body: good,
      }),
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now),
          'webhook-signature': sign(`m${i}`, now, good),
        },
        body: good.replace('roaming', 'roamin'),
      }),
      (i) => ({
        headers: {
          'content-type': 'text/plain',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now),
          'webhook-signature': sign(`m${i}`, now, good),
        },
        body: good,
      }),
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now),
          'webhook-signature': sign(`m${i}`, now, '{"type":'),
        },
        body: '{"type":',
      }),
      (i) => {
        const big = JSON.stringify({
          type: 'usage.threshold_exceeded',
          timestamp: new Date().toISOString(),
          data: { phoneNumber: ADELE, kind: 'roaming' },
          pad: 'x'.repeat(70_000),
        });
        return {
          headers: {
            'content-type': 'application/json',
            'webhook-id': `m${i}`,
            'webhook-timestamp': String(now),
            'webhook-signature': sign(`m${i}`, now, big),
          },
          body: big,
        };
      },
      (i) => {
        const wrong = JSON.stringify({
          type: 'usage.threshold_exceeded',
          timestamp: 'yesterday',
          data: { phoneNumber: 'call me', kind: 'roaming' },
        });
        return {
          headers: {
            'content-type': 'application/json',
            'webhook-id': `m${i}`,
            'webhook-timestamp': String(now),
            'webhook-signature': sign(`m${i}`, now, wrong),
          },
          body: wrong,
        };
      },
      (i) => ({
        headers: {
          'content-type': 'application/json',
          'webhook-id': `m${i}`,
          'webhook-timestamp': String(now),
          'webhook-signature': `v1,${Buffer.alloc(32, i % 256).toString('base64')}`,
        },
        body: good,
      }),
    ];
    const before = await queued();
    const statuses = new Map<number, number>();
    for (let i = 0; i < 500; i += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, j) => {
          const { headers, body } = variants[(i + j) % variants.length](i + j);
          const res = await fetch(p.webhookUrl, { method: 'POST', headers, body });
          const problem = (await res.json()) as { status: number; detail: string };
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          expect(problem.status).toBe(res.status);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }),
      );
    }
    expect([...statuses.keys()].sort()).toEqual([400, 401, 413, 415]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(500);
    // Anything queued would be processed into a ledger row (this provider is not connected, so "ignored").
    await new Promise((r) => setTimeout(r, 1500));
    expect(await queued()).toBe(before);
    expect((await tem.ledger(p.id)).length).toBe(0);
    // The control: one valid event does reach the ledger the same way.
    const ok = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'roaming' });
    expect(ok.statuses).toEqual([202]);
    await eventually(async () => (await tem.ledger(p.id)).length === 1, 10_000, 'the control event processed');
  });

  test("moving the local host's clock moves the sandbox's with it: signed deliveries are still on time", async () => {
    const clock = `${env.host!.url}/_host/clock`;
    try {
      const moved = await fetch(clock, { method: 'PUT', body: JSON.stringify({ offsetDays: 2 }) });
      expect(await moved.json()).toMatchObject({ offsetDays: 2, sandbox: 'moved with it' });
      const sent = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'data' });
      expect(sent.statuses).toEqual([202]);
    } finally {
      await fetch(clock, { method: 'PUT', body: JSON.stringify({ offsetDays: 0 }) });
    }
    expect((await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'data' })).statuses).toEqual([202]);
  });

  test('the ledger pages with a continuation token: following nextLink reads every row once; a forged token is a 400', async () => {
    const sent: string[] = [];
    for (const kind of ['data', 'roaming', 'data'])
      sent.push((await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: DIEGO, kind })).webhookId);
    await eventually(
      async () => {
        const ids = (await tem.ledger(p.id)).map((r) => r.eventId);
        return sent.every((id) => ids.includes(id));
      },
      10_000,
      'three ledger rows',
    );
    const all = (await tem.call('GET', `admin/tem/providers/${p.id}/ledger?top=1000`)).body as {
      value: { eventId: string }[];
      nextLink?: string;
    };
    expect(all.nextLink).toBeUndefined();
    const paged: string[] = [];
    let url: string | undefined = `${api}/admin/tem/providers/${p.id}/ledger?top=1`;
    for (let i = 0; url && i < 1000; i++) {
      const page = (await tem.call('GET', url.slice(url.indexOf('/api/') + 5))).body as { value: { eventId: string }[]; nextLink?: string };
      expect(page.value.length).toBeLessThanOrEqual(1);
      paged.push(...page.value.map((r) => r.eventId));
      url = page.nextLink;
    }
    expect(paged).toEqual(all.value.map((r) => r.eventId));
    const forged = await tem.call('GET', `admin/tem/providers/${p.id}/ledger?top=1&continuationToken=not-a-token`);
    expect(forged.status).toBe(400);
    expect(forged.body.detail).toMatch(/continuationToken is not one this list gave/);
  });

  test('the ledger filtered by status, action, kind and line; a filter that cannot match is a 400 saying why', async () => {
    type Row = { eventId?: string; status: string; action: string; kind?: string; line?: string };
    const all = (await tem.call('GET', `admin/tem/providers/${p.id}/ledger?top=1000`)).body.value as Row[];
    const pick = (q: string) => tem.call('GET', `admin/tem/providers/${p.id}/ledger?top=1000&${q}`);
    const cases: [string, (r: Row) => boolean][] = [
      ['kind=roaming', (r) => r.kind === 'roaming'],
      ['action=none&kind=data', (r) => r.action === 'none' && r.kind === 'data'],
      [`line=${encodeURIComponent('+44 7700 900103')}`, (r) => r.line === DIEGO],
      ['status=ignored', (r) => r.status === 'ignored'],
    ];
    for (const [q, keep] of cases) {
      const want = all.filter(keep);
      expect({ q, n: want.length > 0 }).toEqual({ q, n: true }); // each filter is tried on rows it must keep
      expect({ q, got: (await pick(q)).body.value }).toEqual({ q, got: want });
    }
    expect((await pick('status=applied&kind=data')).body.value).toEqual(all.filter((r) => r.status === 'applied' && r.kind === 'data'));
    // Paging keeps the filter: nextLink carries it.
    const first = (await tem.call('GET', `admin/tem/providers/${p.id}/ledger?top=1&kind=data`)).body;
    expect(first.nextLink).toContain('kind=data');
    const bad = await pick('line=call-me');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/E\.164/);
    expect((await pick('status=done')).status).toBe(400);
  });

  test('an unknown provider id is 404 and a bad one 400', async () => {
    const res = await fetch(`${api}/tem/providers/00000000-0000-4000-8000-000000000000/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(404);
    expect((await fetch(`${api}/tem/providers/not-a-guid/events`, { method: 'POST', body: '{}' })).status).toBe(400);
  });
});
