import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { DEMO } from '../../dev/sandbox/demo';
import { ARCHIVE_ACCOUNT } from '../../dev/sandbox/providers/archive';
import { launchChromium } from '../helpers/chromium';
import { eventually, ROOT, startEnv, type TestEnv } from '../helpers/env';

/** The admin console in Chromium: the real sign-in through the sandbox's Entra ID, against Azurite and the sandbox. */
let env: TestEnv;
let browser: Browser;
let app: string;

beforeAll(async () => {
  env = await startEnv({
    entry: 'dist/functions/index.js',
    hostJson: resolve(ROOT, 'test', 'fixtures', 'host.json'),
    settings: { VPP_POLL_SECONDS: '1' },
  });
  app = env.host!.url;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

const user = (local: string) => `${local}@${DEMO.domain}`;

/** With CONSOLE_SCREENSHOTS=1 (npm run screenshots), the views the README shows are captured as the tests reach them. */
async function shot(page: Page, name: string): Promise<void> {
  if (process.env.CONSOLE_SCREENSHOTS) await page.screenshot({ path: resolve(ROOT, 'docs', 'console', `${name}.png`), fullPage: true });
}

/** Opens the console and signs in as `upn` through the sandbox's sign-in page, as an admin would. */
async function signIn(upn: string, lang = 'en'): Promise<Page> {
  const context = await browser.newContext({ locale: lang === 'fr' ? 'fr-FR' : 'en-US' });
  const page = await context.newPage();
  await page.goto(`${app}/api/console`);
  await page.getByRole('link', { name: /Sign in with Microsoft Entra ID|Se connecter/ }).click();
  await page.locator(`button[name="user"][value="${upn}"]`).click();
  await page.waitForURL(`${app}/api/console`);
  await page.locator('#who-name').waitFor();
  return page;
}

/** Opens a view from the navigation (the overview links the connectors' names too). */
const view = (page: Page, name: string) => page.locator('#nav').getByRole('link', { name }).click();

async function axe(page: Page): Promise<{ id: string; impact: string; nodes: unknown[] }[]> {
  await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  const result = await page.evaluate(() =>
    (window as unknown as { axe: { run(): Promise<{ violations: unknown[]; passes: unknown[] }> } }).axe.run(),
  );
  expect(result.passes.length).toBeGreaterThan(10); // the scan did run over the page
  return (result.violations as { id: string; impact: string; nodes: unknown[] }[]).filter((v) =>
    ['serious', 'critical'].includes(v.impact),
  );
}

test('sign-in, the overview of all five connectors, then sign-out', async () => {
  const page = await signIn(user('megan'));
  await expect(page.locator('#who-name').textContent()).resolves.toBe('Megan Admin');
  const rows = page.locator('main table tbody tr');
  await rows.first().waitFor();
  const names = await page.locator('main table tbody th').allTextContents();
  for (const c of ['Telecom expense management', 'Apple VPP', 'Remote assistance']) expect(names.join('\n')).toMatch(new RegExp(c, 'i'));
  expect(await rows.count()).toBe(5);
  // Nothing is set up yet: each connector says how to set it up, and has no alerts.
  for (const row of await rows.all()) {
    expect(await row.locator('.badge').textContent()).toBe('Not configured');
    expect(await row.locator('.fix').textContent()).toMatch(/^Fix: .+\.$/);
    expect(await row.locator('.alerts').textContent()).toBe('—');
  }
  await shot(page, 'overview');
  expect(await axe(page)).toEqual([]);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You are signed out.').waitFor();
  // The session is gone on the server too.
  expect((await page.request.get(`${app}/api/auth/me`)).status()).toBe(401);
  await page.context().close();
});

test('VPP: Sync now shows the run progressing to its end, then the tokens with health and the licences', async () => {
  const page = await signIn(user('megan'));
  await view(page, 'Apple VPP');
  await page.getByRole('heading', { name: 'Apple VPP', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Sync now' }).click();
  await page
    .locator('#status')
    .getByText(/Sync finished: \d+ of \d+ tokens\./)
    .waitFor({ timeout: 60_000 });
  const licences = page.locator('table', { has: page.locator('caption', { hasText: 'Licences' }) });
  await licences.locator('tbody tr').first().waitFor();
  expect(await licences.locator('tbody tr').count()).toBeGreaterThan(0);
  const tokens = page.locator('table', { has: page.locator('caption', { hasText: 'Tokens' }) });
  expect(await tokens.locator('tbody tr').count()).toBeGreaterThan(0);
  // An app's licence history as a chart, with its figures in a table.
  await licences.getByRole('button', { name: 'History' }).first().click();
  const history = page.locator('figure.chart', { hasText: 'Licence history' });
  await history.waitFor();
  expect(await history.locator('svg[role="img"]').getAttribute('aria-label')).toMatch(/^Licence history: .+: from .+ to .+, \d+ points\.$/);
  expect(await history.locator('polyline').count()).toBe(2);
  expect(await history.locator('tbody tr').count()).toBeGreaterThan(0);
  await shot(page, 'vpp');
  expect(await axe(page)).toEqual([]);

  // The overview reads the tokens' health: an expired token is the error, with its fix; low apps are open alerts.
  const low = await licences.locator('tbody tr', { hasText: 'Low' }).count();
  await view(page, 'Overview');
  const vpp = page.locator('tr[data-connector="vpp"]');
  await expect(vpp.locator('.badge').textContent()).resolves.toBe('Error');
  expect(await vpp.textContent()).toMatch(/Token Contoso Legacy: The token expired .*Fix: .*Apple Business Manager/);
  expect(low).toBeGreaterThan(0);
  expect(await vpp.locator('.alerts').textContent()).toBe(`${low} apps low on licences`);
  await page.context().close();
});

test('TEM: register a provider (its secret shown once), connect it through admin consent, and see the block a signed webhook makes', async () => {
  const page = await signIn(user('megan'));
  page.on('dialog', (d) => void d.accept());
  await view(page, 'Telecom expense');
  await page.getByLabel('Name').fill('Datalert console');
  await page.getByLabel('Alert email (optional)').fill('telecom-admins@contoso-demo.example');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const secret = (await page.locator('#secret-value').textContent())!;
  expect(secret).toMatch(/^whsec_/);
  const webhookUrl = (await page.locator('.secret code').nth(1).textContent())!;
  expect(webhookUrl).toMatch(/\/api\/tem\/providers\/[0-9a-f-]{36}\/events$/);
  expect(await axe(page)).toEqual([]);

  // Connect: the browser goes through the sandbox's admin consent and back to the app.
  const card = page.locator('section.card', { has: page.getByRole('heading', { name: /Datalert console/ }) });
  await card.getByRole('link', { name: 'Connect' }).click();
  await page.waitForURL(/\/api\/oauth\/entra\/callback/);
  await page.goto(`${app}/api/console#/tem`);
  await eventually(
    async () => {
      await page.reload();
      await page.getByRole('heading', { name: 'Telecom expense', level: 1 }).waitFor();
      return (await card.getByText('Connected').count()) > 0 && (await page.getByRole('row', { name: /\+447700900101/ }).count()) > 0;
    },
    30_000,
    'connected, lines synced',
  );

  // The provider signs an event with that secret: the line's device is blocked, and the console shows it.
  const delivered = await fetch(`${env.sandbox.controlUrl}/_sandbox/tem/deliveries`, {
    method: 'POST',
    body: JSON.stringify({
      url: webhookUrl,
      secret,
      type: 'usage.threshold_exceeded',
      data: { phoneNumber: '+447700900101', kind: 'roaming', usageMb: 512, capMb: 500 },
    }),
  });
  expect(((await delivered.json()) as { statuses: number[] }).statuses).toEqual([202]);
  await eventually(
    async () => {
      await page.reload();
      await card.waitFor();
      return (
        (await card.locator('.active-blocks').textContent()) === '1' &&
        (await card.getByRole('row', { name: /block \(roaming\).*applied/ }).count()) > 0
      );
    },
    30_000,
    'the block in the console',
  );
  await shot(page, 'tem');
  await view(page, 'Overview');
  await expect(page.locator('tr[data-connector="tem"] .alerts').textContent()).resolves.toBe('1 blocks in force');
  await view(page, 'Telecom expense');
  // The ledger filtered where it is stored: by status, then by line.
  const blocked = card.getByRole('row', { name: /block \(roaming\).*applied/ });
  await blocked.waitFor();
  await card.getByLabel('Status').selectOption('ignored');
  await blocked.waitFor({ state: 'detached' });
  await card.getByLabel('Status').selectOption('');
  await card.getByLabel('Line', { exact: true }).selectOption('+447700900102');
  await card.getByText('No entry matches.').waitFor();
  expect(await blocked.count()).toBe(0);
  await card.getByLabel('Line', { exact: true }).selectOption('+447700900101');
  await blocked.waitFor();
  // Nothing is reverting yet.
  expect(await card.locator('.progress').isVisible()).toBe(false);

  // Switched off (confirmed): the block is reverted, the run followed to its end.
  await card.getByRole('button', { name: 'Switch off' }).click();
  await page.locator('#status').getByText('Switched off: 1 blocks reverted.').waitFor({ timeout: 30_000 });
  await card.waitFor();
  expect(await card.locator('.active-blocks').textContent()).toBe('0');
  expect(await card.getByRole('button', { name: 'Switch on' }).count()).toBe(1);

  // Lines: a personal device cannot be chosen and says why; a line added by hand for a company one, then removed.
  const personal = page.locator('#line-device option', { hasText: 'johanna-android' });
  expect(await personal.isDisabled()).toBe(true);
  expect(await personal.textContent()).toMatch(/only company-owned devices can have corporate lines/);
  const laptop = (await page.locator('#line-device option', { hasText: 'lee-laptop' }).getAttribute('value'))!;
  await page.getByLabel('Device', { exact: true }).selectOption(laptop);
  await page.getByLabel('Phone number').fill('+44 7700 900199');
  await page.getByRole('button', { name: 'Add a line' }).click();
  await page.locator('#status').getByText('Line +447700900199 added.').waitFor();
  const added = page.getByRole('row', { name: /\+447700900199/ });
  expect(await added.textContent()).toMatch(/lee-laptop.*Added by hand/);
  await added.getByRole('button', { name: 'Remove' }).click();
  await page.locator('#status').getByText('Line +447700900199 removed.').waitFor();
  expect(await page.getByRole('row', { name: /\+447700900199/ }).count()).toBe(0);
  await page.getByRole('button', { name: 'Sync lines from Intune' }).click();
  await page
    .locator('#status')
    .getByText(/^Line sync succeeded: \d+ lines read, 0 removed\.$/)
    .waitFor({ timeout: 30_000 });
  await page.context().close();
});

test('Archive: set up the provider, a mapping refused with its report then one in use, a backfilled day imported and its log read', async () => {
  const page = await signIn(user('megan'));
  page.on('dialog', (d) => void d.accept());
  await view(page, 'Network archive');
  await page.getByLabel('Provider URL').fill(`${env.sandbox.origin}/archive`);
  await page.getByLabel('API key').fill(ARCHIVE_ACCOUNT.apiKey);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('button', { name: 'Accept the terms' }).click();
  await page.getByRole('button', { name: 'Test the connection' }).click();
  await page
    .getByRole('heading', { name: /Provider account/ })
    .getByText('Connected')
    .waitFor();
  await page.getByRole('button', { name: 'Switch the import on' }).click();
  await page.getByRole('button', { name: 'Switch the import off' }).waitFor();
  expect(await page.locator('.archive-enabled').textContent()).toBe('On');

  const mapping = (text: string) => ({ name: 'mapping.csv', mimeType: 'text/csv', buffer: Buffer.from(text) });
  await page
    .getByLabel(/Mapping file/)
    .setInputFiles(mapping('External User ID,Microsoft 365 User Mailbox\n447700900101,nobody@contoso-demo.example\n'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('alert').getByText("line 2: no Microsoft 365 user has the mailbox 'nobody@contoso-demo.example'").waitFor();
  await page
    .getByLabel(/Mapping file/)
    .setInputFiles(mapping('External User ID,Microsoft 365 User Mailbox\n447700900101,adele@contoso-demo.example\n'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.locator('#status').getByText('The mapping is in use: 1 rows.').waitFor();
  await page
    .locator('.mapping-state')
    .getByText(/1 rows, uploaded by/)
    .waitFor();

  const items = env.sandbox.archive.seedDay('2026-10-05', { count: 6 });
  await page.getByLabel('From', { exact: true }).fill('2026-10-05');
  await page.getByLabel('To', { exact: true }).fill('2026-10-05');
  await page.getByRole('button', { name: 'Backfill', exact: true }).click();
  // Participants without a Microsoft 365 mailbox in the seeded day fail; the log says which and why.
  const done = page.locator('#status').getByText(/^Import succeeded: \d+ imported, (\d+) failed\.$/);
  await done.waitFor({ timeout: 60_000 });
  const failed = Number(/(\d+) failed/.exec((await done.textContent())!)![1]);
  expect(failed).toBeGreaterThan(0);
  const runs = page.locator('table', { has: page.locator('caption', { hasText: 'Imports' }) });
  await runs.getByRole('row', { name: new RegExp(`succeeded ${items.length} / ${items.length}`) }).waitFor();
  await runs.getByRole('button', { name: 'Show failures' }).click();
  const failures = page.locator('table', { has: page.locator('caption', { hasText: 'Failures' }) });
  await failures.locator('tbody tr').first().waitFor();
  expect(await failures.locator('tbody tr').count()).toBe(failed);
  expect(await page.getByRole('link', { name: 'Download as CSV' }).getAttribute('href')).toMatch(/\/failures\.csv$/);
  const perDay = page.locator('figure.chart', { hasText: 'Imported and failed per day' });
  expect(await perDay.locator('rect').count()).toBe(2);
  expect(await perDay.locator('tbody tr').count()).toBe(1);
  await shot(page, 'archive');
  expect(await axe(page)).toEqual([]);
  await page.context().close();
});

test('Remote assistance: accept the terms, connect TeamViewer, pick a device (an unsupported one says why), start a session and close it', async () => {
  const page = await signIn(user('megan'));
  page.on('dialog', (d) => void d.accept());
  await view(page, 'Remote assistance');
  await page.getByRole('button', { name: 'Accept the terms' }).click();
  await page.getByRole('link', { name: 'Connect' }).click();
  await page.waitForURL(/\/api\/oauth\/teamviewer\/callback/);
  await page.goto(`${app}/api/console#/remote`);
  await page
    .getByRole('heading', { name: /TeamViewer connection/ })
    .getByText('Connected')
    .waitFor();

  const hololens = page.getByRole('radio', { name: /isaiah-hololens/ });
  expect(await hololens.isDisabled()).toBe(true);
  expect(await page.locator(`#${(await hololens.getAttribute('aria-describedby'))!}`).textContent()).toBe(
    'TeamViewer does not support Windows Holographic (HoloLens).',
  );
  await page.getByLabel('Find a device').fill('diego');
  expect(await page.getByRole('radio').count()).toBe(1);
  await page.getByRole('radio', { name: /diego-android/ }).check();
  await page.getByRole('button', { name: 'Request a session' }).click();
  await page.getByText(/^Session s\d{2}-\d{3}-\d{3} is open\. The user is invited by email \((sent|notConfigured)\)\.$/).waitFor();
  expect(await page.getByRole('link', { name: 'Open the session (supporter)' }).getAttribute('href')).toMatch(/^https:\/\//);
  await shot(page, 'remote-assistance');
  expect(await axe(page)).toEqual([]);

  const sessions = page.locator('table', { has: page.locator('caption', { hasText: 'Sessions' }) });
  const row = sessions.getByRole('row', { name: /diego-android/ });
  // A supporter works in the session for 12 minutes; TeamViewer's report joins the session's audit.
  const code = (await row.locator('td').nth(4).textContent())!;
  const connected = await fetch(`${env.sandbox.controlUrl}/_sandbox/teamviewer/sessions/${code}/connections`, {
    method: 'POST',
    body: JSON.stringify({ supporter: 'Megan Admin', minutes: 12 }),
  });
  expect(connected.status).toBeLessThan(300);
  await row.getByRole('button', { name: 'Close' }).click();
  await sessions.getByRole('row', { name: /diego-android.*closed/ }).waitFor();
  expect(await sessions.getByRole('row', { name: /diego-android/ }).textContent()).toMatch(/Closed .+ by admin:/);
  await page.getByRole('button', { name: 'Read TeamViewer’s reports now' }).click();
  await page
    .locator('#status')
    .getByText(/^Reports read: 1 connections joined/)
    .waitFor();
  expect(await sessions.getByRole('row', { name: /diego-android/ }).textContent()).toMatch(/Megan Admin, .+, 12 min/);
  await page.context().close();
});

test("Compliance: detection, a template written in two languages and previewed as typed with a real device, then edited, a policy's schedule edited with its timeline, a device's actions", async () => {
  const page = await signIn(user('megan'));
  await view(page, 'Compliance actions');
  await page.getByRole('heading', { name: 'Compliance actions', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Run detection now' }).click();
  await page.locator('#status').getByText('Detection finished: succeeded.').waitFor({ timeout: 60_000 });
  const devices = page.locator('table', { has: page.locator('caption', { hasText: /^Devices$/ }) });
  await devices.locator('tbody tr').first().waitFor();

  // Branding: the name and contact, and a logo (a file that is not an image is refused as the API says).
  await page.getByRole('textbox', { name: 'Company name' }).fill('Contoso Demo');
  await page.getByLabel('Contact email').fill('helpdesk@contoso-demo.example');
  await page.getByRole('button', { name: 'Save the branding' }).click();
  await page.locator('#status').getByText('Branding saved.').waitFor();
  const logo = page.getByLabel('Logo (PNG or JPEG, at most 256 KiB)', { exact: true });
  await logo.setInputFiles({ name: 'logo.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
  await page.getByRole('button', { name: 'Upload the logo' }).click();
  await page.getByRole('region', { name: 'Company logo' }).getByRole('alert').waitFor();
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
  await logo.setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png });
  await page.getByRole('button', { name: 'Upload the logo' }).click();
  await page
    .locator('.logo-state')
    .getByText(/^Logo: image\/png, 0\.1 KB/)
    .waitFor();

  // A template written in two languages, its preview following the typing with a real device's values.
  const editor = page.locator('form.template-editor');
  const device = (await editor.locator('select option').first().textContent())!;
  const subject = editor.locator('.preview-subject');
  await editor.getByLabel('Name', { exact: true }).fill('Fix it');
  await editor.getByLabel('Subject').fill('Fix {{DeviceName}}');
  await editor.getByLabel('Body').fill('Hello {{UserName}}, please update your device.');
  await subject.getByText(`: Fix ${device}`).waitFor();
  await editor
    .frameLocator('iframe')
    .getByText(/please update your device/)
    .waitFor();
  // The logo just uploaded shows in the preview (a mail carries it inline; the page gets it as data).
  const logoShown = editor.frameLocator('iframe').getByRole('img', { name: 'Contoso Demo' });
  expect(await logoShown.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
  expect(await logoShown.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);
  await editor.getByLabel('Subject').fill('Fix {{DeviceNmae}}'); // what cannot be saved says why, in the preview
  await editor
    .getByRole('alert')
    .getByText(/DeviceNmae/)
    .waitFor();
  await editor.getByLabel('Subject').fill('Fix {{DeviceName}}');
  await editor.getByRole('button', { name: 'Add a language' }).click();
  const french = editor.locator('fieldset.message').nth(1);
  await french.getByLabel(/Language tag/).fill('fr-FR');
  await french.getByLabel('Subject').fill('Réparez {{DeviceName}}');
  await french.getByLabel('Body').fill('Bonjour {{UserName}}, mettez votre appareil à jour.');
  await editor.getByLabel('In the language').fill('fr-FR');
  await subject.getByText(`: Réparez ${device}`).waitFor();
  await shot(page, 'compliance');
  await editor.getByRole('button', { name: 'Create' }).click();
  await page.locator('#status').getByText('Template “Fix it” saved.').waitFor();
  const templates = page.locator('table', { has: page.locator('caption', { hasText: 'Notification templates' }) });
  const row = templates.getByRole('row', { name: /Fix it/ });
  expect(await row.locator('td').first().textContent()).toBe('en-us (default), fr-fr');

  // Edited again: the editor opens with what is stored and its preview; the change replaces it.
  await row.getByRole('button', { name: 'Edit: Fix it' }).click();
  const edit = page.locator('form.template-editor', { has: page.getByRole('heading', { name: 'Edit template: Fix it' }) });
  await edit.locator('.preview-subject').getByText(`: Fix ${device}`).waitFor();
  await edit.locator('fieldset.message').first().getByLabel('Subject').fill('Please fix {{DeviceName}}');
  await edit.locator('.preview-subject').getByText(`: Please fix ${device}`).waitFor();
  expect(await axe(page)).toEqual([]);
  await edit.getByRole('button', { name: 'Save' }).click();
  await page.locator('#status').getByText('Template “Fix it” saved.').waitFor();
  expect(await templates.getByRole('row', { name: /Fix it/ }).count()).toBe(1);
  const stored = (await (await page.request.get(`${app}/api/admin/compliance/templates`)).json()) as {
    value: { name: string; messages: { subject: string }[] }[];
  };
  expect(stored.value.find((x) => x.name === 'Fix it')!.messages.map((x) => x.subject)).toEqual([
    'Please fix {{DeviceName}}',
    'Réparez {{DeviceName}}',
  ]);

  // A schedule edited: the timeline follows the edit before it is saved; a bad one is refused as the API says.
  const policy = page.locator('section.card', { has: page.locator('h3') }).first();
  await policy.getByRole('button', { name: 'Add an action' }).click();
  const days = policy.getByLabel('Days after noncompliance').last();
  await days.fill('3');
  await policy
    .getByRole('list')
    .getByText(/Day 3\s+Remote lock/)
    .waitFor();
  await policy.getByRole('button', { name: 'Save the schedule' }).click();
  await page
    .locator('#status')
    .getByText(/^Schedule saved; \d+ pending actions cancelled\.$/)
    .waitFor();
  await days.fill('400');
  await policy.getByRole('button', { name: 'Save the schedule' }).click();
  await policy
    .getByRole('alert')
    .getByText(/at most 365 days/)
    .waitFor();

  // A device's actions.
  await devices.getByRole('button', { name: 'Actions' }).first().click();
  await page.locator('table', { has: page.locator('caption', { hasText: /^Actions: / }) }).waitFor();
  expect(await axe(page)).toEqual([]);
  await page.context().close();
});

test('a reader sees the views but no Sync now nor line changes, and the API refuses them to their session', async () => {
  const page = await signIn(user('connectors-read'));
  await view(page, 'Apple VPP');
  await page.getByRole('heading', { name: 'Apple VPP', level: 1 }).waitFor();
  expect(await page.getByRole('button', { name: 'Sync now' }).count()).toBe(0);
  // The hidden action, called from the page with this user's session anyway.
  const refused = await page.evaluate(async () => {
    const res = await fetch('/api/admin/vpp/sync', { method: 'POST', credentials: 'same-origin' });
    return { status: res.status, body: (await res.json()) as { detail: string } };
  });
  expect(refused.status).toBe(403);
  expect(refused.body.detail).toMatch(/needs the app role 'Connectors.ReadWrite'/);
  // TEM: the lines are shown, but no way to add, remove or sync them; the API refuses adding one.
  await view(page, 'Telecom expense');
  await page.getByRole('heading', { name: 'Lines', level: 2 }).waitFor();
  for (const name of ['Add a line', 'Remove', 'Sync lines from Intune', 'Register'])
    expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
  const line = await page.evaluate(async () => {
    const res = await fetch('/api/admin/tem/lines', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ phoneNumber: '+447700900198', managedDeviceId: 'any' }),
    });
    return res.status;
  });
  expect(line).toBe(403);
  await page.context().close();
});

test("an archive reader sees only the archive, none of its actions, and the API refuses them to the reader's session", async () => {
  const page = await signIn(user('archive-read'));
  await page.getByRole('heading', { name: 'Network archive', level: 1 }).waitFor();
  expect(await page.locator('#nav a').allTextContents()).toEqual(['Network archive']);
  expect(await page.locator('main button, main form').count()).toBe(0);
  const refused = await page.evaluate(async () => {
    const res = await fetch('/api/admin/archive/mapping', {
      method: 'PUT',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'text/csv' },
      body: 'External User ID,Microsoft 365 User Mailbox\n447700900101,adele@contoso-demo.example\n',
    });
    return res.status;
  });
  expect(refused).toBe(403);
  await page.context().close();
});

test('an account with no role of the app is told how to get one; the console speaks French', async () => {
  const page = await signIn(user('nora'), 'fr');
  await page.getByText(/Votre compte n’a aucun rôle de cette application/).waitFor();
  expect(await page.locator('#nav a').count()).toBe(0);
  await page.locator('#lang').selectOption('en');
  await page.getByText(/Your account holds no app role of this app/).waitFor();
  expect(await page.locator('html').getAttribute('lang')).toBe('en');
  await page.context().close();
});

test('keyboard only: skip to the content, move between views and start a sync without a pointer', async () => {
  const page = await signIn(user('megan'));
  await page.locator('main table tbody tr').first().waitFor(); // the first view rendered
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'main');
  // Skipping is not navigating: the view is still the overview.
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
  // Back into the navigation (it comes before the content), to Apple VPP, and open it.
  for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Apple VPP'; i++)
    await page.keyboard.press('Shift+Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Apple VPP');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Apple VPP', level: 1 }).waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'main'); // focus follows the view once drawn
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Sync now');
  await page.keyboard.press('Enter');
  await page
    .locator('#status')
    .getByText(/Sync finished/)
    .waitFor({ timeout: 60_000 });
  await page.context().close();
});

test('the page is served under a policy that allows only its own scripts, and only its own files are served', async () => {
  const res = await fetch(`${app}/api/console`);
  expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  expect((await fetch(`${app}/api/console/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  expect((await fetch(`${app}/api/console/..%2Fpackage.json`)).status).toBe(404);
  expect((await fetch(`${app}/api/console/index.html`)).status).toBe(404);
});
