import { resolve } from 'node:path';
import { QueueClient } from '@azure/storage-queue';
import { setClock } from '../../shared/platform/clock';
import { encodeMessage } from '../../shared/platform/storage/queues';
import { complianceDriver, PNG_1X1 } from '../helpers/compliance';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/**
 * Compliance actions end to end: the app in the local host, Azurite, the sandbox's Intune and
 * Exchange. The app's clock is moved day by day, so a two-week schedule runs in seconds.
 */
jest.setTimeout(120_000);

let env: TestEnv;
let c: ReturnType<typeof complianceDriver>;
const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.parse('2026-12-01T09:00:00Z');
let now = T0;
const day = (n: number) => {
  now = T0 + n * DAY;
};

beforeAll(async () => {
  setClock(() => now);
  // The timer stays out of the way (once a year); the tests run detection through the admin API.
  env = await startEnv({
    entry: 'dist/functions/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    settings: { COMPLIANCE_SCAN_SCHEDULE: '0 0 0 1 1 *', COMPLIANCE_SENT_ITEMS_WAIT_SECONDS: '3' },
  });
  c = complianceDriver(env, `${env.host!.url}/api`);
});
afterAll(async () => {
  setClock();
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

describe('bad templates and schedules get clear 400s and change nothing', () => {
  const good = {
    name: 'Valid',
    messages: [{ locale: 'en-US', isDefault: true, subject: 'Fix {{DeviceName}}', body: 'Hello {{UserName}}' }],
  };
  const cases: [string, unknown, RegExp][] = [
    [
      'an over-long subject',
      { ...good, messages: [{ ...good.messages[0], subject: 'x'.repeat(256) }] },
      /messages\.0\.subject: the subject is longer than 255 characters/,
    ],
    [
      'an unknown variable',
      { ...good, messages: [{ ...good.messages[0], body: 'Hi {{FavouriteColour}}' }] },
      /messages\.0\.body: unknown variable \{\{FavouriteColour\}\}; use one of \{\{UserName\}\}/,
    ],
    ['unbalanced braces', { ...good, messages: [{ ...good.messages[0], body: 'Hi {{UserName' }] }, /unbalanced/],
    [
      'no default locale',
      { ...good, messages: [{ ...good.messages[0], isDefault: false }] },
      /exactly one message must have isDefault: true \(found 0\)/,
    ],
    [
      'a locale twice',
      { ...good, messages: [good.messages[0], { ...good.messages[0], locale: 'EN-us', isDefault: false }] },
      /locale en-us appears twice/,
    ],
    ['an empty body', { ...good, messages: [{ ...good.messages[0], body: ' ' }] }, /the body is empty/],
  ];
  test.each(cases)('template with %s', async (_, body, message) => {
    const before = (await c.call('GET', 'admin/compliance/templates')).body.value;
    const r = await c.call('POST', 'admin/compliance/templates', body);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.body.detail).toMatch(message);
    expect((await c.call('GET', 'admin/compliance/templates')).body.value).toEqual(before);
  });

  test('a device Intune does not have is a 404; one it has with no records is an empty answer', async () => {
    const unknown = await c.call('GET', 'admin/compliance/devices/0b0b0b0b-1111-4222-8333-444444444444');
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/No managed device '0b0b0b0b-1111-4222-8333-444444444444' in Intune/);
    const known = await c.call('GET', `admin/compliance/devices/${c.device('adele-iphone')}`);
    expect(known.status).toBe(200);
  });

  test('schedules: day 366, no mark action, two marks, unknown template or group, unknown policy', async () => {
    const policy = c.policy('android-baseline');
    const before = (await c.call('GET', `admin/compliance/policies/${policy}/actions`)).body;
    expect(before.actions).toEqual([{ id: 'markNoncompliant@0', type: 'markNoncompliant', days: 0 }]);
    const tpl = await c.template('Schedule checks');
    const bad: [unknown, RegExp][] = [
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'remoteLock', days: 366 },
          ],
        },
        /actions\.1\.days: at most 365 days/,
      ],
      [{ actions: [{ type: 'remoteLock', days: 3 }] }, /the 'markNoncompliant' action is required and cannot be removed/],
      [{ actions: [] }, /the 'markNoncompliant' action is required/],
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'markNoncompliant', days: 3 },
          ],
        },
        /only one 'markNoncompliant'/,
      ],
      [{ actions: [{ type: 'markNoncompliant', days: -1 }] }, /at least 0 days/],
      [{ actions: [{ type: 'markNoncompliant', days: 1.5 }] }, /a whole number of days/],
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'wipe', days: 3 },
          ],
        },
        /type must be one of markNoncompliant, email, remoteLock, retire/,
      ],
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 2, templateId: 'nope' },
          ],
        },
        /actions\.1\.templateId: there is no notification template 'nope'/,
      ],
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 2, templateId: tpl.id, additionalRecipientGroupIds: ['00000000-0000-4000-8000-000000000000'] },
          ],
        },
        /there is no group '00000000-0000-4000-8000-000000000000'/,
      ],
      [
        {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 2, templateId: tpl.id },
            { type: 'email', days: 2, templateId: tpl.id },
          ],
        },
        /both email on day 2/,
      ],
    ];
    for (const [body, message] of bad) {
      const r = await c.call('PUT', `admin/compliance/policies/${policy}/actions`, body);
      expect({ status: r.status, detail: r.body.detail }).toEqual({ status: 400, detail: expect.stringMatching(message) });
    }
    expect((await c.call('GET', `admin/compliance/policies/${policy}/actions`)).body).toEqual(before);
    const unknown = await c.call('PUT', 'admin/compliance/policies/00000000-0000-4000-8000-000000000001/actions', {
      actions: [{ type: 'markNoncompliant', days: 0 }],
    });
    expect(unknown.status).toBe(404);
    expect((await c.call('DELETE', `admin/compliance/templates/${tpl.id}`)).status).toBe(204);
  });

  test('a template in use cannot be deleted; a logo must be a real PNG or JPEG', async () => {
    const tpl = await c.template('In use');
    const policy = c.policy('android-baseline');
    expect(
      (
        await c.call('PUT', `admin/compliance/policies/${policy}/actions`, {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 30, templateId: tpl.id },
          ],
        })
      ).status,
    ).toBe(200);
    const del = await c.call('DELETE', `admin/compliance/templates/${tpl.id}`);
    expect(del.status).toBe(409);
    expect(del.body.detail).toContain(policy);
    expect((await c.call('DELETE', `admin/compliance/policies/${policy}/actions`)).status).toBe(200);
    expect((await c.call('DELETE', `admin/compliance/templates/${tpl.id}`)).status).toBe(204);

    expect(
      (await c.call('PUT', 'admin/compliance/branding/logo', Buffer.from('not an image'), { 'content-type': 'image/png' })).status,
    ).toBe(400);
    expect((await c.call('PUT', 'admin/compliance/branding/logo', PNG_1X1, { 'content-type': 'image/gif' })).status).toBe(415);
    expect((await c.call('GET', 'admin/compliance/branding')).body.logo).toBeNull();
  });
});

