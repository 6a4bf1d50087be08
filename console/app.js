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
  constructor(status, title, detail) {
    super(detail);
    this.status = status;
    this.title = title;
  }
}

/** The admin API with the session cookie; a refusal throws its problem details. */
async function call(method, path, body) {
  const res = await fetch(`/api/${path}`, {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (res.headers.get('content-type') ?? '').includes('json');
  const data = json ? await res.json() : await res.text();
  if (!res.ok) throw new Problem(res.status, (json && data.title) || res.statusText, (json && data.detail) || String(data));
  return data;
}

const problem = (e) => h('div', { role: 'alert', class: 'problem' }, h('strong', {}, e.title ?? t('failed')), ' ', e.message);
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
const holds = (role) => !!me?.grants.includes(role);

const VIEWS = [
  { id: 'overview', role: 'Connectors.Read', render: overview },
  { id: 'vpp', role: 'Connectors.Read', render: vpp },
];

async function overview(main) {
  const { value } = await call('GET', 'admin/connectors');
  main.append(
    h('h1', {}, t('overview')),
    table(
      t('overview'),
      [t('connector'), t('state'), t('detail'), t('updated')],
      value.map((c) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, c.name, h('div', { class: 'muted' }, c.description)),
          h('td', {}, badge(c.state, t(`state.${c.state}`))),
          h('td', {}, c.detail ?? ''),
          h('td', {}, when(c.updatedAt)),
        ),
      ),
    ),
  );
}

async function vpp(main) {
  const [tokens, licenses, alerts] = await Promise.all([
    call('GET', 'admin/vpp/tokens'),
    call('GET', 'admin/vpp/licenses?top=100'),
    call('GET', 'admin/vpp/alerts?top=20'),
  ]);
  const progress = h(
    'div',
    { class: 'progress', hidden: true },
    h('label', { for: 'vpp-progress' }, t('progress')),
    h('progress', { id: 'vpp-progress' }),
  );
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
              main.prepend(problem(e));
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
          h('th', { scope: 'row' }, l.name),
          h('td', { class: 'num' }, l.total),
          h('td', { class: 'num' }, l.used),
          h('td', { class: 'num' }, l.available, l.low ? [' ', badge('warning', t('low'))] : null),
        ),
      ),
    ),
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

function announce(text) {
  const s = document.getElementById('status');
  s.hidden = false;
  s.textContent = text;
}

function translateStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  document.getElementById('lang').value = lang;
}

function nav(current) {
  const list = document.querySelector('#nav ul');
  list.replaceChildren(
    ...VIEWS.filter((v) => holds(v.role)).map((v) =>
      h('li', {}, h('a', { href: `#/${v.id}`, 'aria-current': v.id === current ? 'page' : undefined }, t(v.id))),
    ),
  );
  document.getElementById('nav').hidden = false;
}

async function show(id) {
  const main = document.getElementById('main');
  const allowed = VIEWS.filter((v) => holds(v.role));
  const view = allowed.find((v) => v.id === id) ?? allowed[0];
  nav(view?.id);
  main.replaceChildren();
  if (!view) return main.append(h('p', { role: 'alert' }, t('noRole')));
  try {
    await view.render(main);
  } catch (e) {
    main.append(problem(e));
  }
  main.focus();
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
  window.addEventListener('hashchange', () => void show(location.hash.slice(2)));
  await show(location.hash.slice(2));
}

void start();
