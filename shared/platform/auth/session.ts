import { createHash, randomBytes } from 'node:crypto';
import { clock } from '../clock';
import { config } from '../config';
import { ConcurrencyError, forbidden, unauthorized } from '../errors';
import type { Logger } from '../log';
import { EntityTable, type Entity } from '../storage/tables';
import { authenticate, type Principal } from './admin';
import { confidentialClient } from './entra';
import { cookieValue, entraRedirectUri as redirectUri, registerFlow, startFlow } from './oauth';
import { open, seal } from './secrets';

/**
 * Admin sign-in in the browser: the Entra ID authorization code flow with PKCE (msal-node) asks for
 * a token for this app's own API, which is checked exactly like a bearer token, so a session holds the
 * same principal and roles a script would. The session is a random id in an HttpOnly cookie; its row
 * (keyed by the id's hash) expires after idle and absolute limits. Requests made with the cookie that
 * change state must come from this app's own origin.
 */
export const SIGN_IN_PURPOSE = 'sign-in';
/** Idle sessions are touched at most this often, so reads do not write on every request. */
const TOUCH_EVERY_MS = 60_000;

interface SessionRow extends Entity {
  tenantId: string;
  objectId?: string;
  /** JSON array of app roles, as the sign-in token carried them. */
  roles: string;
  /** Display name, sealed (personal data). */
  name?: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

const table = new EntityTable<SessionRow>('sessions');
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const secure = () => config().PUBLIC_BASE_URL.startsWith('https:');
const cookieName = () => (secure() ? '__Host-session' : 'connector_session');
const sessionCookie = (value: string, maxAgeSeconds: number) =>
  `${cookieName()}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure() ? '; Secure' : ''}`;
const apiScope = () => `api://${config().ENTRA_CLIENT_ID}/.default`;
const limits = () => ({ idleMs: config().SESSION_IDLE_MINUTES * 60_000, absoluteMs: config().SESSION_MAX_HOURS * 3_600_000 });

/** Only a path of this app: an absolute or protocol-relative URL would make sign-in an open redirect. */
export function safeReturnPath(p: string | null | undefined): string {
  return p && /^\/(?![/\\])[\x21-\x7e]*$/.test(p) && p.length <= 512 ? p : '/api/auth/me';
}

/** Starts sign-in: the redirect to Entra ID, with `returnTo` (a path of this app) as where to land. */
export function startSignIn(returnTo: string | null | undefined) {
  return startFlow(SIGN_IN_PURPOSE, safeReturnPath(returnTo), undefined);
}

registerFlow({
  purpose: SIGN_IN_PURPOSE,
  role: undefined,
  pkce: true,
  authorizeUrl: ({ state, challenge }) =>
    confidentialClient(config()).getAuthCodeUrl({
      scopes: [apiScope()],
      redirectUri: redirectUri(),
      state,
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      responseMode: 'query',
      prompt: 'select_account',
    }),
  complete: async ({ subject, verifier, query, log }) => {
    const error = query.get('error');
    if (error) {
      log.warn('Admin sign-in refused by Entra ID', { error });
      return { ok: false, title: 'Not signed in', message: `Entra ID did not sign you in: ${query.get('error_description') ?? error}` };
    }
    const code = query.get('code');
    if (!code) return { ok: false, title: 'Not signed in', message: 'The sign-in response has no code. Sign in again.' };
    // A client per sign-in, so no user's tokens stay in a process-wide MSAL cache.
    let accessToken: string;
    try {
      ({ accessToken } = await confidentialClient(config()).acquireTokenByCode({
        code,
        redirectUri: redirectUri(),
        scopes: [apiScope()],
        codeVerifier: verifier,
      }));
    } catch (e) {
      log.warn('Admin sign-in: Entra ID did not redeem the code', { error: e });
      const code = (e as { errorCode?: string }).errorCode ?? 'error';
      return { ok: false, title: 'Not signed in', message: `Entra ID did not accept the sign-in (${code}). Sign in again.` };
    }
    const principal = await authenticate(`Bearer ${accessToken}`);
    const cookie = await createSession(principal);
    log.info('Admin signed in', { objectId: principal.objectId, roles: principal.roles });
    return { redirect: subject, cookie };
  },
});

async function createSession(p: Principal): Promise<string> {
  const id = randomBytes(32).toString('base64url');
  const now = clock.now();
  const { absoluteMs } = limits();
  const rowKey = hash(id);
  await table.insert({
    partitionKey: 'session',
    rowKey,
    tenantId: p.tenantId,
    objectId: p.objectId,
    roles: JSON.stringify(p.roles),
    name: p.name ? seal(p.name, `session:${rowKey}`) : undefined,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + absoluteMs,
  });
  return sessionCookie(id, Math.floor(absoluteMs / 1000));
}

/** The principal of the session cookie in `cookieHeader`, or undefined when there is none. 401 for an unknown or expired session. */
async function sessionPrincipal(cookieHeader: string | null): Promise<Principal | undefined> {
  const id = cookieValue(cookieHeader, cookieName());
  if (!id) return undefined;
  const row = await table.get('session', hash(id));
  const now = clock.now();
  const { idleMs } = limits();
  const signInAgain = 'Sign in again at /api/auth/signin.';
  if (!row) throw unauthorized(`The session is unknown or was signed out. ${signInAgain}`);
  const s = row.entity;
  if (s.expiresAt <= now) throw unauthorized(`The session reached its time limit. ${signInAgain}`);
  if (s.lastSeenAt + idleMs <= now) throw unauthorized(`The session was idle too long. ${signInAgain}`);
  if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
    await table.update({ ...s, lastSeenAt: now }, row.etag).catch((e) => {
      if (!(e instanceof ConcurrencyError)) throw e;
    });
  }
  return {
    tenantId: s.tenantId,
    objectId: s.objectId,
    roles: JSON.parse(s.roles) as string[],
    name: s.name ? open(s.name, `session:${row.entity.rowKey}`) : undefined,
    via: 'session',
  };
}