describe('a two-week schedule: email on days 2 and 5, lock on day 7', () => {
  let template: { id: string };
  const alex = () => c.device('alex-iphone');
  let grady: string; // a second noncompliant iPhone that recovers on day 6
  const ios = () => c.policy('ios-baseline');

  beforeAll(async () => {
    day(0);
    template = await c.template();
    expect(
      (
        await c.call('PUT', 'admin/compliance/branding', {
          companyName: 'Contoso',
          contact: {
            name: 'IT Service Desk',
            email: 'it@contoso-demo.example',
            phone: '+44 20 7946 0000',
            website: 'https://it.contoso-demo.example',
          },
        })
      ).status,
    ).toBe(200);
    expect((await c.call('PUT', 'admin/compliance/branding/logo', PNG_1X1, { 'content-type': 'image/png' })).status).toBe(200);
    const managers = [...env.sandbox.store.table('groups').values()].find((g) => g.mailNickname === 'compliance-managers')!.id;
    const put = await c.call('PUT', `admin/compliance/policies/${ios()}/actions`, {
      actions: [
        { type: 'remoteLock', days: 7 },
        { type: 'email', days: 2, templateId: template.id, additionalRecipientGroupIds: [managers] },
        { type: 'email', days: 5, templateId: template.id },
        { type: 'markNoncompliant', days: 1 },
        { type: 'retire', days: 14 },
      ],
    });
    expect(put.status).toBe(200);
    expect(put.body.actions.map((a: { id: string }) => a.id)).toEqual([
      'markNoncompliant@1',
      'email@2',
      'email@5',
      'remoteLock@7',
      'retire@14',
    ]);
    const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 1, os: 'iOS' }),
    });
    grady = ((await added.json()) as { value: { id: string }[] }).value[0].id;
    await c.flip(grady, 'noncompliant');
  });

  test('day 0: detected, grace period until day 1, nothing sent yet', async () => {
    const l = await c.evaluateUntil(alex(), (l) => l.length === 5, 'alex planned');
    expect(l.map((a) => [a.action, a.status, a.dueAt])).toEqual([
      ['markNoncompliant@1', 'pending', new Date(T0 + DAY).toISOString()],
      ['email@2', 'pending', new Date(T0 + 2 * DAY).toISOString()],
      ['email@5', 'pending', new Date(T0 + 5 * DAY).toISOString()],
      ['remoteLock@7', 'pending', new Date(T0 + 7 * DAY).toISOString()],
      ['retire@14', 'pending', new Date(T0 + 14 * DAY).toISOString()],
    ]);
    const state = (await c.ledger(alex())).states.find((s) => s.policyId === ios())!;
    expect(state).toMatchObject({
      status: 'noncompliant',
      noncompliantSince: new Date(T0).toISOString(),
      inGracePeriod: true,
      graceUntil: new Date(T0 + DAY).toISOString(),
      markedNoncompliantAt: null,
    });
    expect(c.outbox()).toHaveLength(0);
    const scans = await eventually(
      async () => {
        const v = (await c.call('GET', 'admin/runs?kind=compliance.scan')).body.value as {
          state: string;
          outcome: { policies: Record<string, { newlyNoncompliant: number; planned: number; skipped: number }> } | null;
        }[];
        return v.length && v[0].state === 'succeeded' ? v : undefined;
      },
      10_000,
      'scan recorded',
    );
    // alex, the bulk iPhone and megan's Jamf iPad: two planned with five actions each, one skipped.
    expect(scans[0].outcome!.policies[ios()]).toMatchObject({ newlyNoncompliant: 3, planned: 10, skipped: 5 });
  });

  test('device states page with a continuation token: following nextLink reads each state once', async () => {
    const all = (await c.call('GET', 'admin/compliance/devices?top=1000')).body as {
      value: { deviceId: string; policyId: string }[];
      nextLink?: string;
    };
    expect(all.value.length).toBeGreaterThanOrEqual(3);
    expect(all.nextLink).toBeUndefined();
    const seen: string[] = [];
    let next: string | undefined = 'admin/compliance/devices?top=2';
    while (next) {
      const page = (await c.call('GET', next)).body as { value: { deviceId: string; policyId: string }[]; nextLink?: string };
      expect(page.value.length).toBeLessThanOrEqual(2);
      seen.push(...page.value.map((s) => `${s.policyId}|${s.deviceId}`));
      next = page.nextLink?.slice(page.nextLink.indexOf('/api/') + 5);
    }
    expect(seen).toEqual(all.value.map((s) => `${s.policyId}|${s.deviceId}`));
  });

  test('day 1: marked noncompliant, grace over', async () => {
    day(1);
    await c.evaluateUntil(alex(), (l) => c.status(l, 'markNoncompliant@1') === 'done', 'marked');
    const state = (await c.ledger(alex())).states.find((s) => s.policyId === ios())!;
    expect(state).toMatchObject({ inGracePeriod: false, markedNoncompliantAt: new Date(T0 + DAY).toISOString() });
    // Nothing about alex changed since day 0, yet the day-1 scan saw it: lastSeenAt says so.
    expect(Date.parse((state as unknown as { lastSeenAt: string }).lastSeenAt)).toBeGreaterThanOrEqual(T0 + DAY);
    expect(c.outbox()).toHaveLength(0);
  });

  test("day 2: the first email, in the user's locale, with branding, device details and the extra recipients", async () => {
    day(2);
    const l = await c.evaluateUntil(alex(), (l) => c.status(l, 'email@2') === 'done', 'first email');
    await eventually(async () => c.status((await c.ledger(grady)).actions, 'email@2') === 'done', 20_000, 'grady email');
    const mails = c.mailsTo('alex@contoso-demo.example');
    expect(mails).toHaveLength(1);
    const m = mails[0];
    // Alex's preferred language is en-GB.
    expect(m.subject).toBe('Action needed (UK): alex-iphone is not compliant');
    expect(m.from).toBe('lee@contoso-demo.example');
    expect(m.ccRecipients!.map((r) => r.emailAddress.address).sort()).toEqual([
      'johanna@contoso-demo.example',
      'megan@contoso-demo.example',
    ]);
    expect(m.body.content).toContain('<img src="cid:company-logo"');
    expect(m.attachments).toEqual([
      expect.objectContaining({
        contentId: 'company-logo',
        isInline: true,
        contentType: 'image/png',
        contentBytes: PNG_1X1.toString('base64'),
      }),
    ]);
    expect(m.body.content).toContain('Contoso');
    expect(m.body.content).toContain('IT Service Desk');
    expect(m.body.content).toContain('it@contoso-demo.example');
    for (const detail of ['alex-iphone', 'iOS 17.4', 'iOS baseline', '2026-12-01 09:00 UTC']) expect(m.body.content).toContain(detail);
    expect(l.find((a) => a.action === 'email@2')!.sentTo).toContain('alex@contoso-demo.example');
    expect(c.mailsTo(`grady@contoso-demo.example`)).toHaveLength(1);
  });

  test('day 5: the second email; day 6: grady turns compliant; day 7: alex is locked, grady is not', async () => {
    day(5);
    await c.evaluateUntil(alex(), (l) => c.status(l, 'email@5') === 'done', 'second email');
    await eventually(async () => c.status((await c.ledger(grady)).actions, 'email@5') === 'done', 20_000, "grady's second email");
    expect(c.mailsTo('alex@contoso-demo.example').map((m) => m.subject)).toEqual([
      'Action needed (UK): alex-iphone is not compliant',
      'Action needed (UK): alex-iphone is not compliant',
    ]);
    expect(c.locks(alex())).toHaveLength(0);

    day(6);
    await c.flip(grady, 'compliant');
    const g = await c.evaluateUntil(grady, (l) => c.status(l, 'remoteLock@7') === 'cancelled', 'grady cancelled');
    expect(g.find((a) => a.action === 'remoteLock@7')!.reason).toBe('device compliant again');
    // The episode is closed after its pending actions are cancelled.
    await eventually(async () => (await c.ledger(grady)).states[0].status === 'compliant', 10_000, 'grady compliant');
    expect((await c.ledger(grady)).states[0]).toMatchObject({ status: 'compliant' });

    day(7);
    await c.evaluateUntil(alex(), (l) => c.status(l, 'remoteLock@7') === 'done', 'alex locked');
    expect(c.locks(alex())).toHaveLength(1);
    expect(c.locks(grady)).toHaveLength(0);
    expect((await c.ledger(grady)).actions.map((a) => [a.action, a.status])).toEqual([
      ['markNoncompliant@1', 'done'],
      ['email@2', 'done'],
      ['email@5', 'done'],
      ['remoteLock@7', 'cancelled'],
      ['retire@14', 'cancelled'],
    ]);
    expect(c.mailsTo('alex@contoso-demo.example')).toHaveLength(2);
  });

  test('day 14: alex, still noncompliant, is retired', async () => {
    day(14);
    const l = await c.evaluateUntil(alex(), (l) => c.status(l, 'retire@14') === 'done', 'alex retired');
    expect(l.map((a) => a.status)).toEqual(['done', 'done', 'done', 'done', 'done']);
    const device = env.sandbox.store.table('managedDevices').get(alex())!;
    expect(device.managementState).toBe('retirePending');
    expect((device.deviceActionResults as { actionName: string }[]).filter((r) => r.actionName === 'retire')).toHaveLength(1);
  });

  test('a Jamf-managed device gets no action: every row says skipped: partner-managed', async () => {
    const ipad = c.device('megan-ipad');
    const l = (await c.ledger(ipad)).actions;
    expect(l.map((a) => [a.action, a.status, a.reason])).toEqual([
      ['markNoncompliant@1', 'skipped', 'partner-managed'],
      ['email@2', 'skipped', 'partner-managed'],
      ['email@5', 'skipped', 'partner-managed'],
      ['remoteLock@7', 'skipped', 'partner-managed'],
      ['retire@14', 'skipped', 'partner-managed'],
    ]);
    expect(c.mailsTo('megan@contoso-demo.example')).toHaveLength(0);
    expect(c.locks(ipad)).toHaveLength(0);
  });

  test('preview renders with a real device; test send goes out in the default locale', async () => {
    const p = await c.call('POST', `admin/compliance/templates/${template.id}/preview`, {
      deviceId: c.device('isaiah-iphone'),
      policyName: 'iOS baseline',
    });
    expect(p.status).toBe(200);
    // Isaiah prefers de-DE.
    expect(p.body).toMatchObject({
      to: 'isaiah@contoso-demo.example',
      locale: 'de-de',
      subject: 'Handlungsbedarf: isaiah-iphone ist nicht konform',
    });
    expect(p.body.html).toContain('iOS 16.7');
    expect(
      (await c.call('POST', `admin/compliance/templates/${template.id}/preview`, { deviceId: '00000000-0000-4000-8000-000000000009' }))
        .status,
    ).toBe(404);
    const before = c.outbox().length;
    const t = await c.call('POST', `admin/compliance/templates/${template.id}/test`, { to: 'lee@contoso-demo.example' });
    expect(t.status).toBe(202);
    expect(c.outbox()).toHaveLength(before + 1);
    expect(c.outbox().at(-1)!.subject).toBe('Action needed: Sample-iPhone is not compliant');
  });

  test('a template being edited previews as it would be saved, and is never stored', async () => {
    const before = (await c.call('GET', 'admin/compliance/templates')).body.value;
    const draft = {
      name: 'Draft',
      messages: [
        { locale: 'en-US', subject: 'Draft for {{DeviceName}}', body: 'Hi {{UserName}}', isDefault: true },
        { locale: 'de-DE', subject: 'Entwurf: {{DeviceName}}', body: 'Hallo {{UserName}}' },
      ],
    };
    const p = await c.call('POST', 'admin/compliance/templates/preview', { template: draft, deviceId: c.device('isaiah-iphone') });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ to: 'isaiah@contoso-demo.example', locale: 'de-de', subject: 'Entwurf: isaiah-iphone' });
    const en = await c.call('POST', 'admin/compliance/templates/preview', {
      template: draft,
      deviceId: c.device('isaiah-iphone'),
      locale: 'en-US',
    });
    expect(en.body.subject).toBe('Draft for isaiah-iphone');
    // What could not be saved cannot be previewed either, and the answer says what to fix.
    const bad = await c.call('POST', 'admin/compliance/templates/preview', {
      template: { ...draft, messages: [{ ...draft.messages[0], subject: 'Fix {{DeviceNmae}}' }] },
      deviceId: c.device('isaiah-iphone'),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/DeviceNmae/);
    expect((await c.call('GET', 'admin/compliance/templates')).body.value).toEqual(before);
  });
});

