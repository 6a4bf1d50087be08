import { createHash, randomBytes } from 'node:crypto';
import { clock } from '../clock';
import { config } from '../config';
import { AppError, badRequest, ConcurrencyError, notFound, unauthorized } from '../errors';
import type { HttpResult } from '../http';
import type { Logger } from '../log';
import { EntityTable, type Entity } from '../storage/tables';
import { authorize, type AppRole, type Principal } from './admin';
import { open, seal } from './secrets';

/**
 * Browser redirect flows (admin sign-in, connector consent, connector OAuth), one mechanism for all:
 *
 * - A flow starts only for a signed-in admin holding the flow's role (sign-in itself excepted). In a
 *   browser session the answer is the redirect; a bearer caller gets a one-time start link instead,
 *   which the admin opens in the browser that is to finish the flow.
 * - `state` is random, single-use, valid for 10 minutes, and bound to that browser by a cookie named
 *   after the flow, so flows started side by side in one browser each complete.
 * - The callback is checked before any storage is touched (one of each parameter, each within its
 *   size), and a refused callback consumes nothing.
 * - Rows are purged once expired, used or not (`purgeFlows`, on the housekeeping timer): a used one
 *   is kept until then so a replay is told it was used, not that it is unknown. Each admin may start
 *   a bounded number of flows per window.
 */
export const STATE_TTL_MS = 10 * 60 * 1000;
export const LINK_TTL_MS = 5 * 60 * 1000;
/**
 * Flows one admin may start per window. Sign-ins (no admin yet) are not counted: a shared allowance
 * would let anyone lock every admin out, and their unused states are purged within 20 minutes.
 */
export const START_LIMIT = { window: 10 * 60 * 1000, perAdmin: 100 } as const;

export interface FlowCompletion {
  subject: string;
  /** Object id of the admin who started the flow (none for sign-in). */
  admin?: string;
  /** PKCE verifier, when the flow uses PKCE. */
  verifier?: string;
  query: URLSearchParams;
  log: Logger;
}

/** Where the admin ends up: an outcome page, or a redirect (sign-in) with the cookie it sets. */
export type FlowOutcome = { ok: boolean; title: string; message: string } | { redirect: string; cookie: string };

export interface OAuthFlow {
  purpose: string;
  /** The app role an admin needs to start the flow; undefined only for sign-in. */
  role: AppRole | undefined;
  pkce: boolean;
  /** The subject must exist (e.g. the provider being connected); throw a 404 otherwise. */
  check?(subject: string): Promise<void>;
  /** The authorization server's URL for this state (and PKCE challenge). */
  authorizeUrl(p: { state: string; challenge?: string; subject: string }): Promise<string> | string;
  /** Completes the flow after its state was consumed. */
  complete(c: FlowCompletion): Promise<FlowOutcome>;
}

const flows = new Map<string, OAuthFlow>();

/** The one redirect URI registered with Entra ID; flows are told apart by their state. */
export const entraRedirectUri = () => `${config().PUBLIC_BASE_URL.replace(/\/$/, '')}/api/oauth/entra/callback`;

/** Declares a flow; each connector registers its own at load. */
export function registerFlow(flow: OAuthFlow): void {
  flows.set(flow.purpose, flow);
}

interface FlowRow extends Entity {
  purpose: string;
  subject: string;
  admin?: string;
  /** Hash of the browser-binding cookie's value ('state' rows). */
  browser?: string;
  /** Name of that cookie ('state' rows). */
  cookieName?: string;
  /** PKCE verifier, sealed. */
  verifier?: string;
  /** Rate-limit rows: flows started in the window. */
  count?: number;
  expiresAt: number;
  used: boolean;
}

const table = new EntityTable<FlowRow>('oauthstates');
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');
const secure = () => config().PUBLIC_BASE_URL.startsWith('https:');

