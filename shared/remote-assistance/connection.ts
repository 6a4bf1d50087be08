import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { reportConnectorStatus } from '../connectors';
import { registerFlow, type FlowOutcome } from '../platform/auth/oauth';
import { open, seal } from '../platform/auth/secrets';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { AppError, conflict } from '../platform/errors';
import { log as rootLog, type Logger } from '../platform/log';
import { claim, release } from '../platform/storage/claims';
import { CONNECTION_KEY, tables, type ConnectionRow } from './model';
import { teamViewerApi, tokenRequest, TeamViewerError } from './teamviewer';

/**
 * The TeamViewer connection. An admin holding RemoteAssistance.Update accepts TeamViewer's licence
 * terms, then signs in to TeamViewer from the browser (OAuth authorization code flow, through the
 * platform's redirect flows: state single-use, bound to that admin's browser). The tokens are sealed
 * at rest and never logged. TeamViewer's access tokens live a day and each refresh token works once
 * and is replaced by the refresh, so a refresh runs once across every instance (a claim on the
 * connection row), and the new pair is stored, releasing the claim, before the token is used. A
 * refused refresh turns the connection to needsReauthorization, with an alert; never a silent failure.
 */
export const CONNECT_PURPOSE = 'teamviewer-connect';
/** An access token this close to its expiry is refreshed before use. */
const REFRESH_BEFORE_MS = 60_000;
/** How long one refresh may hold the connection; a crashed holder's claim lapses after it. */
const REFRESH_CLAIM_MS = 30_000;
const ALERTS_KEPT = 10;

export const teamViewerRedirectUri = () => `${config().PUBLIC_BASE_URL.replace(/\/$/, '')}/api/oauth/teamviewer/callback`;

export const connectionSchema = z.object({
  state: z.enum(['disconnected', 'connected', 'needsReauthorization']),
  detail: z.string().nullable(),
  termsAcceptedBy: z.string().nullable(),
  termsAcceptedAt: z.string().nullable(),
  connectedBy: z.string().nullable(),
  connectedAt: z.string().nullable(),
  account: z.object({ name: z.string().nullable(), email: z.string().nullable(), company: z.string().nullable() }).nullable(),
  lastSuccessAt: z.string().nullable().describe('The last call TeamViewer accepted.'),
  alerts: z.array(z.object({ at: z.string(), message: z.string() })).describe('Why the connection needed an admin, newest first.'),
});
export type ConnectionView = z.infer<typeof connectionSchema>;

const view = (r: ConnectionRow | undefined): ConnectionView => ({
  state: r?.state ?? 'disconnected',
  detail: r?.detail ?? null,
  termsAcceptedBy: r?.termsAcceptedBy ?? null,
  termsAcceptedAt: r?.termsAcceptedAt ?? null,
  connectedBy: r?.connectedBy ?? null,
  connectedAt: r?.connectedAt ?? null,
  account:
    r?.accountName || r?.accountEmail
      ? { name: r.accountName ?? null, email: r.accountEmail ?? null, company: r.companyName ?? null }
      : null,
  lastSuccessAt: r?.lastSuccessAt ?? null,
  alerts: r?.alerts ? (JSON.parse(r.alerts) as ConnectionView['alerts']) : [],
});

const blank = (): ConnectionRow => ({ partitionKey: CONNECTION_KEY[0], rowKey: CONNECTION_KEY[1], state: 'disconnected' });
const read = () => tables.connection.get(...CONNECTION_KEY);
/** Where a sealed token lives: a sealed value copied to another row or field does not open. */
const context = (field: 'access' | 'refresh') => `raconnection:${CONNECTION_KEY.join('/')}:${field}`;

export async function getConnection(): Promise<ConnectionView> {
  return view((await read())?.entity);
}

export async function acceptTerms(by: string): Promise<ConnectionView> {
  const row = await tables.connection.modify(...CONNECTION_KEY, (r) => ({
    ...(r ?? blank()),
    termsAcceptedBy: by,
    termsAcceptedAt: clock.iso(),
  }));
  return view(row);
}