describe('each action runs at most once', () => {
  const android = () => c.policy('android-baseline');

  test('the same due message delivered four times at once: one email, one lock', async () => {
    day(20);
    const template = await c.template('Android');
    expect(
      (
        await c.call('PUT', `admin/compliance/policies/${android()}/actions`, {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 1, templateId: template.id },
            { type: 'remoteLock', days: 1 },
          ],
        })
      ).status,
    ).toBe(200);
    const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 1, os: 'Android' }),
    });
    const { id: device, deviceName } = ((await added.json()) as { value: { id: string; deviceName: string }[] }).value[0];
    await c.flip(device, 'noncompliant');
    const mails = () => c.outbox().filter((m) => m.subject.includes(` ${deviceName} `));
    const planned = await c.evaluateUntil(device, (l) => l.length === 3 && c.status(l, 'markNoncompliant@0') === 'done', 'device planned');
    expect(planned.filter((a) => a.type !== 'markNoncompliant').map((a) => [a.action, a.status])).toEqual([
      ['email@1', 'pending'],
      ['remoteLock@1', 'pending'],
    ]);
    const episode = (await c.ledger(device)).states.find((s) => s.policyId === android())!.noncompliantSince;
    const queue = new QueueClient(env.azurite.connectionString, 'cmp-actions');
    await queue.createIfNotExists();
    // A copy a day early does nothing yet: it goes back to the queue, hidden until the action is due
    // (a day of real time, so past this test), and the action stays pending.
    await queue.sendMessage(encodeMessage('action', { policyId: android(), deviceId: device, episode, action: 'email@1' }));
    await eventually(
      async () =>
        (await queue.getProperties()).approximateMessagesCount === 1 && (await queue.peekMessages()).peekedMessageItems.length === 0,
      20_000,
      'early copy put back, hidden',
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(c.status((await c.ledger(device)).actions, 'email@1')).toBe('pending');
    expect(mails()).toHaveLength(0);

    day(21);
    const copies = ['email@1', 'remoteLock@1'].flatMap((action) =>
      Array.from({ length: 3 }, () => encodeMessage('action', { policyId: android(), deviceId: device, episode, action })),
    );
    // Three copies each, plus the one the dispatcher sends after this scan.
    await Promise.all([...copies.map((m) => queue.sendMessage(m)), c.call('POST', 'admin/compliance/evaluate')]);
    await eventually(
      async () => {
        const l = (await c.ledger(device)).actions;
        return c.status(l, 'email@1') === 'done' && c.status(l, 'remoteLock@1') === 'done';
      },
      20_000,
      'email and lock done',
    );
    // Let every copy be consumed before counting (the early copy stays hidden).
    await eventually(async () => (await queue.getProperties()).approximateMessagesCount === 1, 20_000, 'queue drained');
    await new Promise((r) => setTimeout(r, 500));
    expect(mails()).toHaveLength(1);
    expect(c.locks(device)).toHaveLength(1);
    expect((await c.ledger(device)).actions.map((a) => a.attempts)).toEqual([1, 1, 1]);
  });

  test('sendMail and remoteLock take effect but answer 500: the retry finds the effect and does not repeat it', async () => {
    day(30);
    const diego = c.device('diego-android');
    await c.flip(diego, 'noncompliant');
    const rules = [
      { method: 'POST', path: '/sendMail$', status: 500, afterEffect: true, count: 1 },
      { method: 'POST', path: '/remoteLock$', status: 503, afterEffect: true, count: 1 },
    ];
    env.sandbox.graph.setFaults(rules);
    // Exchange files the Sent Items copy a second late: the retry does not find it at first, looks
    // again later, then finds it.
    expect(
      (await fetch(`${env.sandbox.controlUrl}/_sandbox/mail`, { method: 'PUT', body: JSON.stringify({ sentItemsDelayMs: 1000 }) })).status,
    ).toBe(200);
    const lookups = env.sandbox.graph.stats.byRoute['GET /users/{id}/mailFolders/sentitems/messages'] ?? 0;
    await c.evaluateUntil(diego, (l) => l.length === 3, 'diego planned');
    day(31);
    const l = await c.evaluateUntil(
      diego,
      (l) => c.status(l, 'email@1') === 'done' && c.status(l, 'remoteLock@1') === 'done',
      'diego done',
    );
    expect(env.sandbox.graph.stats.faultsInjected).toBeGreaterThanOrEqual(2);
    expect(l.find((a) => a.action === 'email@1')).toMatchObject({ reason: 'sent before an interruption (found in Sent Items)' });
    expect(l.find((a) => a.action === 'remoteLock@1')).toMatchObject({
      reason: 'remoteLock sent before an interruption (found on the device)',
    });
    expect(c.mailsTo('diego@contoso-demo.example')).toHaveLength(1);
    expect(c.locks(diego)).toHaveLength(1);
    expect((env.sandbox.graph.stats.byRoute['GET /users/{id}/mailFolders/sentitems/messages'] ?? 0) - lookups).toBeGreaterThanOrEqual(2);
    env.sandbox.graph.setFaults([]);
    await fetch(`${env.sandbox.controlUrl}/_sandbox/mail`, { method: 'PUT', body: JSON.stringify({ sentItemsDelayMs: 0 }) });
  });

  test('a Graph refusal is recorded as failed with its error', async () => {
    day(40);
    const grady = c.device('grady-android');
    await c.flip(grady, 'noncompliant');
    env.sandbox.graph.setFaults([
      { method: 'POST', path: '/remoteLock$', status: 400, code: 'BadRequest', message: 'Remote lock is not supported on this device.' },
    ]);
    await c.evaluateUntil(grady, (l) => l.length === 3, 'grady planned');
    day(41);
    const l = await c.evaluateUntil(grady, (l) => c.status(l, 'remoteLock@1') === 'failed', 'lock failed');
    expect(l.find((a) => a.action === 'remoteLock@1')!.error).toBe('400 BadRequest: Remote lock is not supported on this device.');
    env.sandbox.graph.setFaults([]);
  });
});