/** A flow's browser cookie: `__Host-` prefixed on https (Path=/ is then required). */
function flowCookie(name: string, value: string, maxAgeSeconds: number): string {
  return secure()
    ? `__Host-${name}=${value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${maxAgeSeconds}`
    : `${name}=${value}; Path=/api/oauth/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
}
const cookieName = (name: string) => (secure() ? `__Host-${name}` : name);

export function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function flowOf(purpose: string): OAuthFlow {
  const flow = flows.get(purpose);
  if (!flow) throw notFound(`No flow '${purpose}' is registered.`);
  return flow;
}

/** Counts one start against the admin's allowance; 429 past it. */
async function countStart(admin: string): Promise<void> {
  const now = clock.now();
  const window = Math.floor(now / START_LIMIT.window);
  const limit = START_LIMIT.perAdmin;
  const rowKey = `${admin}|${window}`;
  const row = await table.modify('limit', rowKey, (r) => ({
    partitionKey: 'limit',
    rowKey,
    purpose: 'limit',
    subject: '',
    count: (r?.count ?? 0) + 1,
    expiresAt: (window + 1) * START_LIMIT.window,
    used: false,
  }));
  if ((row?.count ?? 0) > limit) {
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * START_LIMIT.window - now) / 1000));
    throw new AppError(
      429,
      'Too Many Requests',
      `This admin has started ${limit} flows in the last ${START_LIMIT.window / 60000} minutes; try again in ${retryAfter} s.`,
      {},
      { 'Retry-After': String(retryAfter) },
    );
  }
}

function checkStarter(flow: OAuthFlow, admin: Principal | undefined): void {
  if (!flow.role) return;
  if (!admin) throw unauthorized('Sign in as an admin to start this flow.');
  authorize(admin, flow.role);
}

/** Writes the state and answers the redirect to the authorization server with the cookie that binds the flow to this browser. */
async function begin(flow: OAuthFlow, subject: string, admin: string | undefined): Promise<HttpResult> {
  const state = token();
  const browser = token();
  const name = `oauth_${token(6)}`;
  const verifier = flow.pkce ? token(48) : undefined;
  const rowKey = hash(state);
  await table.insert({
    partitionKey: 'state',
    rowKey,
    purpose: flow.purpose,
    subject,
    admin,
    browser: hash(browser),
    cookieName: name,
    verifier: verifier ? seal(verifier, `oauthstate:${rowKey}`) : undefined,
    expiresAt: clock.now() + STATE_TTL_MS,
    used: false,
  });
  const location = await flow.authorizeUrl({
    state,
    subject,
    challenge: verifier ? createHash('sha256').update(verifier).digest('base64url') : undefined,
  });
  return {
    status: 302,
    headers: { Location: location, 'Set-Cookie': flowCookie(name, browser, STATE_TTL_MS / 1000), 'Cache-Control': 'no-store' },
  };
}

/**
 * Starts a flow from a browser session: the redirect to the authorization server. Sign-in passes no
 * admin; every other flow needs one holding the flow's role.
 */
export async function startFlow(purpose: string, subject: string, admin: Principal | undefined): Promise<HttpResult> {
  const flow = flowOf(purpose);
  checkStarter(flow, admin);
  await flow.check?.(subject);
  if (flow.role) await countStart(admin?.objectId ?? 'unknown');
  return begin(flow, subject, admin?.objectId);
}

/**
 * Starts a flow for a bearer caller (a script cannot hold the browser cookie): a link, valid for five
 * minutes and usable once, that the admin opens in a browser to go on.
 */
export async function startLink(purpose: string, subject: string, admin: Principal): Promise<{ url: string; expiresAt: string }> {
  const flow = flowOf(purpose);
  checkStarter(flow, admin);
  await flow.check?.(subject);
  await countStart(admin.objectId ?? 'unknown');
  const ticket = token();
  const expiresAt = clock.now() + LINK_TTL_MS;
  await table.insert({ partitionKey: 'link', rowKey: hash(ticket), purpose, subject, admin: admin.objectId, expiresAt, used: false });
  return {
    url: `${config().PUBLIC_BASE_URL.replace(/\/$/, '')}/api/oauth/start?ticket=${ticket}`,
    expiresAt: new Date(expiresAt).toISOString(),
  };
}

/** Opens a start link once: the browser gets the flow's cookie and goes on to the authorization server. */
export async function redeemLink(ticket: string | null): Promise<HttpResult> {
  if (!ticket || ticket.length > 64) throw badRequest('This start link is incomplete. Start the flow again from the admin page or API.');
  const row = await table.get('link', hash(ticket));
  if (!row) throw badRequest('This start link is unknown. Start the flow again.');
  if (row.entity.used) throw badRequest('This start link was already used. Start the flow again.');
  if (row.entity.expiresAt < clock.now()) throw badRequest('This start link is older than 5 minutes and expired. Start the flow again.');
  try {
    await table.update({ ...row.entity, used: true }, row.etag);
  } catch (e) {
    if (e instanceof ConcurrencyError) throw badRequest('This start link was already used. Start the flow again.');
    throw e;
  }
  return begin(flowOf(row.entity.purpose), row.entity.subject, row.entity.admin);
}

/** Callback parameters and the longest value each may have; anything longer is refused unread. */
const CALLBACK_LIMITS: Record<string, number> = {
  state: 64,
  code: 4096,
  error: 128,
  error_description: 2048,
  error_uri: 2048,
  error_subcode: 128,
  admin_consent: 8,
  tenant: 64,
  scope: 2048,
  session_state: 256,
  client_info: 2048,
  trace_id: 64,
  correlation_id: 64,
};

/** 400 when a parameter is repeated or too long: checked before any storage is touched. */
export function checkCallback(query: URLSearchParams): void {
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (seen.has(name))
      throw badRequest(`The sign-in response repeats '${name}'; nothing was used. Start again if this page was not reached by a redirect.`);
    seen.add(name);
    const max = CALLBACK_LIMITS[name] ?? 2048;
    if (value.length > max)
      throw badRequest(`The sign-in response's '${name}' is ${value.length} characters; at most ${max} are accepted. Nothing was used.`);
  }
}

