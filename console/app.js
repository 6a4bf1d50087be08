// The admin console: one page over the app's own admin API, signed in with the browser session.
// No framework: the DOM is built with h(), text is never parsed as HTML, and what the API answers
// (problem details included) is shown as written.
import { strings } from './i18n.js';

let lang = localStorage.getItem('lang') ?? (navigator.language?.toLowerCase().startsWith('fr') ? 'fr' : 'en');
const t = (key, vars = {}) => (strings[lang]?.[key] ?? strings.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
const when = (iso) => (iso ? new Date(iso).toLocaleString(lang) : t('never'));

/** An element with attributes (on* are listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class Problem extends Error {
  constructor(status, title, detail, errors = []) {
    super(detail);
    this.status = status;
    this.title = title;
    this.errors = errors;
  }
}

/** The admin API with the session cookie; a refusal throws its problem details. */
async function call(method, path, body, contentType = 'application/json') {
  const raw = contentType !== 'application/json';
  const res = await fetch(`/api/${path}`, {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...(body ? { 'Content-Type': contentType } : {}) },
    body: body ? (raw ? body : JSON.stringify(body)) : undefined,
  });
  const json = (res.headers.get('content-type') ?? '').includes('json');
  const data = json ? await res.json() : await res.text();
  if (!res.ok)
    throw new Problem(
      res.status,
      (json && data.title) || res.statusText,
      (json && data.detail) || String(data),
      (json && data.errors) || [],
    );
  return data;
}

/** A refusal as the API words it: title, detail, and each field's problem (a validation report). */
const problem = (e) =>
  h(
    'div',
    { role: 'alert', class: 'problem' },
    h('strong', {}, e.title ?? t('failed')),
    ' ',
    e.message,
    e.errors?.length
      ? h(
          'ul',
          {},
          e.errors.map((x) => h('li', {}, x.field ? `${x.field}: ${x.message}` : x.message)),
        )
      : null,
  );
const table = (caption, head, rows) =>
  h(
    'table',
    {},
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h('tbody', {}, rows),
  );
const badge = (kind, text) => h('span', { class: `badge ${kind}` }, text);

let me = null;
const holds = (...roles) => roles.some((role) => !!me?.grants.includes(role));

const VIEWS = [
  { id: 'overview', role: 'Connectors.Read', render: overview },
  { id: 'tem', role: 'Connectors.Read', render: tem },
  { id: 'compliance', role: 'Compliance.ReadWrite', render: compliance },
  { id: 'vpp', role: 'Connectors.Read', render: vpp },
  { id: 'archive', role: 'Archive.Read', render: archive },
  { id: 'remote', role: ['RemoteAssistance.Request', 'RemoteAssistance.Update'], render: remote },
];
const allowed = (v) => holds(...[v.role].flat());

const VIEW_OF = { tem: 'tem', compliance: 'compliance', vpp: 'vpp', archive: 'archive', 'remote-assistance': 'remote' };

async function overview(main) {
  const { value } = await call('GET', 'admin/connectors');
  main.append(
    h('h1', {}, t('overview')),
    table(
      t('overview'),
      [t('connector'), t('state'), t('detail'), t('openAlerts'), t('updated')],
      value.map((c) => {
        const view = VIEWS.find((v) => v.id === VIEW_OF[c.id]);
        return h(
          'tr',
          { 'data-connector': c.id },
          h(
            'th',
            { scope: 'row' },
            view && allowed(view) ? h('a', { href: `#/${view.id}` }, c.name) : c.name,
            h('div', { class: 'muted' }, c.description),
          ),
          h('td', {}, badge(c.state, t(`state.${c.state}`))),
          h('td', {}, c.detail ?? '', c.fix ? h('p', { class: 'fix' }, h('strong', {}, `${t('fix')}: `), c.fix) : null),
          h('td', { class: 'alerts' }, c.openAlerts === null ? '—' : t(`alerts.${c.id}`, { n: c.openAlerts })),
          h('td', {}, when(c.updatedAt)),
        );
      }),
    ),
  );
}

/** A secret shown once, with a copy button; it is never stored by the page. */
function secretBox(secret, webhookUrl) {
  const value = h('code', { id: 'secret-value' }, secret);
  return h(
    'section',
    { class: 'secret', 'aria-label': t('secretOnce') },
    h('p', {}, t('secretOnce')),
    h(
      'p',
      {},
      value,
      ' ',
      h('button', { type: 'button', onclick: () => navigator.clipboard.writeText(secret).then(() => announce(t('copied'))) }, t('copy')),
    ),
    webhookUrl ? h('p', {}, `${t('webhookUrl')}: `, h('code', {}, webhookUrl)) : null,
  );
}

async function tem(main) {
  const writer = holds('Connectors.ReadWrite');
  const [{ value: providers }, { value: lines }] = await Promise.all([call('GET', 'admin/tem/providers'), call('GET', 'admin/tem/lines')]);
  main.append(h('h1', {}, t('tem')));
  if (writer) {
    const name = h('input', { id: 'tem-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
    const email = h('input', { id: 'tem-email', name: 'alertEmail', type: 'email', autocomplete: 'off' });
    main.append(
      h(
        'form',
        {
          class: 'card',
          'aria-labelledby': 'tem-register',
          onsubmit: submitting(async () => {
            const made = await call('POST', 'admin/tem/providers', {
              name: name.value,
              ...(email.value ? { alertEmail: email.value } : {}),
            });
            await show('tem');
            document.getElementById('main').prepend(secretBox(made.secret, made.webhookUrl));
          }),
        },
        h('h2', { id: 'tem-register' }, t('register')),
        h('label', { for: 'tem-name' }, t('name')),
        name,
        h('label', { for: 'tem-email' }, t('alertEmail')),
        email,
        h('button', { type: 'submit' }, t('registerButton')),
      ),
    );
  }
  main.append(h('h2', {}, t('providers')));
  for (const p of providers) main.append(await providerCard(p, writer, lines));
  if (!providers.length) main.append(h('p', {}, t('none')));
  main.append(h('h2', {}, t('lines')));
  if (writer) main.append(await lineForm(), linesSync());
  main.append(
    table(
      t('lines'),
      [t('phone'), t('device'), t('user'), t('ownership'), t('monitored'), t('blocks'), t('lineSource')],
      lines.map((l) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, l.phoneNumber),
          h('td', {}, l.deviceName ?? ''),
          h('td', {}, l.userPrincipalName ?? ''),
          h('td', {}, l.ownership),
          h('td', {}, l.monitored ? t('yes') : t('no')),
          h('td', {}, l.blocks.map((b) => b.kind).join(', ')),
          h(
            'td',
            {},
            l.source === 'manual' ? t('addedByHand') : t('fromIntune'),
            writer && l.source === 'manual'
              ? [
                  ' ',
                  action(
                    t('remove'),
                    async () => {
                      await call('DELETE', `admin/tem/lines/${encodeURIComponent(l.phoneNumber)}`);
                      await show('tem');
                      announce(t('lineRemoved', { phone: l.phoneNumber }));
                    },
                    { question: t('removeLineConfirm', { phone: l.phoneNumber }), danger: true },
                  ),
                ]
              : null,
          ),
        ),
      ),
    ),
  );
}

