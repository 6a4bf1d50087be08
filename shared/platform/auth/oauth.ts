import { createHash, randomBytes } from 'node:crypto';
import { badRequest } from '../errors';
import { clock } from '../clock';
import { EntityTable, type Entity } from '../storage/tables';
import { ConcurrencyError } from '../errors';

/**
 * OAuth `state` for browser redirects: random, single-use, valid for 10 minutes and bound to the
 * browser that started the flow by a cookie whose hash is stored with the state. PKCE (S256)
 * verifiers are kept with the state for authorization-code flows.
 */
export const STATE_TTL_MS = 10 * 60 * 1000;
export const STATE_COOKIE = 'connector_oauth';

interface StateRow extends Entity {
  purpose: string;
  subject: string;
  browser: string;
  verifier?: string;
  expiresAt: number;
  used: boolean;
}

export interface OAuthStart {
  state: string;
  /** Set-Cookie value binding the state to this browser. */
  cookie: string;
  /** PKCE code challenge (S256), when asked for. */
  challenge?: string;
}

export interface OAuthState {
  purpose: string;
  subject: string;
  verifier?: string;
}

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const table = new EntityTable<StateRow>('oauthstates');

export async function startOAuth(purpose: string, subject: string, opts: { pkce?: boolean; secureCookie: boolean }): Promise<OAuthStart> {
  const state = randomBytes(32).toString('base64url');
  const browser = randomBytes(32).toString('base64url');
  const verifier = opts.pkce ? randomBytes(48).toString('base64url') : undefined;
  await table.insert({ partitionKey: 'state', rowKey: hash(state), purpose, subject, browser: hash(browser), verifier, expiresAt: clock.now() + STATE_TTL_MS, used: false });
  const cookie = `${STATE_COOKIE}=${browser}; Path=/api/; HttpOnly; SameSite=Lax; Max-Age=${STATE_TTL_MS / 1000}${opts.secureCookie ? '; Secure' : ''}`;
  return { state, cookie, challenge: verifier ? createHash('sha256').update(verifier).digest('base64url') : undefined };
}

export function cookieValue(header: string | null, name = STATE_COOKIE): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * Consumes a state exactly once. A missing, unknown, expired, replayed or foreign-browser state is
 * a 400 and changes nothing else.
 */
export async function consumeOAuth(state: string | null, cookieHeader: string | null): Promise<OAuthState> {
  if (!state) throw badRequest('The sign-in response has no state. Start the connection again from the admin page.');
  const row = await table.get('state', hash(state));
  if (!row) throw badRequest('The sign-in state is unknown. Start the connection again.');
  if (row.entity.used) throw badRequest('This sign-in response was already used. Start the connection again.');
  if (row.entity.expiresAt < clock.now()) throw badRequest('The sign-in took longer than 10 minutes and expired. Start the connection again.');
  const browser = cookieValue(cookieHeader);
  if (!browser || hash(browser) !== row.entity.browser) throw badRequest('This sign-in was started in another browser. Start the connection again in this one.');
  try {
    await table.update({ ...row.entity, used: true }, row.etag);
  } catch (e) {
    if (e instanceof ConcurrencyError) throw badRequest('This sign-in response was already used. Start the connection again.');
    throw e;
  }
  return { purpose: row.entity.purpose, subject: row.entity.subject, verifier: row.entity.verifier };
}

/** Clears the browser-binding cookie. */
export const clearStateCookie = `${STATE_COOKIE}=; Path=/api/; HttpOnly; SameSite=Lax; Max-Age=0`;