test('scans never overlap: five asked for at once open one noncompliance episode, not several', async () => {
  day(50);
  // A ticking clock, so overlapping scans would each start the episode at a different time.
  const anchor = Date.now();
  setClock(() => now + (Date.now() - anchor));
  try {
    const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 1, os: 'Android' }),
    });
    const device = ((await added.json()) as { value: { id: string }[] }).value[0].id;
    await c.flip(device, 'noncompliant');
    const asked = await Promise.all(Array.from({ length: 5 }, () => c.call('POST', 'admin/compliance/evaluate')));
    // Requests join the scan not yet started: the five share one run, or two when the first started between them.
    const ids = [...new Set(asked.map((r) => r.body.runId as string))];
    expect(ids.length).toBeLessThanOrEqual(2);
    for (const r of asked) expect(r.headers.get('location')).toBe(`/api/admin/runs/${r.body.runId}`);
    for (const id of ids)
      await eventually(async () => (await c.call('GET', `admin/runs/${id}`)).body.state === 'succeeded', 30_000, `scan ${id} over`);
    const ledger = await c.ledger(device);
    expect(new Set(ledger.actions.map((a) => a.dueAt)).size).toBe(2); // day 0 and day 1 of one episode
    expect(ledger.actions.map((a) => a.action).sort()).toEqual(['email@1', 'markNoncompliant@0', 'remoteLock@1']);
  } finally {
    setClock(() => now);
  }
});