/** A line added by hand for a company-owned device; other devices are listed but cannot be chosen, and say why. */
async function lineForm() {
  const { value: devices } = await call('GET', 'admin/tem/devices');
  const phone = h('input', { id: 'line-phone', type: 'tel', required: true, placeholder: '+447700900123', autocomplete: 'off' });
  const device = h(
    'select',
    { id: 'line-device', required: true },
    h('option', { value: '' }, t('chooseCompanyDevice')),
    devices.map((d) =>
      h(
        'option',
        { value: d.id, disabled: !d.eligible },
        `${d.deviceName}${d.userPrincipalName ? ` (${d.userPrincipalName})` : ''}${d.eligible ? '' : ` — ${d.reason}`}`,
      ),
    ),
  );
  // The number Intune reports for the device, when there is one, as a starting point.
  device.addEventListener('change', () => {
    const d = devices.find((x) => x.id === device.value);
    if (d?.phoneNumber && !phone.value) phone.value = d.phoneNumber;
  });
  return h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'line-add',
      onsubmit: submitting(async () => {
        const added = await call('POST', 'admin/tem/lines', { phoneNumber: phone.value, managedDeviceId: device.value });
        await show('tem');
        announce(t('lineAdded', { phone: added.phoneNumber }));
      }),
    },
    h('h3', { id: 'line-add' }, t('addLine')),
    h('label', { for: 'line-device' }, t('device')),
    device,
    h('label', { for: 'line-phone' }, t('phone')),
    phone,
    h('button', { type: 'submit' }, t('addLine')),
  );
}

/** Reads the corporate lines from Intune now, followed to the end of its run. */
function linesSync() {
  const progress = progressBar('lines-sync', t('syncLines'));
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'actions' },
      action(t('syncLines'), async () => {
        const started = await call('POST', 'admin/tem/lines/sync');
        progress.hidden = false;
        const run = await follow(started.runId, progress.querySelector('progress'));
        await show('tem');
        announce(t('linesSynced', { state: run.state, lines: run.counters.lines ?? 0, removed: run.counters.removed ?? 0 }));
      }),
    ),
    progress,
  );
}

/** The ledger's filters, as the API takes them (the ledger is filtered where it is stored, not in the page). */
const LEDGER_FILTERS = {
  status: ['requested', 'applied', 'failed', 'reverted', 'ignored', 'repaired'],
  action: ['block', 'unblock', 'none'],
  kind: ['data', 'roaming'],
};

