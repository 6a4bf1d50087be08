import { resolve } from 'node:path';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';
import { temDriver } from '../helpers/tem';

/**
 * TEM under out-of-order and concurrent events: per line and kind, the newest event wins, and the
 * block records and the groups' members always end up agreeing; the reconciliation repairs the
 * groups when someone edits them by hand.
 */
let env: TestEnv;
let tem: ReturnType<typeof temDriver>;
type Provider = Awaited<ReturnType<ReturnType<typeof temDriver>['register']>>;

beforeAll(async () => {
  env = await startEnv({ entry: 'dist/functions/index.js', hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json') });
  tem = temDriver(env, `${env.host!.url}/api`);
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

const ADELE = '+447700900101'; // adele-iphone
const DIEGO = '+447700900103'; // diego-android
const GRADY = '+447700900104'; // grady-android

const FINAL = new Set(['applied', 'reverted', 'ignored', 'failed']);
/** Waits until every one of the events has its final ledger row (all workers are done with them). */
const settled = (p: Provider, ids: string[]) =>
  eventually(
    async () => {
      const rows = await tem.ledger(p.id);
      return ids.every((id) => rows.some((r) => r.eventId === id && FINAL.has(r.status))) ? rows : undefined;
    },
    30_000,
    `${ids.length} events settled`,
  );

/** The line's active blocks as the admin API reports them. */
const blocksOf = async (number: string) => {
  const lines = (await tem.call('GET', 'admin/tem/lines')).body.value as {
    phoneNumber: string;
    blocks: { providerId: string; kind: string }[];
  }[];
  const line = lines.find((l) => l.phoneNumber === number);
  return line?.blocks ?? [];
};

let providers: Provider[];
beforeAll(async () => {
  providers = [];
  for (const name of ['Datalert A', 'Datalert B']) {
    const p = await tem.register(name);
    await tem.connected(p.id);
    providers.push(p);
  }
});

test('a newer "cleared" and then an older "exceeded": the line stays unblocked', async () => {
  const [p] = providers;
  const t0 = Date.parse('2026-11-20T10:00:00Z');
  const cleared = await tem.send(
    p,
    'usage.threshold_cleared',
    { phoneNumber: ADELE, kind: 'data' },
    { timestamp: new Date(t0).toISOString() },
  );
  await settled(p, [cleared.webhookId]);
  const exceeded = await tem.send(
    p,
    'usage.threshold_exceeded',
    { phoneNumber: ADELE, kind: 'data' },
    { timestamp: new Date(t0 - 60_000).toISOString() },
  );
  const rows = await settled(p, [exceeded.webhookId]);
  expect(rows.find((r) => r.eventId === cleared.webhookId)).toMatchObject({
    status: 'ignored',
    reason: expect.stringMatching(/Nothing to unblock/),
  });
  expect(rows.find((r) => r.eventId === exceeded.webhookId)).toMatchObject({
    status: 'ignored',
    reason: expect.stringMatching(/Older than the last event/),
  });
  expect(tem.members('data')).not.toContain(tem.deviceObject('adele-iphone'));
  expect((await blocksOf(ADELE)).filter((b) => b.kind === 'data')).toEqual([]);
});

test('20 random orders of 5 alternating events for one line, delivered at once: the newest event always wins, in the records and in the group', async () => {
  const [p] = providers;
  const device = tem.deviceObject('diego-android');
  let base = Date.parse('2026-11-21T00:00:00Z');
  for (let order = 0; order < 20; order++) {
    const startBlocked = Math.random() < 0.5;
    const events = Array.from({ length: 5 }, (_, i) => ({
      type: (i % 2 === 0) === startBlocked ? 'usage.threshold_exceeded' : 'usage.threshold_cleared',
      at: base + i * 1000,
    }));
    base += 60_000; // every order is newer than the one before
    const shuffled = [...events].sort(() => Math.random() - 0.5);
    const sent = await Promise.all(
      shuffled.map((e) => tem.send(p, e.type, { phoneNumber: DIEGO, kind: 'data' }, { timestamp: new Date(e.at).toISOString() })),
    );
    expect(sent.map((s) => s.statuses)).toEqual(Array(5).fill([202]));
    await settled(
      p,
      sent.map((s) => s.webhookId),
    );
    const newest = events[events.length - 1];
    const wantBlocked = newest.type === 'usage.threshold_exceeded';
    const order_ = `order ${order}: ${shuffled.map((e) => `${e.type.split('_')[1]}@${(e.at - events[0].at) / 1000}`).join(', ')}`;
    expect({ order: order_, member: tem.members('data').includes(device) }).toEqual({ order: order_, member: wantBlocked });
    expect({ order: order_, record: (await blocksOf(DIEGO)).some((b) => b.kind === 'data' && b.providerId === p.id) }).toEqual({
      order: order_,
      record: wantBlocked,
    });
  }
  // Nothing left half-done.
  expect((await tem.ledger(p.id)).filter((r) => r.status === 'requested')).toEqual([]);
});

test('two providers blocking one line: the device leaves the group only when neither blocks it', async () => {
  const [a, b] = providers;
  const device = tem.deviceObject('grady-android');
  const t = Date.parse('2026-11-22T10:00:00Z');
  const at = (s: number) => ({ timestamp: new Date(t + s * 1000).toISOString() });
  const both = await Promise.all([
    tem.send(a, 'usage.threshold_exceeded', { phoneNumber: GRADY, kind: 'roaming' }, at(0)),
    tem.send(b, 'usage.threshold_exceeded', { phoneNumber: GRADY, kind: 'roaming' }, at(0)),
  ]);
  await settled(a, [both[0].webhookId]);
  await settled(b, [both[1].webhookId]);
  expect(tem.members('roaming')).toContain(device);
  const clearA = await tem.send(a, 'usage.threshold_cleared', { phoneNumber: GRADY, kind: 'roaming' }, at(1));
  const rows = await settled(a, [clearA.webhookId]);
  expect(rows.find((r) => r.eventId === clearA.webhookId)).toMatchObject({
    status: 'reverted',
    reason: expect.stringMatching(/another provider blocks this line/),
  });
  expect(tem.members('roaming')).toContain(device);
  const clearB = await tem.send(b, 'usage.threshold_cleared', { phoneNumber: GRADY, kind: 'roaming' }, at(1));
  await settled(b, [clearB.webhookId]);
  expect(tem.members('roaming')).not.toContain(device);
  expect((await blocksOf(GRADY)).filter((x) => x.kind === 'roaming')).toEqual([]);
});

test('a device removed from its block group by hand is put back by the reconciliation, and one added by hand is taken out, each with a ledger row', async () => {
  const [p] = providers;
  const blocked = tem.deviceObject('adele-iphone');
  const stranger = tem.deviceObject('lee-laptop');
  const e = await tem.send(p, 'usage.threshold_exceeded', { phoneNumber: ADELE, kind: 'roaming' }, { timestamp: '2026-11-23T10:00:00Z' });
  await settled(p, [e.webhookId]);
  const members = env.sandbox.store.groupMembers.get(tem.group('roaming')!.id)!;
  expect(members.has(blocked)).toBe(true);
  members.delete(blocked);
  members.add(stranger);

  const r = await tem.call('POST', 'admin/tem/reconcile');
  expect(r.status).toBe(202);
  await eventually(() => members.has(blocked) && !members.has(stranger), 15_000, 'groups repaired');
  const rows = await eventually(
    async () => {
      const l = (await tem.ledger(p.id)).filter((x) => x.status === 'repaired');
      return l.length >= 2 ? l : undefined;
    },
    10_000,
    'repairs in the ledger',
  );
  expect(rows).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ action: 'block', kind: 'roaming', line: ADELE, reason: expect.stringMatching(/added back/) }),
      expect.objectContaining({ action: 'unblock', kind: 'roaming', reason: expect.stringContaining(stranger) }),
    ]),
  );
  // A second run finds nothing to repair.
  const before = rows.length;
  await tem.call('POST', 'admin/tem/reconcile');
  await new Promise((res) => setTimeout(res, 1500));
  expect((await tem.ledger(p.id)).filter((x) => x.status === 'repaired')).toHaveLength(before);
});