describe('clock skew and devices leaving Intune', () => {
  let template: { id: string };
  const android = () => c.policy('android-baseline');
  const newDevice = async () => {
    const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
      method: 'POST',
      body: JSON.stringify({ count: 1, os: 'Android' }),
    });
    const d = ((await added.json()) as { value: { id: string; deviceName: string }[] }).value[0];
    await c.flip(d.id, 'noncompliant');
    return d;
  };
  const mails = (deviceName: string) => c.outbox().filter((m) => m.body.content.includes(deviceName)).length;

  beforeAll(async () => {
    template = await c.template('Skew checks');
    expect(
      (
        await c.call('PUT', `admin/compliance/policies/${android()}/actions`, {
          actions: [
            { type: 'markNoncompliant', days: 0 },
            { type: 'email', days: 2, templateId: template.id },
          ],
        })
      ).status,
    ).toBe(200);
  });

  test('dispatched by an instance whose clock is ahead, the runner (clock behind) does not lose the action: it runs once when due', async () => {
    day(60);
    const d = await newDevice();
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'pending', 'email@2 planned');
    const { dispatchDue } = await import('../../shared/compliance/runner');
    const { duePartition } = await import('../../shared/compliance/model');
    // Another instance, 3 hours ahead, dispatches email@2 (its due row goes); this one is at day 61.9.
    now = T0 + 61.9 * DAY;
    expect((await dispatchDue(duePartition(d.id), new Date(T0 + 62 * DAY + 3_600_000).toISOString())).sent).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(c.status((await c.ledger(d.id)).actions, 'email@2')).toBe('pending');
    expect(mails(d.deviceName)).toBe(0);
    // This instance's clock passes the due time: the next scan finds the action and it runs, once.
    now = T0 + 62 * DAY + 3_600_000;
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'done', 'email@2 done');
    await new Promise((r) => setTimeout(r, 1000));
    expect(mails(d.deviceName)).toBe(1);
  });

  test('the clock moved back across a due time and forward again: every due action runs exactly once', async () => {
    day(70);
    const d = await newDevice();
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'pending', 'email@2 planned');
    now = T0 + 72 * DAY + 60_000;
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'done', 'email@2 done');
    now = T0 + 71.9 * DAY; // back across the due time
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'done', 'still done');
    now = T0 + 73 * DAY; // and forward again
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'done', 'still done');
    await new Promise((r) => setTimeout(r, 1000));
    expect(mails(d.deviceName)).toBe(1);
    expect((await c.ledger(d.id)).actions.find((a) => a.action === 'email@2')!.attempts).toBe(1);
  });

  test('a device removed from Intune while noncompliant is closed as no longer managed, not compliant', async () => {
    day(80);
    const d = await newDevice();
    await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'pending', 'email@2 planned');
    env.sandbox.store.table('managedDevices').delete(d.id);
    const l = await c.evaluateUntil(d.id, (l) => c.status(l, 'email@2') === 'cancelled', 'email@2 cancelled');
    expect(l.find((a) => a.action === 'email@2')!.reason).toBe('device no longer managed (removed from Intune)');
    // The episode is closed once its pending actions are cancelled: the state follows the ledger.
    await eventually(async () => (await c.ledger(d.id)).states[0]?.status === 'noLongerManaged', 10_000, 'episode closed');
    expect((await c.ledger(d.id)).states[0]).toMatchObject({ status: 'noLongerManaged', resolvedAt: expect.any(String) });
  });
});