async function providerCard(p, writer, lines) {
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, t('showMore'));
  const select = (name, values, label) =>
    h(
      'span',
      { class: 'filter' },
      h('label', { for: `ledger-${p.id}-${name}` }, label),
      ' ',
      h(
        'select',
        { id: `ledger-${p.id}-${name}`, name },
        h('option', { value: '' }, t('all')),
        values.map((v) => h('option', { value: v }, v)),
      ),
    );
  const filters = h(
    'form',
    { class: 'filters', 'aria-label': `${t('ledgerFilters')}: ${p.name}`, onsubmit: (ev) => ev.preventDefault() },
    select('status', LEDGER_FILTERS.status, t('filterStatus')),
    select('action', LEDGER_FILTERS.action, t('action')),
    select('kind', LEDGER_FILTERS.kind, t('kind')),
    select(
      'line',
      lines.map((l) => l.phoneNumber),
      t('line'),
    ),
  );
  let next;
  const turn = turns();
  const read = async (from) => {
    const current = turn();
    const q = new URLSearchParams({ top: '50' });
    for (const el of filters.querySelectorAll('select')) if (el.value) q.set(el.name, el.value);
    if (from) q.set('continuationToken', from);
    const page = await call('GET', `admin/tem/providers/${p.id}/ledger?${q}`);
    if (!current()) return;
    next = page.nextLink ? new URL(page.nextLink).searchParams.get('continuationToken') : undefined;
    more.hidden = !next;
    const drawn = page.value.map((r) =>
      h(
        'tr',
        {},
        h('td', {}, when(r.at)),
        h('td', {}, `${r.action}${r.kind ? ` (${r.kind})` : ''}`),
        h('td', {}, r.line ?? ''),
        h('td', {}, r.deviceName ?? ''),
        h('td', {}, r.status),
        h('td', {}, r.error ?? r.reason ?? ''),
      ),
    );
    if (from) rows.append(...drawn);
    else rows.replaceChildren(...(drawn.length ? drawn : [h('tr', {}, h('td', { colspan: 6 }, t('noEntry')))]));
  };
  filters.addEventListener('change', () => read().catch((e) => rows.replaceChildren(h('tr', {}, h('td', { colspan: 6 }, problem(e))))));
  more.addEventListener('click', () => read(next));
  await read();
  const progress = progressBar(`revert-${p.id}`, t('reverting'));
  const actions = writer
    ? h(
        'div',
        { class: 'actions' },
        p.enabled ? h('a', { class: 'button', href: p.connectUrl }, t('connect')) : null,
        action(
          t('rotate'),
          async () => {
            const made = await call('POST', `admin/tem/providers/${p.id}/secrets`, { overlapHours: 24 });
            document.getElementById('main').prepend(secretBox(made.secret));
          },
          { question: t('rotateConfirm') },
        ),
        p.enabled
          ? action(
              t('switchOff'),
              async () => {
                const changed = await call('PATCH', `admin/tem/providers/${p.id}`, { enabled: false });
                progress.hidden = false;
                const run = changed.runId ? await follow(changed.runId, progress.querySelector('progress')) : null;
                announce(t('reverted', { done: run?.progress.done ?? 0 }));
                await show('tem');
              },
              { question: t('switchOffConfirm'), danger: true },
            )
          : action(t('switchOn'), async () => {
              await call('PATCH', `admin/tem/providers/${p.id}`, { enabled: true });
              await show('tem');
            }),
      )
    : null;
  return h(
    'section',
    { class: 'card', 'aria-labelledby': `provider-${p.id}` },
    h(
      'h3',
      { id: `provider-${p.id}` },
      p.name,
      ' ',
      badge(p.connection === 'active' ? 'active' : p.connection === 'failed' ? 'error' : 'notConfigured', t(`connection.${p.connection}`)),
    ),
    h(
      'dl',
      {},
      h('dt', {}, t('service')),
      h('dd', {}, p.enabled ? t('on') : t('off')),
      h('dt', {}, t('lastSignal')),
      h('dd', {}, when(p.lastSignalAt)),
      h('dt', {}, t('corporateLines')),
      h('dd', {}, p.corporateLines),
      h('dt', {}, t('activeBlocks')),
      h('dd', { class: 'active-blocks' }, p.activeBlocks),
      h('dt', {}, t('webhookUrl')),
      h('dd', {}, h('code', {}, p.webhookUrl)),
    ),
    p.connectionDetail ? h('p', { class: 'muted' }, p.connectionDetail) : null,
    actions,
    progress,
    filters,
    h(
      'table',
      {},
      h('caption', {}, `${t('ledger')}: ${p.name}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          [t('when'), t('action'), t('line'), t('device'), t('filterStatus'), t('reason')].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      rows,
    ),
    more,
  );
}

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** A button that asks first when `question` is given, disables itself while `work` runs, and shows a refusal beside itself. */
function action(label, work, { question, danger } = {}) {
  return h(
    'button',
    {
      type: 'button',
      class: danger ? 'danger' : undefined,
      onclick: async (ev) => {
        if (question && !window.confirm(question)) return;
        const button = ev.currentTarget;
        button.disabled = true;
        button.parentElement.querySelectorAll('.problem').forEach((p) => p.remove());
        try {
          await work();
        } catch (e) {
          button.after(problem(e));
        } finally {
          button.disabled = false;
        }
      },
    },
    label,
  );
}

/** A button that sends the file chosen in `file` (nothing when none is), through action(). */
const uploading = (file, label, send) =>
  action(label, async () => {
    const chosen = file.files?.[0];
    if (chosen) await send(await chosen.arrayBuffer(), chosen.type);
  });

/** A form's submit handler: `work` with the submit button disabled meanwhile; a refusal shown after the button. */
function submitting(work) {
  return async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const button = ev.submitter;
    form.querySelectorAll('.problem').forEach((p) => p.remove());
    if (button) button.disabled = true;
    try {
      await work(form);
    } catch (e) {
      (button ?? form).after(problem(e));
    } finally {
      if (button) button.disabled = false;
    }
  };
}

/** Turns for a view that redraws from the API: only the newest turn's answer is drawn, so quick changes never leave an older one behind. */
function turns() {
  let newest = 0;
  return () => {
    const mine = ++newest;
    return () => mine === newest;
  };
}

/** A progress bar for a run, hidden until the run starts. */
const progressBar = (id, label) => h('div', { class: 'progress', hidden: true }, h('label', { for: id }, label), h('progress', { id }));

async function archive(main) {
  const writer = holds('Archive.ReadWrite');
  const account = await call('GET', 'admin/archive/account').catch((e) => {
    if (e.status === 404) return null;
    throw e;
  });
  const parts = [h('h1', {}, t('archive')), account ? archiveAccount(account, writer) : archiveRegister(writer)];
  if (account) {
    parts.push(await archiveMapping(writer));
    if (writer) parts.push(archiveImport());
    if (holds('Connectors.Read')) parts.push(await archiveRuns(writer));
  }
  main.append(...parts);
}

function archiveRegister(writer) {
  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'archive-account' },
    h('h2', { id: 'archive-account' }, t('account')),
    h('p', {}, t('noAccount')),
  );
  if (!writer) return section;
  const url = h('input', { id: 'archive-url', type: 'url', required: true, autocomplete: 'off' });
  const key = h('input', { id: 'archive-key', type: 'password', required: true, autocomplete: 'off' });
  section.append(
    h(
      'form',
      {
        onsubmit: submitting(async () => {
          await call('PUT', 'admin/archive/account', { providerUrl: url.value, apiKey: key.value });
          await show('archive');
        }),
      },
      h('label', { for: 'archive-url' }, t('providerUrl')),
      url,
      h('label', { for: 'archive-key' }, t('apiKey')),
      key,
      h('button', { type: 'submit' }, t('save')),
    ),
  );
  return section;
}

function archiveAccount(a, writer) {
  const conn = a.connection.state;
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'archive-account' },
    h(
      'h2',
      { id: 'archive-account' },
      t('account'),
      ' ',
      badge(conn === 'connected' ? 'active' : conn === 'failed' ? 'error' : 'notConfigured', t(`archiveConn.${conn}`)),
    ),
    h(
      'dl',
      {},
      h('dt', {}, t('network')),
      h('dd', {}, a.network),
      h('dt', {}, t('providerUrl')),
      h('dd', {}, h('code', {}, a.providerUrl)),
      h('dt', {}, t('signInKind')),
      h('dd', {}, a.authKind === 'apiKey' ? t('apiKey') : a.username),
      h('dt', {}, t('terms')),
      h(
        'dd',
        {},
        a.terms.acceptedAt ? t('termsAccepted', { by: a.terms.acceptedBy, at: when(a.terms.acceptedAt) }) : t('termsNotAccepted'),
      ),
      h('dt', {}, t('importOn')),
      h('dd', { class: 'archive-enabled' }, a.enabled ? t('on') : t('off')),
    ),
    a.connection.detail ? h('p', { class: 'muted' }, a.connection.detail) : null,
    writer
      ? h(
          'div',
          { class: 'actions' },
          a.terms.acceptedAt
            ? null
            : action(t('acceptTerms'), async () => (await call('POST', 'admin/archive/terms', { accept: true }), show('archive'))),
          action(t('testConnection'), async () => (await call('POST', 'admin/archive/account/test'), show('archive'))),
          a.enabled
            ? action(
                t('switchOffImport'),
                async () => (await call('PATCH', 'admin/archive/account', { enabled: false }), show('archive')),
                { question: t('switchOffImportConfirm'), danger: true },
              )
            : action(t('switchOnImport'), async () => (await call('PATCH', 'admin/archive/account', { enabled: true }), show('archive'))),
        )
      : null,
  );
}

async function archiveMapping(writer) {
  const m = await call('GET', 'admin/archive/mapping');
  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'archive-mapping' },
    h('h2', { id: 'archive-mapping' }, t('mapping')),
    h(
      'p',
      { class: 'mapping-state' },
      m.version ? t('mappingInUse', { version: m.version, rows: m.rows, by: m.uploadedBy, at: when(m.uploadedAt) }) : t('mappingNone'),
    ),
  );
  if (!writer) return section;
  const file = h('input', { id: 'archive-mapping-file', type: 'file', accept: '.csv,text/csv' });
  section.append(
    h('label', { for: 'archive-mapping-file' }, t('mappingFile')),
    file,
    h(
      'div',
      { class: 'actions' },
      // A refused file throws its validation report, which action() shows beside the button.
      uploading(file, t('upload'), async (bytes) => {
        const used = await call('PUT', 'admin/archive/mapping', bytes, 'text/csv');
        await show('archive');
        announce(t('mappingUploaded', { rows: used.rows }));
      }),
      m.version
        ? action(t('stopMapping'), async () => (await call('DELETE', 'admin/archive/mapping'), show('archive')), {
            question: t('stopMappingConfirm'),
            danger: true,
          })
        : null,
    ),
  );
  return section;
}

function archiveImport() {
  const from = h('input', { id: 'archive-from', type: 'date', required: true });
  const to = h('input', { id: 'archive-to', type: 'date', required: true });
  const progress = progressBar('archive-progress', t('importing'));
  const run = async (body) => {
    const started = await call('POST', 'admin/archive/import', body);
    progress.hidden = false;
    const r = await follow(started.runId, progress.querySelector('progress'));
    announce(t('importDone', { state: r.state, imported: r.counters.imported ?? 0, failed: r.counters.failed ?? 0 }));
    await show('archive');
  };
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'archive-import' },
    h('h2', { id: 'archive-import' }, t('importNow')),
    h(
      'div',
      { class: 'actions' },
      action(t('importNow'), () => run({})),
    ),
    h(
      'form',
      {
        'aria-label': t('backfill'),
        onsubmit: submitting(async () => {
          const end = new Date(`${to.value}T00:00:00Z`);
          end.setUTCDate(end.getUTCDate() + 1);
          await run({ from: `${from.value}T00:00:00Z`, to: end.toISOString() });
        }),
      },
      h('h3', {}, t('backfill')),
      h('label', { for: 'archive-from' }, t('from')),
      from,
      h('label', { for: 'archive-to' }, t('to')),
      to,
      h('button', { type: 'submit' }, t('backfill')),
    ),
    progress,
  );
}

async function archiveRuns(writer) {
  const { value: runs } = await call('GET', 'admin/runs?kind=archive.import&top=10');
  const details = h('div');
  const byDay = new Map();
  for (const r of [...runs].reverse()) {
    const day = (r.createdAt ?? '').slice(0, 10);
    const d = byDay.get(day) ?? { label: day, imported: 0, failed: 0 };
    d.imported += r.counters.imported ?? 0;
    d.failed += r.counters.failed ?? 0;
    byDay.set(day, d);
  }
  return h(
    'section',
    { 'aria-labelledby': 'archive-runs' },
    h('h2', { id: 'archive-runs' }, t('runs')),
    runs.length
      ? chart(
          t('perDay'),
          'bar',
          [...byDay.values()],
          [
            { key: 'imported', name: t('imported') },
            { key: 'failed', name: t('failedCount') },
          ],
        )
      : null,
    table(
      t('runs'),
      [t('started'), t('state'), t('items'), t('imported'), t('failedCount'), t('size'), ''],
      runs.map((r) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, when(r.createdAt ?? r.startedAt)),
          h('td', {}, r.state),
          h('td', { class: 'num' }, r.progress.total === null ? r.progress.done : `${r.progress.done} / ${r.progress.total}`),
          h('td', { class: 'num' }, r.counters.imported ?? 0),
          h('td', { class: 'num' }, r.counters.failed ?? 0),
          h('td', { class: 'num' }, r.counters.bytesTotal ? `${mb(r.counters.bytesDone ?? 0)} / ${mb(r.counters.bytesTotal)}` : ''),
          h(
            'td',
            {},
            r.counters.failed
              ? action(t('showFailures'), async () => {
                  const { value } = await call('GET', `admin/archive/import/${encodeURIComponent(r.id)}/failures`);
                  details.replaceChildren(
                    table(
                      `${t('failures')}: ${when(r.createdAt ?? r.startedAt)}`,
                      [t('itemId'), t('source'), t('mailbox'), t('reason')],
                      value.map((f) =>
                        h(
                          'tr',
                          {},
                          h('th', { scope: 'row' }, f.itemId),
                          h('td', {}, f.sourceUser ?? ''),
                          h('td', {}, f.mailbox ?? ''),
                          h('td', {}, f.reason),
                        ),
                      ),
                    ),
                    h('a', { href: `/api/admin/archive/import/${encodeURIComponent(r.id)}/failures.csv` }, t('downloadCsv')),
                    writer
                      ? h(
                          'div',
                          { class: 'actions' },
                          action(t('replay'), async () => {
                            const started = await call('POST', `admin/archive/import/${encodeURIComponent(r.id)}/replay`);
                            const bar = h('progress', { 'aria-label': t('importing') });
                            details.append(bar);
                            const done = await follow(started.runId, bar);
                            announce(
                              t('importDone', {
                                state: done.state,
                                imported: done.counters.imported ?? 0,
                                failed: done.counters.failed ?? 0,
                              }),
                            );
                            await show('archive');
                          }),
                        )
                      : null,
                  );
                })
              : null,
          ),
        ),
      ),
    ),
    details,
  );
}

async function remote(main) {
  const [connection, picker, sessions] = await Promise.all([
    holds('RemoteAssistance.Update') ? teamViewerCard() : null,
    holds('RemoteAssistance.Request') ? newSession() : null,
    holds('RemoteAssistance.Request') ? sessionsTable() : null,
  ]);
  main.append(h('h1', {}, t('remote')), ...[connection, picker, sessions].filter(Boolean));
}

async function teamViewerCard() {
  const c = await call('GET', 'admin/remote-assistance/connection');
  const again = () => show('remote');
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'ra-connection' },
    h(
      'h2',
      { id: 'ra-connection' },
      t('teamviewer'),
      ' ',
      badge(c.state === 'connected' ? 'active' : c.state === 'needsReauthorization' ? 'warning' : 'notConfigured', t(`ra.${c.state}`)),
    ),
    h(
      'dl',
      {},
      h('dt', {}, t('terms')),
      h('dd', {}, c.termsAcceptedAt ? t('termsAccepted', { by: c.termsAcceptedBy, at: when(c.termsAcceptedAt) }) : t('termsNotAccepted')),
      h('dt', {}, t('raAccount')),
      h('dd', {}, c.account ? `${c.account.name ?? ''} ${c.account.email ? `<${c.account.email}>` : ''}`.trim() : '—'),
      h('dt', {}, t('lastSuccess')),
      h('dd', {}, when(c.lastSuccessAt)),
    ),
    c.detail ? h('p', { class: 'muted' }, c.detail) : null,
    c.alerts.length
      ? h(
          'ul',
          { class: 'alerts' },
          c.alerts.map((a) => h('li', {}, when(a.at), ' — ', a.message)),
        )
      : null,
    h(
      'div',
      { class: 'actions' },
      c.termsAcceptedAt
        ? null
        : action(t('acceptTerms'), async () => (await call('POST', 'admin/remote-assistance/terms', { accept: true }), again())),
      c.termsAcceptedAt && c.state !== 'connected'
        ? h('a', { class: 'button', href: '/api/remote-assistance/connect' }, t('connect'))
        : null,
      c.state === 'connected'
        ? action(t('check'), async () => (await call('POST', 'admin/remote-assistance/connection/check'), again()))
        : null,
      c.state !== 'disconnected'
        ? action(t('disconnect'), async () => (await call('DELETE', 'admin/remote-assistance/connection'), again()), {
            question: t('disconnectConfirm'),
            danger: true,
          })
        : null,
    ),
  );
}

/** The device picker: every managed device, those a session cannot be requested for disabled with the reason. */
async function newSession() {
  const { value: devices } = await call('GET', 'admin/remote-assistance/devices');
  const find = h('input', { id: 'ra-find', type: 'search', autocomplete: 'off' });
  const list = h('div', { class: 'devices' });
  const fill = () => {
    const q = find.value.trim().toLowerCase();
    const shown = devices.filter((d) => !q || `${d.deviceName} ${d.userName ?? ''} ${d.userPrincipalName ?? ''}`.toLowerCase().includes(q));
    list.replaceChildren(
      ...(shown.length
        ? shown.map((d) =>
            h(
              'div',
              { class: d.supported ? 'device' : 'device unsupported' },
              h('input', {
                type: 'radio',
                name: 'ra-device',
                id: `ra-device-${d.id}`,
                value: d.id,
                disabled: !d.supported,
                'aria-describedby': d.reason ? `ra-why-${d.id}` : undefined,
              }),
              h('label', { for: `ra-device-${d.id}` }, `${d.deviceName} — ${d.platform}${d.userName ? ` — ${d.userName}` : ''}`),
              d.reason ? h('div', { id: `ra-why-${d.id}`, class: 'muted' }, d.reason) : null,
            ),
          )
        : [h('p', {}, t('noDevices'))]),
    );
  };
  find.addEventListener('input', fill);
  fill();
  return h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'ra-new',
      onsubmit: submitting(async (form) => {
        const chosen = form.querySelector('input[name="ra-device"]:checked');
        if (!chosen) return;
        const s = await call('POST', 'admin/remote-assistance/sessions', { deviceId: chosen.value });
        await show('remote');
        document
          .getElementById('main')
          .prepend(
            h(
              'section',
              { class: 'secret', 'aria-label': t('newSession') },
              h('p', {}, t('sessionOpen', { code: s.code, invitation: s.invitation })),
              h('a', { class: 'button', href: s.supporterLink, target: '_blank', rel: 'noopener' }, t('openSession')),
            ),
          );
      }),
    },
    h('h2', { id: 'ra-new' }, t('newSession')),
    h('label', { for: 'ra-find' }, t('filterDevices')),
    find,
    h('fieldset', {}, h('legend', {}, t('chooseDevice')), list),
    h('button', { type: 'submit' }, t('requestSession')),
  );
}

async function sessionsTable() {
  const { value: sessions } = await call('GET', 'admin/remote-assistance/sessions');
  return h(
    'section',
    { 'aria-labelledby': 'ra-sessions' },
    h('h2', { id: 'ra-sessions' }, t('sessions')),
    h(
      'div',
      { class: 'actions' },
      h('a', { href: '/api/admin/remote-assistance/sessions.csv' }, t('downloadCsv')),
      action(t('readReports'), async () => {
        const r = await call('POST', 'admin/remote-assistance/sync');
        await show('remote');
        announce(t('reportsRead', r));
      }),
    ),
    table(
      t('sessions'),
      [t('requestedAt'), t('requestedBy'), t('device'), t('user'), t('outcome'), t('code'), t('invitation'), t('connections'), ''],
      sessions.map((s) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, when(s.requestedAt)),
          h('td', {}, s.requestedByName ?? s.requestedBy),
          h('td', {}, s.deviceName ?? s.deviceId),
          h('td', {}, s.userName ?? ''),
          h(
            'td',
            {},
            s.outcome,
            s.reason ? h('div', { class: 'muted' }, s.reason) : null,
            s.closedAt ? h('div', { class: 'muted' }, t('closedBy', { at: when(s.closedAt), by: s.closedBy ?? '' })) : null,
          ),
          h('td', {}, s.code ?? ''),
          h('td', {}, s.invitation ?? ''),
          h(
            'td',
            {},
            s.connections.map((c) =>
              h('div', {}, t('connectionLine', { supporter: c.supporter ?? '—', start: when(c.start), minutes: c.minutes ?? '…' })),
            ),
          ),
          h(
            'td',
            {},
            s.outcome === 'open'
              ? action(
                  t('close'),
                  async () => (await call('POST', `admin/remote-assistance/sessions/${encodeURIComponent(s.id)}/close`), show('remote')),
                  { question: t('closeConfirm') },
                )
              : null,
          ),
        ),
      ),
    ),
  );
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/**
 * A small chart drawn as SVG (no library): one polyline per series over time, or grouped bars per
 * label. The figures are also in a table beside it, for screen readers and exact values.
 */
function chart(caption, kind, rows, series) {
  const W = 640;
  const H = 200;
  const pad = 36;
  const max = Math.max(1, ...rows.flatMap((r) => series.map((s) => r[s.key])));
  const y = (v) => H - pad - (v / max) * (H - 2 * pad);
  const step = (W - 2 * pad) / Math.max(1, rows.length - (kind === 'line' ? 1 : 0));
  const x = (i) => pad + i * step;
  const marks =
    kind === 'line'
      ? series.flatMap((s) => [
          svg('polyline', { class: `series ${s.key}`, points: rows.map((r, i) => `${x(i)},${y(r[s.key])}`).join(' ') }),
          // A dot per point, so a single change still shows.
          ...rows.map((r, i) => svg('circle', { class: `series ${s.key}`, cx: x(i), cy: y(r[s.key]), r: 3.5 })),
        ])
      : rows.flatMap((r, i) =>
          series.map((s, j) => {
            const w = (step * 0.8) / series.length;
            return svg('rect', {
              class: `series ${s.key}`,
              x: x(i) + step * 0.1 + j * w,
              y: y(r[s.key]),
              width: w,
              height: H - pad - y(r[s.key]),
            });
          }),
        );
  const axis = [
    svg('line', { class: 'axis', x1: pad, y1: H - pad, x2: W - pad, y2: H - pad }),
    svg('text', { x: 4, y: pad, class: 'tick' }, max),
    svg('text', { x: 4, y: H - pad, class: 'tick' }, 0),
    rows.length ? svg('text', { x: pad, y: H - 8, class: 'tick' }, rows[0].label) : null,
    rows.length > 1 ? svg('text', { x: W - pad, y: H - 8, class: 'tick', 'text-anchor': 'end' }, rows[rows.length - 1].label) : null,
  ];
  const summary = t('chartSummary', {
    name: caption,
    first: rows[0]?.label ?? '',
    last: rows[rows.length - 1]?.label ?? '',
    points: rows.length,
  });
  return h(
    'figure',
    { class: 'chart' },
    h(
      'figcaption',
      {},
      caption,
      ' ',
      series.map((s) => h('span', { class: `legend ${s.key}` }, s.name)),
    ),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary }, axis, marks),
    h(
      'details',
      {},
      h('summary', {}, t('items')),
      table(
        caption,
        ['', ...series.map((s) => s.name)],
        rows.map((r) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, r.label),
            series.map((s) => h('td', { class: 'num' }, r[s.key])),
          ),
        ),
      ),
    ),
  );
}

const ACTIONS = ['markNoncompliant', 'email', 'remoteLock', 'retire'];

async function compliance(main) {
  const [{ value: templates }, { value: policies }, { value: variables }, devices, brand] = await Promise.all([
    call('GET', 'admin/compliance/templates'),
    call('GET', 'admin/compliance/policies'),
    call('GET', 'admin/compliance/variables'),
    call('GET', 'admin/compliance/devices?top=100'),
    call('GET', 'admin/compliance/branding'),
  ]);
  const progress = progressBar('cmp-progress', t('runDetection'));
  main.append(
    h('h1', {}, t('compliance')),
    h(
      'div',
      { class: 'actions' },
      action(t('runDetection'), async () => {
        const started = await call('POST', 'admin/compliance/evaluate');
        progress.hidden = false;
        const run = await follow(started.runId, progress.querySelector('progress'));
        announce(t('detectionDone', { state: run.state }));
        await show('compliance');
      }),
    ),
    progress,
    h('h2', {}, t('policies')),
    ...policies.map((p) => scheduleEditor(p, templates)),
    h('h2', {}, t('branding')),
    brandingSection(brand),
    h('h2', {}, t('templates')),
    templatesSection(templates, variables, devices.value),
    h('h2', {}, t('devices')),
    devicesSection(devices.value),
  );
}

/** A policy's schedule as editable rows, with its timeline redrawn as it is edited; saved whole. */
function scheduleEditor(p, templates) {
  let actions = p.actions.map((a) => ({ type: a.type, days: a.days, templateId: a.templateId }));
  const rows = h('div', { class: 'schedule-rows' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': `${t('timeline')}: ${p.displayName}` });
  const key = (i, f) => `cmp-${p.id}-${i}-${f}`;
  const draw = () => {
    const byDay = new Map();
    for (const a of [...actions].sort((x, y) => x.days - y.days)) byDay.set(a.days, [...(byDay.get(a.days) ?? []), a]);
    timeline.replaceChildren(
      ...[...byDay].map(([d, list]) =>
        h(
          'li',
          {},
          h('span', { class: 'day' }, t('day', { n: d })),
          ' ',
          list
            .map(
              (a) =>
                t(`action.${a.type}`) + (a.templateId ? ` (${templates.find((x) => x.id === a.templateId)?.name ?? a.templateId})` : ''),
            )
            .join(', '),
        ),
      ),
    );
  };
  const fill = () => {
    rows.replaceChildren(
      ...actions.map((a, i) =>
        h(
          'div',
          { class: 'schedule-row' },
          h('label', { for: key(i, 'type') }, t('actionType')),
          h(
            'select',
            { id: key(i, 'type'), onchange: (ev) => ((actions[i] = { type: ev.target.value, days: a.days }), fill()) },
            ACTIONS.map((x) => h('option', { value: x, selected: x === a.type }, t(`action.${x}`))),
          ),
          h('label', { for: key(i, 'days') }, t('days')),
          h('input', {
            id: key(i, 'days'),
            type: 'number',
            min: 0,
            max: 365,
            value: a.days,
            oninput: (ev) => ((a.days = Number(ev.target.value)), draw()),
          }),
          a.type === 'email'
            ? [
                h('label', { for: key(i, 'template') }, t('template')),
                h(
                  'select',
                  { id: key(i, 'template'), onchange: (ev) => ((a.templateId = ev.target.value), draw()) },
                  h('option', { value: '' }, '—'),
                  templates.map((x) => h('option', { value: x.id, selected: x.id === a.templateId }, x.name)),
                ),
              ]
            : null,
          h('button', { type: 'button', onclick: () => (actions.splice(i, 1), fill()) }, t('remove')),
        ),
      ),
    );
    draw();
  };
  fill();
  return h(
    'section',
    { class: 'card', 'aria-labelledby': `policy-${p.id}` },
    h('h3', { id: `policy-${p.id}` }, p.displayName, ' ', h('span', { class: 'muted' }, p.platform)),
    timeline,
    rows,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', onclick: () => (actions.push({ type: 'remoteLock', days: 1 }), fill()) }, t('addAction')),
      action(t('saveSchedule'), async () => {
        const body = actions.map((a) =>
          a.type === 'email' ? { type: 'email', days: a.days, templateId: a.templateId ?? '' } : { type: a.type, days: a.days },
        );
        const saved = await call('PUT', `admin/compliance/policies/${encodeURIComponent(p.id)}/actions`, { actions: body });
        announce(t('scheduleSaved', { cancelled: saved.cancelled }));
        actions = saved.actions.map((a) => ({ type: a.type, days: a.days, templateId: a.templateId }));
        fill();
      }),
    ),
  );
}

/** The company name and contact shown in notifications, and the logo. */
function brandingSection(b) {
  const field = (id, label, value, type = 'text') => [h('label', { for: id }, label), h('input', { id, type, value, autocomplete: 'off' })];
  const form = h(
    'form',
    {
      class: 'card',
      'aria-label': t('branding'),
      onsubmit: submitting(async (form) => {
        const v = (id) => form.querySelector(`#${id}`).value;
        await call('PUT', 'admin/compliance/branding', {
          companyName: v('br-name'),
          contact: { name: v('br-contact'), email: v('br-email'), phone: v('br-phone'), website: v('br-site') },
        });
        announce(t('brandingSaved'));
      }),
    },
    field('br-name', t('companyName'), b.companyName),
    field('br-contact', t('contactName'), b.contact.name),
    field('br-email', t('contactEmail'), b.contact.email, 'email'),
    field('br-phone', t('contactPhone'), b.contact.phone, 'tel'),
    field('br-site', t('website'), b.contact.website, 'url'),
    h('button', { type: 'submit' }, t('saveBranding')),
  );
  const file = h('input', { id: 'br-logo', type: 'file', accept: 'image/png,image/jpeg' });
  const logo = h(
    'section',
    { class: 'card', 'aria-labelledby': 'br-logo-h' },
    h('h3', { id: 'br-logo-h' }, t('logoHeading')),
    h(
      'p',
      { class: 'logo-state' },
      b.logo ? t('logoNow', { type: b.logo.contentType, kb: (b.logo.bytes / 1024).toFixed(1), at: when(b.logo.updatedAt) }) : t('noLogo'),
    ),
    h('label', { for: 'br-logo' }, t('logo')),
    file,
    h(
      'div',
      { class: 'actions' },
      uploading(file, t('uploadLogo'), async (bytes, type) => {
        await call('PUT', 'admin/compliance/branding/logo', bytes, type || 'application/octet-stream');
        await show('compliance');
      }),
      b.logo
        ? action(t('removeLogo'), async () => (await call('DELETE', 'admin/compliance/branding/logo'), show('compliance')), {
            question: t('removeLogoConfirm'),
            danger: true,
          })
        : null,
    ),
  );
  return h('div', {}, form, logo);
}

