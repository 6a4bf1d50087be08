import { actionId, scheduleInput, templateInput } from '../../shared/compliance/inputs';
import { shardOf, SHARDS } from '../../shared/compliance/model';
import { variableProblems } from '../../shared/compliance/variables';
import { deviceActionSent, stillApplies } from '../../shared/compliance/outcomes';
import { pickMessage, renderMail } from '../../shared/compliance/templates';

/** Compliance domain rules that need no storage: template and schedule validation, rendering. */

const template = {
  id: 't1',
  name: 'T',
  branding: { companyLogo: true, companyName: true, contactInformation: true, deviceDetails: true },
  messages: [
    { locale: 'en-us', subject: 'Fix {{DeviceName}}', body: 'Hi {{UserName}},\n\nline one\nline two', isDefault: true },
    { locale: 'de-de', subject: 'Bitte {{DeviceName}}', body: 'Hallo {{UserName}}', isDefault: false },
    { locale: 'fr', subject: 'Réparez {{DeviceName}}', body: 'Bonjour', isDefault: false },
  ],
  defaultLocale: 'en-us',
  createdAt: '',
  updatedAt: '',
};
const values = {
  UserName: 'Ann <script>',
  UserEmail: 'ann@x.example',
  DeviceName: 'ann-phone',
  DeviceId: 'd1',
  OSAndVersion: 'iOS 17.4',
  PolicyName: 'iOS baseline',
  NoncompliantSince: '2026-12-01 09:00 UTC',
  CompanyName: 'Contoso & Co',
};
const branding = {
  companyName: 'Contoso & Co',
  contact: { name: 'Desk', email: 'it@x.example', phone: '+44 1', website: 'https://it.x.example' },
  logoCid: 'company-logo',
};

test('variables: known names pass, unknown names and stray braces are named', () => {
  expect(variableProblems('Hello {{UserName}} on {{ DeviceName }}')).toEqual([]);
  expect(variableProblems('{{Nope}} and {{UserName}}')).toEqual([
    expect.stringMatching(/^unknown variable \{\{Nope\}\}; use one of \{\{UserName\}\}, /),
  ]);
  expect(variableProblems('Hello {{UserName')).toEqual([expect.stringMatching(/unbalanced/)]);
  expect(variableProblems('Hello }} there')).toEqual([expect.stringMatching(/unbalanced/)]);
});

test('templates: branding toggles default on; locales are normalised; limits are exact', () => {
  const t = templateInput.parse({ name: 'x', messages: [{ locale: 'EN-us', subject: 's'.repeat(255), body: 'b', isDefault: true }] });
  expect(t.branding).toEqual({ companyLogo: true, companyName: true, contactInformation: true, deviceDetails: true });
  expect(t.messages[0].locale).toBe('en-us');
  expect(
    templateInput.safeParse({ name: 'x', messages: [{ locale: 'en-US', subject: 's'.repeat(256), body: 'b', isDefault: true }] }).success,
  ).toBe(false);
  expect(templateInput.safeParse({ name: 'x', messages: [{ locale: 'english', subject: 's', body: 'b', isDefault: true }] }).success).toBe(
    false,
  );
  expect(
    templateInput.safeParse({ name: 'x', extra: 1, messages: [{ locale: 'en', subject: 's', body: 'b', isDefault: true }] }).success,
  ).toBe(false);
});

test('schedules: 0 and 365 days pass, 366 fails; the mark action is required once; action ids are type@day', () => {
  expect(
    scheduleInput.safeParse({
      actions: [
        { type: 'markNoncompliant', days: 365 },
        { type: 'remoteLock', days: 0 },
      ],
    }).success,
  ).toBe(true);
  expect(scheduleInput.safeParse({ actions: [{ type: 'markNoncompliant', days: 366 }] }).success).toBe(false);
  expect(scheduleInput.safeParse({ actions: [{ type: 'remoteLock', days: 1 }] }).success).toBe(false);
  expect(
    scheduleInput.safeParse({
      actions: [
        { type: 'markNoncompliant', days: 0 },
        { type: 'email', days: 1 },
      ],
    }).success,
  ).toBe(false); // no templateId
  expect(
    scheduleInput.safeParse({
      actions: [
        { type: 'markNoncompliant', days: 0 },
        { type: 'retire', days: 30 },
        { type: 'retire', days: 60 },
      ],
    }).success,
  ).toBe(false);
  expect(actionId({ type: 'email', days: 5 })).toBe('email@5');
});

test("a user's locale picks the exact tag, then the language, then the default", () => {
  expect(pickMessage(template, 'de-DE').locale).toBe('de-de');
  expect(pickMessage(template, 'de-AT').locale).toBe('de-de');
  expect(pickMessage(template, 'fr-CA').locale).toBe('fr');
  expect(pickMessage(template, 'ja-JP').locale).toBe('en-us');
  expect(pickMessage(template, null).locale).toBe('en-us');
});