/**
 * Requests with the session cookie that change state must come from this app's own pages: the
 * browser's Sec-Fetch-Site says same-origin (or, for a GET, that the admin typed the address), or
 * failing that Origin (or Referer) is this app's public origin.
 */
function checkSameOrigin(method: string, headers: Headers): void {
  const own = new URL(config().PUBLIC_BASE_URL).origin;
  const site = headers.get('sec-fetch-site');
  if (site === 'same-origin' || (site === 'none' && method === 'GET')) return;
  const from = headers.get('origin') ?? (headers.get('referer') ? safeOrigin(headers.get('referer')!) : undefined);
  if (!site && from === own) return;
  throw forbidden(
    `A request that changes something, made with the session cookie, must come from this app's own pages (${own}); this one came from ${site === 'cross-site' || site === 'same-site' ? `another site (${from ?? site})` : (from ?? 'an unknown origin')}. Scripts send a bearer token instead.`,
  );
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * Who is calling: a bearer token when one is sent, else the browser session (same-origin checked
 * when the request changes state). 401 when neither.
 */
export async function callerOf(method: string, headers: Headers, changesState: boolean): Promise<Principal> {
  if (headers.get('authorization')) return authenticate(headers.get('authorization'));
  const principal = await sessionPrincipal(headers.get('cookie'));
  if (!principal)
    throw unauthorized(
      'Sign in at /api/auth/signin, or send an Entra ID access token for this app in the Authorization header: "Bearer <token>".',
    );
  if (changesState) checkSameOrigin(method, headers);
  return principal;
}

/** Ends the session of this cookie (if any) and answers the cookie that clears it. */
export async function signOut(cookieHeader: string | null, log: Logger): Promise<string> {
  const id = cookieValue(cookieHeader, cookieName());
  if (id) {
    await table.delete('session', hash(id));
    log.info('Admin signed out');
  }
  return sessionCookie('', 0);
}

/** Deletes sessions past their absolute or idle limit. */
export function purgeSessions(): Promise<number> {
  const now = clock.now();
  // Doubles: both times exceed Int32. A session touched meanwhile is kept (deleteWhere skips changed rows).
  return table.deleteWhere(`expiresAt le ${now}.0 or lastSeenAt le ${now - limits().idleMs}.0`);
}