function templatesSection(templates, variables, devices) {
  const editor = h('div', {}, templateEditor(null, variables, devices));
  const edit = (tp) => {
    editor.replaceChildren(templateEditor(tp, variables, devices));
    editor.querySelector('input').focus();
  };
  const list = table(
    t('templates'),
    [t('name'), t('locales'), t('actions')],
    templates.map((tp) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, tp.name),
        h('td', {}, tp.messages.map((m) => (m.isDefault ? `${m.locale} (${t('default')})` : m.locale)).join(', ')),
        h(
          'td',
          { class: 'actions' },
          h('button', { type: 'button', 'aria-label': `${t('edit')}: ${tp.name}`, onclick: () => edit(tp) }, t('edit')),
          action(
            t('delete'),
            async () => {
              await call('DELETE', `admin/compliance/templates/${encodeURIComponent(tp.id)}`);
              await show('compliance');
            },
            { question: t('deleteTemplateConfirm', { name: tp.name }), danger: true },
          ),
        ),
      ),
    ),
  );
  return h('div', {}, list, editor);
}

let editorCount = 0;

/**
 * A template's editor (a new one when `tp` is null): its name, branding toggles and one message per
 * language, with the preview beside it redrawn from what is typed, rendered with a real device's values.
 */
function templateEditor(tp, variables, devices) {
  const n = ++editorCount;
  const id = (k) => `tpl${n}-${k}`;
  const name = h('input', { id: id('name'), required: true, maxlength: 100, value: tp?.name ?? '' });
  const toggles = ['companyLogo', 'companyName', 'contactInformation', 'deviceDetails'];
  const toggle = (k) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: k, checked: tp ? tp.branding[k] : true }), ' ', t(k));
  const messages = h('div', { class: 'messages' });
  let m = 0;
  const addMessage = (msg) => {
    const k = `${n}-${++m}`;
    const locale = h('input', {
      id: `msg${k}-locale`,
      name: 'locale',
      required: true,
      maxlength: 35,
      value: msg.locale,
      autocomplete: 'off',
    });
    const legend = h('legend', {}, msg.locale || t('newLanguage'));
    locale.addEventListener('input', () => (legend.textContent = locale.value || t('newLanguage')));
    const box = h(
      'fieldset',
      { class: 'message' },
      legend,
      h('label', { for: `msg${k}-locale` }, t('locale')),
      locale,
      h('label', { for: `msg${k}-subject` }, t('subject')),
      h('input', { id: `msg${k}-subject`, name: 'subject', required: true, maxlength: 255, value: msg.subject }),
      h('label', { for: `msg${k}-body` }, t('body')),
      h('textarea', { id: `msg${k}-body`, name: 'body', required: true, rows: 5 }, msg.body),
      h('label', { class: 'check' }, h('input', { type: 'radio', name: id('default'), checked: msg.isDefault }), ' ', t('defaultLanguage')),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            if (messages.children.length > 1) box.remove();
            if (!messages.querySelector('input[type="radio"]:checked')) messages.querySelector('input[type="radio"]').checked = true;
            redraw();
          },
        },
        t('removeLanguage'),
      ),
    );
    messages.append(box);
  };
  for (const msg of tp?.messages ?? [{ locale: lang === 'fr' ? 'fr-FR' : 'en-US', subject: '', body: '', isDefault: true }])
    addMessage(msg);

  const input = (form) => ({
    name: name.value,
    branding: Object.fromEntries(toggles.map((k) => [k, form.querySelector(`input[name="${k}"]`).checked])),
    messages: [...messages.children].map((box) => ({
      locale: box.querySelector('[name="locale"]').value,
      subject: box.querySelector('[name="subject"]').value,
      body: box.querySelector('[name="body"]').value,
      isDefault: box.querySelector('input[type="radio"]').checked,
    })),
  });

  const device = h(
    'select',
    { id: id('device') },
    devices.map((d) => h('option', { value: d.deviceId }, d.deviceName)),
  );
  const previewLocale = h('input', { id: id('plocale'), placeholder: t('usersLanguage'), maxlength: 35, autocomplete: 'off' });
  const out = h('div', { class: 'preview', 'aria-live': 'polite' }, h('p', { class: 'muted' }, t('previewHint')));
  let timer;
  const turn = turns();
  // Redrawn shortly after the typing stops.
  const redraw = () => {
    clearTimeout(timer);
    if (!devices.length) return;
    timer = setTimeout(async () => {
      const current = turn();
      const chosen = devices.find((d) => d.deviceId === device.value);
      try {
        const r = await call('POST', 'admin/compliance/templates/preview', {
          template: input(form),
          deviceId: device.value,
          ...(chosen?.policyName ? { policyName: chosen.policyName } : {}),
          ...(previewLocale.value.trim() ? { locale: previewLocale.value.trim() } : {}),
        });
        if (!current()) return;
        out.replaceChildren(
          h('p', { class: 'preview-subject' }, t('previewTo', { to: r.to ?? '—', locale: r.locale, subject: r.subject })),
          h('iframe', { title: `${t('preview')}: ${name.value || t('newTemplate')}`, sandbox: '', srcdoc: r.html }),
        );
      } catch (e) {
        if (current()) out.replaceChildren(problem(e));
      }
    }, 400);
  };

  const form = h(
    'form',
    {
      class: 'card template-editor',
      'aria-labelledby': id('title'),
      oninput: redraw,
      onchange: redraw,
      onsubmit: submitting(async (f) => {
        if (tp) await call('PUT', `admin/compliance/templates/${encodeURIComponent(tp.id)}`, input(f));
        else await call('POST', 'admin/compliance/templates', input(f));
        await show('compliance');
        announce(t('templateSaved', { name: name.value }));
      }),
    },
    h('h3', { id: id('title') }, tp ? `${t('editTemplate')}: ${tp.name}` : t('newTemplate')),
    h(
      'div',
      { class: 'editor-columns' },
      h(
        'div',
        {},
        h('label', { for: id('name') }, t('name')),
        name,
        h('fieldset', {}, h('legend', {}, t('toggles')), toggles.map(toggle)),
        messages,
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              addMessage({ locale: '', subject: '', body: '', isDefault: false });
              messages.lastElementChild.querySelector('input').focus();
            },
          },
          t('addLanguage'),
        ),
        h('p', { class: 'muted' }, t('variablesHint', { list: variables.map((v) => v.name).join(' ') })),
      ),
      h(
        'div',
        { class: 'preview-pane' },
        h('h4', {}, t('preview')),
        devices.length
          ? [
              h('label', { for: id('device') }, t('previewWith')),
              device,
              h('label', { for: id('plocale') }, t('previewLocale')),
              previewLocale,
            ]
          : h('p', { class: 'muted' }, t('previewNoDevice')),
        out,
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, tp ? t('save') : t('create')),
      tp ? h('button', { type: 'button', onclick: () => show('compliance') }, t('cancel')) : null,
    ),
  );
  if (tp) redraw();
  return form;
}