test('rendering escapes values in the body, keeps the subject plain, and follows the branding toggles', () => {
  const m = renderMail(template, branding, values, 'en-US');
  expect(m.subject).toBe('Fix ann-phone');
  expect(m.html).toContain('<p>Hi Ann &lt;script&gt;,</p>');
  expect(m.html).toContain('<p>line one<br>line two</p>');
  expect(m.html).not.toContain('<script>');
  expect(m.html).toContain('<img src="cid:company-logo"');
  expect(m.html).toContain('Contoso &amp; Co');
  expect(m.html).toContain('<a href="mailto:it@x.example">');
  expect(m.html).toContain('<td>iOS baseline</td>');
  const bare = renderMail(
    { ...template, branding: { companyLogo: false, companyName: false, contactInformation: false, deviceDetails: false } },
    branding,
    values,
    'en-US',
  );
  expect(bare.html).not.toContain('cid:');
  expect(bare.html).not.toContain('Contoso');
  expect(bare.html).not.toContain('device-details');
  expect(bare.html).not.toContain('<footer');
  // No logo uploaded: no image even with the toggle on.
  expect(renderMail(template, { ...branding, logoCid: undefined }, values).html).not.toContain('<img');
});

test('device shards are stable and spread', () => {
  const counts = new Array(SHARDS).fill(0);
  const n = 1000 * SHARDS;
  for (let i = 0; i < n; i++) counts[shardOf(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)]++;
  // Every shard within 15% of an even share.
  expect(Math.min(...counts)).toBeGreaterThan(850);
  expect(Math.max(...counts)).toBeLessThan(1150);
  expect(shardOf('ABC')).toBe(shardOf('abc'));
});

describe("the runner's decisions just before an action runs", () => {
  const device = { managementAgent: 'mdm', managementState: 'managed', complianceState: 'noncompliant' };
  const facts = { scheduled: true, state: { status: 'noncompliant' as const, since: 'e1' }, episode: 'e1', device };

  test('an action runs only while it is scheduled, the same noncompliance lasts and Intune still manages the device', () => {
    expect(stillApplies(facts)).toBeUndefined();
    expect(stillApplies({ ...facts, device: { ...device, complianceState: 'inGracePeriod' } })).toBeUndefined();
    expect(stillApplies({ ...facts, scheduled: false })).toEqual({ status: 'cancelled', reason: 'removed from the policy schedule' });
    expect(stillApplies({ ...facts, state: { status: 'compliant', since: 'e1' } })).toEqual({
      status: 'cancelled',
      reason: 'device compliant again',
    });
    expect(stillApplies({ ...facts, state: undefined })).toEqual({ status: 'cancelled', reason: 'device compliant again' });
    expect(stillApplies({ ...facts, state: { status: 'noncompliant', since: 'e2' } })).toEqual({
      status: 'cancelled',
      reason: 'superseded by the noncompliance that started e2',
    });
    expect(stillApplies({ ...facts, device: undefined })).toEqual({ status: 'cancelled', reason: 'device no longer managed by Intune' });
    expect(stillApplies({ ...facts, device: { ...device, managementAgent: 'jamf' } })).toEqual({
      status: 'skipped',
      reason: 'partner-managed',
    });
    expect(stillApplies({ ...facts, device: { ...device, managementState: 'retirePending' } })).toEqual({
      status: 'cancelled',
      reason: 'device is leaving management (retirePending)',
    });
    expect(stillApplies({ ...facts, device: { ...device, complianceState: 'compliant' } })).toEqual({
      status: 'cancelled',
      reason: 'device compliant again (Intune reports compliant)',
    });
  });

  test('after an interruption, a device action started after the recorded baseline counts as sent', () => {
    const results = [
      { actionName: 'remoteLock', startDateTime: '2026-11-21T10:00:00Z' },
      { actionName: 'retire', startDateTime: '2026-11-21T12:00:00Z' },
    ];
    expect(deviceActionSent('remoteLock', results, { effectStartedAt: 'x', actionBaseline: '2026-11-21T09:00:00Z' })).toEqual({
      sent: true,
      latest: '2026-11-21T10:00:00Z',
    });
    expect(deviceActionSent('remoteLock', results, { effectStartedAt: 'x', actionBaseline: '2026-11-21T10:00:00Z' }).sent).toBe(false);
    expect(deviceActionSent('remoteLock', results, { actionBaseline: '' }).sent).toBe(false);
    expect(deviceActionSent('remoteLock', undefined, { effectStartedAt: 'x' })).toEqual({ sent: false, latest: undefined });
  });
});