test('a schedule edited mid-episode: a removed action is cancelled at once, an added one whose day has passed runs once, promptly', async () => {
  day(90);
  const android = c.policy('android-baseline');
  const template = await c.template('Edit checks');
  expect(
    (
      await c.call('PUT', `admin/compliance/policies/${android}/actions`, {
        actions: [
          { type: 'markNoncompliant', days: 0 },
          { type: 'email', days: 5, templateId: template.id },
        ],
      })
    ).status,
  ).toBe(200);
  const added = await fetch(`${env.sandbox.controlUrl}/_sandbox/managed-devices`, {
    method: 'POST',
    body: JSON.stringify({ count: 1, os: 'Android' }),
  });
  const device = ((await added.json()) as { value: { id: string }[] }).value[0].id;
  await c.flip(device, 'noncompliant');
  await c.evaluateUntil(device, (l) => c.status(l, 'email@5') === 'pending', 'email@5 planned');
  day(92);
  const edited = await c.call('PUT', `admin/compliance/policies/${android}/actions`, {
    actions: [
      { type: 'markNoncompliant', days: 0 },
      { type: 'remoteLock', days: 1 },
    ],
  });
  expect(edited.status).toBe(200);
  expect(edited.body.cancelled).toBeGreaterThanOrEqual(1);
  // The edit itself cancels the removed action; the next scan plans the added one, already due.
  expect(c.status((await c.ledger(device)).actions, 'email@5')).toBe('cancelled');
  expect((await c.call('POST', 'admin/compliance/evaluate')).status).toBe(202);
  let l: Awaited<ReturnType<typeof c.ledger>>['actions'] = [];
  await eventually(
    async () => {
      l = (await c.ledger(device)).actions;
      return c.status(l, 'remoteLock@1') === 'done';
    },
    20_000,
    'remoteLock@1 done',
  ).catch((e: Error) => {
    throw new Error(`${e.message} Ledger: ${JSON.stringify(l.map((a) => [a.action, a.status, a.reason]))}`);
  });
  expect(l.find((a) => a.action === 'email@5')).toMatchObject({ status: 'cancelled', reason: 'removed from the policy schedule' });
  expect(c.locks(device)).toHaveLength(1);
});