function devicesSection(states) {
  const details = h('div');
  return h(
    'div',
    {},
    table(
      t('devices'),
      [t('device'), t('policy'), t('state'), t('since'), t('grace'), ''],
      states.map((d) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, d.deviceName, h('div', { class: 'muted' }, d.userPrincipalName ?? '')),
          h('td', {}, d.policyName),
          h('td', {}, d.status, d.skipped ? h('div', { class: 'muted' }, d.skipped) : null),
          h('td', {}, when(d.noncompliantSince)),
          h('td', {}, d.graceUntil ? when(d.graceUntil) : ''),
          h(
            'td',
            {},
            action(t('showLedger'), async () => {
              const l = await call('GET', `admin/compliance/devices/${encodeURIComponent(d.deviceId)}`);
              details.replaceChildren(
                table(
                  `${t('showLedger')}: ${d.deviceName}`,
                  [t('actionType'), t('due'), t('filterStatus'), t('reason')],
                  l.actions.map((a) =>
                    h(
                      'tr',
                      {},
                      h('th', { scope: 'row' }, t(`action.${a.type}`)),
                      h('td', {}, when(a.dueAt)),
                      h('td', {}, a.status),
                      h('td', {}, a.error ?? a.reason ?? a.sentTo ?? ''),
                    ),
                  ),
                ),
              );
            }),
          ),
        ),
      ),
    ),
    details,
  );
}