registerFlow({
  purpose: CONNECT_PURPOSE,
  role: 'RemoteAssistance.Update',
  pkce: false,
  check: async () => {
    const cfg = config();
    if (!cfg.TEAMVIEWER_CLIENT_ID || !cfg.TEAMVIEWER_CLIENT_SECRET)
      throw conflict('TeamViewer is not set up for this app: set TEAMVIEWER_CLIENT_ID and TEAMVIEWER_CLIENT_SECRET, then connect.');
    if (!(await read())?.entity.termsAcceptedAt)
      throw conflict("Accept TeamViewer's licence terms first (POST /api/admin/remote-assistance/terms), then connect.");
  },
  authorizeUrl: ({ state }) => {
    const url = new URL(config().TEAMVIEWER_AUTHORIZE_URL);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', config().TEAMVIEWER_CLIENT_ID!);
    url.searchParams.set('redirect_uri', teamViewerRedirectUri());
    url.searchParams.set('state', state);
    url.searchParams.set('display', 'popup');
    return url.toString();
  },
  complete: ({ admin, query, log }) => completeConnect(admin, query, log),
});

/** Exchanges the code for tokens, reads the account they act as, and stores them sealed. */
async function completeConnect(admin: string | undefined, q: URLSearchParams, log: Logger): Promise<FlowOutcome> {
  const error = q.get('error');
  if (error)
    return { ok: false, title: 'Not connected', message: `TeamViewer did not authorize the app: ${q.get('error_description') ?? error}` };
  const code = q.get('code');
  if (!code) return { ok: false, title: 'Not connected', message: 'TeamViewer sent no authorization code. Connect again.' };
  let pair;
  try {
    pair = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: teamViewerRedirectUri() });
  } catch (e) {
    log.warn('TeamViewer refused the authorization code', { error: e });
    return { ok: false, title: 'Not connected', message: `TeamViewer refused the sign-in: ${(e as Error).message} Connect again.` };
  }
  const account = await teamViewerApi<{ name?: string; email?: string; company_name?: string }>('GET', '/account', {
    token: pair.accessToken,
  });
  const now = clock.iso();
  await tables.connection.modify(...CONNECTION_KEY, (r) => ({
    ...(r ?? blank()),
    state: 'connected',
    detail: undefined,
    accessToken: seal(pair.accessToken, context('access')),
    refreshToken: seal(pair.refreshToken, context('refresh')),
    accessExpiresAt: pair.expiresAt,
    connectedBy: admin ? `admin:${admin}` : undefined,
    connectedAt: now,
    accountName: account.name,
    accountEmail: account.email,
    companyName: account.company_name,
    lastSuccessAt: now,
    claimedBy: undefined,
    claimedUntil: 0,
  }));
  await reportConnectorStatus(
    'remote-assistance',
    'active',
    `Connected to TeamViewer as ${account.name ?? account.email ?? 'its account'}`,
  );
  log.info('TeamViewer connected', { admin });
  return {
    ok: true,
    title: 'Connected',
    message: `TeamViewer is connected as ${account.name ?? account.email ?? 'its account'}. Remote-assistance sessions can be requested now.`,
  };
}

/** Forgets the tokens: the connector is disconnected until an admin connects it again. */
export async function disconnect(by: string, log: Logger): Promise<ConnectionView> {
  const row = await tables.connection.modify(...CONNECTION_KEY, (r) => ({
    ...(r ?? blank()),
    state: 'disconnected',
    detail: `Disconnected by ${by} at ${clock.iso()}.`,
    accessToken: undefined,
    refreshToken: undefined,
    accessExpiresAt: undefined,
    claimedBy: undefined,
    claimedUntil: 0,
  }));
  await reportConnectorStatus('remote-assistance', 'disabled', 'Disconnected from TeamViewer');
  log.info('TeamViewer disconnected', { by });
  return view(row);
}

/** Asks TeamViewer whether the stored token is valid (`/ping`); a refused token is refreshed once. */
export async function checkConnection(log: Logger): Promise<ConnectionView> {
  await teamViewerApi('GET', '/ping', { log });
  return getConnection();
}

/** When this instance last recorded a successful call (performance.now()). */
let recordedAt = -Infinity;

/** Records a call TeamViewer accepted: at most once a minute per instance, so a call costs no extra read of the row. */
export async function touched(): Promise<void> {
  if (performance.now() - recordedAt < 60_000) return;
  recordedAt = performance.now();
  await tables.connection.modify(...CONNECTION_KEY, (r) =>
    r && r.state === 'connected' ? { ...r, lastSuccessAt: clock.iso() } : undefined,
  );
}

