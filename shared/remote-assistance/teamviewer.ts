import { config } from '../platform/config';
import { AppError } from '../platform/errors';
import { log as rootLog, type Logger } from '../platform/log';
import { clock } from '../platform/clock';
import { spendCall } from './budget';
import { accessToken, touched } from './connection';

/**
 * TeamViewer's Web API v1: its token endpoint and authenticated calls. A call TeamViewer answers 401
 * refreshes the token once and is tried again; `403 rate_limit_reached` reaches the admin as 503
 * with Retry-After; each call spends one of the licence's budget (budget.ts, shared by every
 * instance), and a call beyond it is refused the same way rather than sent.
 */
export class TeamViewerError extends AppError {
  constructor(
    /** TeamViewer's HTTP status (`status` is what the admin is answered). */
    readonly tvStatus: number,
    readonly error: string,
    readonly description: string,
  ) {
    // TeamViewer documents 403 rate_limit_reached; a 429 is read the same way.
    const limited = (tvStatus === 403 && error === 'rate_limit_reached') || tvStatus === 429;
    const unavailable = limited || tvStatus >= 500;
    super(
      unavailable ? 503 : tvStatus === 404 ? 404 : 502,
      unavailable ? 'Service Unavailable' : tvStatus === 404 ? 'Not Found' : 'Bad Gateway',
      `TeamViewer answered ${tvStatus} ${error}: ${description}${limited ? ' Try again later.' : ''}`,
      { teamViewerStatus: tvStatus, teamViewerError: error },
      unavailable ? { 'Retry-After': String(limited ? RATE_LIMIT_RETRY_SECONDS : 30) } : {},
    );
    this.name = 'TeamViewerError';
  }
}

/** TeamViewer documents no rate-limit headers: the admin is told to come back in an hour. */
const RATE_LIMIT_RETRY_SECONDS = 3600;
const TIMEOUT_MS = 30_000;

/** TeamViewer's error body (doc-TV §5), read loosely: error_code and error_signature vary in type. */
async function failure(res: Response): Promise<TeamViewerError> {
  const text = await res.text();
  let body: { error?: string; error_description?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: the status says enough
  }
  const said = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
  return new TeamViewerError(res.status, said(body.error) ?? 'unknown', said(body.error_description) ?? text.slice(0, 200));
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms, by the app's clock. */
  expiresAt: number;
}

/** The token endpoint: a code or a refresh token for a new pair (the refresh token it replaces no longer works). */
export async function tokenRequest(grant: Record<string, string>): Promise<TokenPair> {
  const cfg = config();
  const body = new URLSearchParams({
    ...grant,
    client_id: cfg.TEAMVIEWER_CLIENT_ID ?? '',
    client_secret: cfg.TEAMVIEWER_CLIENT_SECRET ?? '',
  });
  const res = await fetch(`${cfg.TEAMVIEWER_API_URL.replace(/\/$/, '')}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!res.ok) throw await failure(res);
  const t = (await res.json()) as { access_token?: string; refresh_token?: string; expires_in?: number };
  if (!t.access_token || !t.refresh_token)
    throw new TeamViewerError(res.status, 'invalid_response', 'The token answer had no access or refresh token.');
  return { accessToken: t.access_token, refreshToken: t.refresh_token, expiresAt: clock.now() + (t.expires_in ?? 86_400) * 1000 };
}

/**
 * One call to TeamViewer's API with the connection's token (or `token`, while connecting). A 401
 * (or a /ping saying the token is not valid) refreshes the token once and the call is tried again.
 */
export async function teamViewerApi<T = unknown>(
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  o: { body?: unknown; query?: Record<string, string | undefined>; token?: string; log?: Logger } = {},
): Promise<T> {
  const url = new URL(`${config().TEAMVIEWER_API_URL.replace(/\/$/, '')}${path}`);
  for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  let token = o.token ?? (await accessToken());
  for (let attempt = 1; ; attempt++) {
    await spendCall();
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      throw new AppError(
        503,
        'Service Unavailable',
        `TeamViewer could not be reached: ${(e as Error).message}`,
        {},
        { 'Retry-After': '30' },
      );
    }
    const text = res.ok ? await res.text() : '';
    const value = (text ? JSON.parse(text) : undefined) as T;
    const refused = res.status === 401 || (path === '/ping' && (value as { token_valid?: boolean } | undefined)?.token_valid === false);
    if (refused && !o.token && attempt === 1) {
      (o.log ?? rootLog).info('TeamViewer refused the access token; refreshing it once', { path });
      if (!res.ok) await res.arrayBuffer().catch(() => undefined);
      token = await accessToken(token);
      continue;
    }
    if (!res.ok) throw await failure(res);
    if (refused) throw new TeamViewerError(401, 'invalid_token', 'TeamViewer does not accept the access token.');
    if (!o.token) await touched();
    return value;
  }
}