async function vpp(main) {
  const [tokens, licenses, alerts] = await Promise.all([
    call('GET', 'admin/vpp/tokens'),
    call('GET', 'admin/vpp/licenses?top=100'),
    call('GET', 'admin/vpp/alerts?top=20'),
  ]);
  const progress = progressBar('vpp-progress', t('progress'));
  const historyBox = h('div', { tabindex: '-1', class: 'history' });
  const sync = holds('Connectors.ReadWrite')
    ? h(
        'button',
        {
          type: 'button',
          id: 'vpp-sync',
          onclick: async (ev) => {
            ev.target.disabled = true;
            try {
              const started = await call('POST', 'admin/vpp/sync');
              progress.hidden = false;
              announce(t('syncing'));
              const run = await follow(started.runId, progress.querySelector('progress'));
              announce(run.state === 'succeeded' ? t('syncDone', run.progress) : t('syncFailed', { state: run.state }));
              await show('vpp');
            } catch (e) {
              document.getElementById('main').prepend(problem(e));
              ev.target.disabled = false;
            }
          },
        },
        t('syncNow'),
      )
    : null;
  main.append(
    h('h1', {}, t('vpp')),
    sync,
    progress,
    table(
      t('tokens'),
      [t('organization'), t('state'), t('health'), t('expires'), t('lastSync')],
      tokens.value.map((k) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, k.organizationName ?? k.id, h('div', { class: 'muted' }, k.appleId ?? '')),
          h('td', {}, k.state),
          h(
            'td',
            {},
            badge(k.health, t(`health.${k.health}`)),
            k.reasons.length
              ? h(
                  'ul',
                  {},
                  k.reasons.map((r) => h('li', {}, r.reason, ' ', h('em', {}, `${t('fix')}: ${r.fix}`))),
                )
              : null,
          ),
          h('td', {}, when(k.expirationDateTime)),
          h('td', {}, when(k.lastSyncDateTime)),
        ),
      ),
    ),
    table(
      t('licenses'),
      [t('app'), t('total'), t('used'), t('available')],
      licenses.value.map((l) =>
        h(
          'tr',
          {},
          h(
            'th',
            { scope: 'row' },
            l.name,
            ' ',
            action(t('history'), async () => {
              const { value } = await call(
                'GET',
                `admin/vpp/tokens/${encodeURIComponent(l.tokenId)}/licenses/${encodeURIComponent(l.id)}/history`,
              );
              const rows = [...value].reverse().map((p) => ({ label: new Date(p.at).toLocaleString(lang), total: p.total, used: p.used }));
              historyBox.replaceChildren(
                chart(t('historyOf', { name: l.name }), 'line', rows, [
                  { key: 'total', name: t('total') },
                  { key: 'used', name: t('used') },
                ]),
              );
              historyBox.focus();
            }),
          ),
          h('td', { class: 'num' }, l.total),
          h('td', { class: 'num' }, l.used),
          h('td', { class: 'num' }, l.available, l.low ? [' ', badge('warning', t('low'))] : null),
        ),
      ),
    ),
    historyBox,
    h('h2', {}, t('alerts')),
    alerts.value.length
      ? h(
          'ul',
          { class: 'alerts' },
          alerts.value.map((a) => h('li', {}, when(a.at), ' — ', a.message, ` (${t('email')}: ${a.email})`)),
        )
      : h('p', {}, t('noAlerts')),
  );
}