/**
 * Completes a flow from its callback: checks the parameters, consumes the state exactly once (a
 * missing, unknown, expired, replayed or foreign-browser state is a 400 that consumes nothing) and
 * hands over to the flow.
 */
export async function completeFlow(
  query: URLSearchParams,
  cookieHeader: string | null,
  log: Logger,
): Promise<FlowOutcome & { clearCookie?: string }> {
  checkCallback(query);
  const state = query.get('state');
  if (!state) throw badRequest('The sign-in response has no state. Start again from the admin page.');
  const row = await table.get('state', hash(state));
  if (!row) throw badRequest('The sign-in state is unknown. Start again.');
  if (row.entity.used) throw badRequest('This sign-in response was already used. Start again.');
  if (row.entity.expiresAt < clock.now()) throw badRequest('The sign-in took longer than 10 minutes and expired. Start again.');
  const name = row.entity.cookieName ?? '';
  const browser = cookieValue(cookieHeader, cookieName(name));
  if (!browser || hash(browser) !== row.entity.browser)
    throw badRequest('This sign-in was started in another browser. Start again in this one.');
  const flow = flows.get(row.entity.purpose);
  if (!flow) throw badRequest('This sign-in does not belong to a flow of this app.');
  try {
    await table.update({ ...row.entity, used: true }, row.etag);
  } catch (e) {
    if (e instanceof ConcurrencyError) throw badRequest('This sign-in response was already used. Start again.');
    throw e;
  }
  const verifier = row.entity.verifier ? open(row.entity.verifier, `oauthstate:${row.entity.rowKey}`) : undefined;
  const outcome = await flow.complete({ subject: row.entity.subject, admin: row.entity.admin, verifier, query, log });
  return { ...outcome, clearCookie: flowCookie(name, '', 0) };
}

/** Deletes expired states, start links and rate-limit counters. */
export function purgeFlows(): Promise<number> {
  // expiresAt is stored as Edm.Double (it exceeds Int32), so compare with a double literal.
  return table.deleteWhere(`expiresAt lt ${clock.now()}.0`);
}