test('a switch-off racing with late events leaves nothing blocked behind it', async () => {
  const p = await tem.register('Datalert switch-off race');
  await tem.connected(p.id);
  const devices = (await (
    await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 8, owner: 'company', os: 'Android' }),
    })
  ).json()) as { value: { id: string; phoneNumber: string }[] };
  expect((await tem.call('POST', 'admin/tem/lines/sync')).status).toBe(202);
  await eventually(
    async () => {
      const lines = (await tem.call('GET', 'admin/tem/lines')).body.value as { phoneNumber: string }[];
      return devices.value.every((d) => lines.some((l) => l.phoneNumber === d.phoneNumber));
    },
    20_000,
    'new lines synced',
  );
  const first = await Promise.all(
    devices.value.slice(0, 4).map((d) => tem.send(p, 'usage.threshold_exceeded', { phoneNumber: d.phoneNumber, kind: 'data' })),
  );
  await settled(
    p,
    first.map((s) => s.webhookId),
  );
  // Switch off while more events arrive for the same and other lines.
  const [late, off] = await Promise.all([
    Promise.all(devices.value.map((d) => tem.send(p, 'usage.threshold_exceeded', { phoneNumber: d.phoneNumber, kind: 'data' }))),
    tem.call('PATCH', `admin/tem/providers/${p.id}`, { enabled: false }),
  ]);
  expect(off.status).toBe(202);
  await settled(
    p,
    late.map((s) => s.webhookId),
  );
  await eventually(
    async () => (await tem.call('GET', `admin/tem/providers/${p.id}`)).body.switchOff.state === 'done',
    20_000,
    'switch-off done',
  );
  const objects = devices.value.map((d) => tem.deviceObjectOf(env.sandbox.store.get('managedDevices', d.id)));
  expect(tem.members('data').filter((m) => objects.includes(m))).toEqual([]);
  expect((await tem.call('GET', `admin/tem/providers/${p.id}`)).body).toMatchObject({
    activeBlocks: 0,
    pendingChanges: 0,
    switchOff: { remaining: 0 },
  });
  expect((await tem.ledger(p.id)).filter((r) => r.status === 'requested')).toEqual([]);
});