/** Polls a run until it ends, showing done of total. */
async function follow(runId, bar) {
  for (;;) {
    const run = await call('GET', `admin/runs/${encodeURIComponent(runId)}`);
    if (run.progress.total !== null) {
      bar.max = Math.max(run.progress.total, 1);
      bar.value = run.progress.done;
    }
    if (!['queued', 'running'].includes(run.state)) return run;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let announced;
/** Says what came of an action (a polite live region), then steps aside. */
function announce(text) {
  const s = document.getElementById('status');
  s.hidden = false;
  s.textContent = text;
  clearTimeout(announced);
  announced = setTimeout(() => (s.hidden = true), 10_000);
}

function translateStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  document.getElementById('lang').value = lang;
}

function nav(current) {
  const list = document.querySelector('#nav ul');
  list.replaceChildren(
    ...VIEWS.filter(allowed).map((v) =>
      h('li', {}, h('a', { href: `#/${v.id}`, 'aria-current': v.id === current ? 'page' : undefined }, t(v.id))),
    ),
  );
  document.getElementById('nav').hidden = false;
}

/** Renders a view; focus moves to it (for screen readers) except on the first one, so Tab starts at the skip link. */
async function show(id, { focus = true } = {}) {
  const main = document.getElementById('main');
  const views = VIEWS.filter(allowed);
  const view = views.find((v) => v.id === id) ?? views[0];
  nav(view?.id);
  if (!view) return main.replaceChildren(h('p', { role: 'alert' }, t('noRole')));
  // Drawn aside and swapped in whole: the page never shows a view half-drawn.
  const draft = h('div');
  try {
    await view.render(draft);
  } catch (e) {
    draft.append(problem(e));
  }
  main.replaceChildren(...draft.childNodes);
  if (focus) main.focus();
}

function signInPage(message) {
  document.getElementById('who').hidden = true;
  document.getElementById('nav').hidden = true;
  document
    .getElementById('main')
    .replaceChildren(
      h('h1', {}, t('brand')),
      message ? h('p', { role: 'status' }, message) : null,
      h('p', {}, t('signInLead')),
      h('a', { class: 'button', href: `/api/auth/signin?returnTo=${encodeURIComponent('/api/console')}` }, t('signIn')),
    );
}

async function start() {
  translateStatic();
  document.getElementById('lang').addEventListener('change', (ev) => {
    lang = ev.target.value;
    localStorage.setItem('lang', lang);
    translateStatic();
    if (me) void show(location.hash.slice(2));
    else signInPage();
  });
  document.getElementById('sign-out').addEventListener('click', async () => {
    await call('POST', 'auth/signout');
    me = null;
    signInPage(t('signedOut'));
  });
  try {
    me = await call('GET', 'auth/me');
  } catch (e) {
    if (e.status === 401) return signInPage();
    document.getElementById('main').replaceChildren(problem(e));
    return;
  }
  document.getElementById('who').hidden = false;
  document.getElementById('who-name').textContent = me.name ?? me.objectId ?? '';
  document.getElementById('who-roles').textContent = me.roles.join(', ');
  // Views are #/<id>; other fragments (the skip link's #main) are in-page moves, not navigation.
  window.addEventListener('hashchange', () => location.hash.startsWith('#/') && void show(location.hash.slice(2)));
  await show(location.hash.slice(2), { focus: false });
}

void start();