function notConnected(r: ConnectionRow | undefined): AppError {
  if (r?.state === 'needsReauthorization')
    return conflict(
      `TeamViewer needs re-authorization: ${r.detail ?? 'its tokens were refused'}. An admin with RemoteAssistance.Update connects it again.`,
    );
  return conflict('TeamViewer is not connected. An admin with RemoteAssistance.Update accepts its terms and connects it.');
}

/**
 * An access token to call TeamViewer with. `refused` is one TeamViewer just answered 401 for: a
 * newer one is used if another call refreshed meanwhile, else the pair is refreshed.
 */
export async function accessToken(refused?: string): Promise<string> {
  const row = (await read())?.entity;
  if (row?.state !== 'connected' || !row.accessToken) throw notConnected(row);
  const token = open(row.accessToken, context('access'));
  if (token !== refused && (row.accessExpiresAt ?? 0) - clock.now() > REFRESH_BEFORE_MS) return token;
  return refreshOnce(token);
}

/** One refresh per instance at a time; the claim makes it one across instances. */
let refreshing: Promise<string> | undefined;
function refreshOnce(stale: string): Promise<string> {
  refreshing ??= refresh(stale).finally(() => (refreshing = undefined));
  return refreshing;
}

async function refresh(stale: string, log: Logger = rootLog): Promise<string> {
  const holder = randomUUID();
  for (;;) {
    const got = await claim(tables.connection, ...CONNECTION_KEY, { holder, forMs: REFRESH_CLAIM_MS });
    if (got.status === 'missing') throw notConnected(undefined);
    const row = got.row;
    if (row.state !== 'connected' || !row.accessToken || !row.refreshToken) {
      if (got.status === 'claimed') await release(tables.connection, ...CONNECTION_KEY, holder);
      throw notConnected(row);
    }
    const current = open(row.accessToken, context('access'));
    const fresh = current !== stale && (row.accessExpiresAt ?? 0) - clock.now() > REFRESH_BEFORE_MS;
    if (got.status === 'held') {
      // Another instance is refreshing: its new pair will be on the row.
      if (fresh) return current;
      await sleep(200);
      continue;
    }
    if (fresh) {
      await release(tables.connection, ...CONNECTION_KEY, holder);
      return current;
    }
    let pair;
    try {
      pair = await tokenRequest({ grant_type: 'refresh_token', refresh_token: open(row.refreshToken, context('refresh')) });
    } catch (e) {
      if (e instanceof TeamViewerError && (e.tvStatus === 400 || e.tvStatus === 401)) {
        await needsReauthorization(holder, `TeamViewer refused to refresh the token (${e.error}: ${e.description})`, log);
        throw notConnected((await read())?.entity);
      }
      await release(tables.connection, ...CONNECTION_KEY, holder);
      throw e;
    }
    // Stored, and the claim released, before the new token is used: the old refresh token no longer works.
    await release(tables.connection, ...CONNECTION_KEY, holder, (r) => ({
      ...r,
      accessToken: seal(pair.accessToken, context('access')),
      refreshToken: seal(pair.refreshToken, context('refresh')),
      accessExpiresAt: pair.expiresAt,
      claimedBy: undefined,
      claimedUntil: 0,
    }));
    log.info('TeamViewer token refreshed');
    return pair.accessToken;
  }
}

async function needsReauthorization(holder: string, why: string, log: Logger): Promise<void> {
  const at = clock.iso();
  await release(tables.connection, ...CONNECTION_KEY, holder, (r) => ({
    ...r,
    state: 'needsReauthorization' as const,
    detail: why,
    accessToken: undefined,
    refreshToken: undefined,
    accessExpiresAt: undefined,
    alerts: JSON.stringify([{ at, message: `${why}. Connect TeamViewer again.` }, ...view(r).alerts].slice(0, ALERTS_KEPT)),
    claimedBy: undefined,
    claimedUntil: 0,
  }));
  await reportConnectorStatus(
    'remote-assistance',
    'error',
    `TeamViewer needs re-authorization: ${why}`,
    'Connect to TeamViewer again (Remote assistance > TeamViewer connection > Connect).',
  );
  log.error('TeamViewer needs re-authorization', { why });
}
