import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sandboxClock } from '../clock';
import { redirect, sendJson, sendProblem, type SandboxRequest } from '../http';

/**
 * TeamViewer's Web API v1 as the connector uses it, after `reference/archive-and-remote-facts.md` §B:
 * the OAuth authorize page (it signs in the sandbox's TeamViewer account and redirects back) and token
 * endpoint (10-minute codes, 1-day access tokens, refresh tokens that work once and are replaced on
 * each refresh), /ping, /account, sessions (POST 200, PUT 204, lower-case states, `s12-345-678`
 * codes, groups created by name, 24 h validity, list filters and `offset` paging), connection
 * reports (`offset_id` paging), the error body, the licence tier's request budget and faults.
 *
 * Under https://<sandbox>/teamviewer: `/oauth2/authorize` and `/api/v1/...`. Control under
 * /_sandbox/teamviewer (see `control`). Times follow the sandbox clock.
 */
export const TEAMVIEWER_APP = { clientId: 'sandbox-teamviewer-app', clientSecret: 'sandbox-teamviewer-secret' } as const;
const ACCOUNT = {
  userid: 'u1234567',
  name: 'Contoso Support',
  email: 'support@contoso-demo.example',
  email_validated: true,
  company_name: 'Contoso',
};
/** API calls per window by licence (doc-TV §2.7). */
export const TIERS = {
  free: { amount: 300, windowMs: 3_600_000 },
  business: { amount: 7_200, windowMs: 86_400_000 },
  premium: { amount: 14_400, windowMs: 86_400_000 },
  corporate: { amount: 36_000, windowMs: 86_400_000 },
} as const;

export interface TeamViewerSettings {
  codeTtlMs: number;
  accessTtlMs: number;
  tier: keyof typeof TIERS;
  /** What the account holder answers on the authorize page. */
  decision: 'allow' | 'deny';
  /** Items per page of the session list and the connection reports (TeamViewer: 1000). */
  pageSize: number;
  /** Added to every API answer, to widen races. */
  latencyMs: number;
}

interface Fault {
  method?: string;
  /** Matched against the path after /api/v1. */
  path: string;
  status: number;
  error: string;
  times: number;
}

export interface TvSession {
  code: string;
  state: 'open' | 'closed';
  groupid: string;
  waiting_message: string;
  description: string;
  end_customer: { name: string; email: string };
  assigned_userid: string;
  assigned_at: string;
  end_customer_link: string;
  supporter_link: string;
  webclient_supporter_link: string;
  custom_api: string;
  support_session_type: string;
  created_at: string;
  valid_until: string;
  closed_at?: string;
}

export interface TvConnection {
  id: string;
  userid: string;
  username: string;
  deviceid: string;
  devicename: string;
  groupid: string;
  groupname: string;
  start_date: string;
  end_date: string;
  billing_state: 'Bill' | 'Billed' | 'DoNotBill';
  session_code?: string;
  assigned_userid?: string;
  end_customer?: { name: string; email: string };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const secret = () => randomBytes(24).toString('base64url');

export class TeamViewerProvider {
  settings: TeamViewerSettings = {
    codeTtlMs: 600_000,
    accessTtlMs: 86_400_000,
    tier: 'business',
    decision: 'allow',
    pageSize: 1000,
    latencyMs: 0,
  };
  /** The redirect URI registered for the app; null accepts any loopback URL (the sandbox does not know the app's). */
  redirectUri: string | null = null;
  readonly codes = new Map<string, { redirectUri: string; expires: number; used: boolean }>();
  readonly access = new Map<string, { expires: number; revoked: boolean }>();
  readonly refresh = new Map<string, { used: boolean; revoked: boolean }>();
  readonly groups = new Map<string, string>();
  readonly sessions = new Map<string, TvSession>();
  readonly connections: TvConnection[] = [];
  private calls: number[] = [];
  private faults: Fault[] = [];
  /** What the app did: tokens issued by code and by refresh, refresh tokens presented again after use, API calls, refusals. */
  readonly stats = { codeGrants: 0, refreshes: 0, refreshReused: 0, apiCalls: 0, rateLimited: 0, unauthorized: 0 };

  constructor(private readonly origin: () => string) {}

  async handle(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    if (!req.path.startsWith('/teamviewer/')) return false;
    if (req.path === '/teamviewer/oauth2/authorize' && req.method === 'GET') return (this.authorize(req, res), true);
    const path = req.path.slice('/teamviewer/api/v1'.length);
    if (!req.path.startsWith('/teamviewer/api/v1/')) return false;
    if (this.settings.latencyMs) await new Promise((r) => setTimeout(r, this.settings.latencyMs));
    if (path === '/oauth2/token' && req.method === 'POST') return (this.token(req, res), true);
    const fault = this.faults.find((f) => (!f.method || f.method === req.method) && new RegExp(f.path).test(path));
    if (fault) {
      if (--fault.times <= 0) this.faults = this.faults.filter((f) => f !== fault);
      return (fail(res, fault.status, fault.error, `Injected fault on ${req.method} ${path}.`), true);
    }
    if (path === '/ping' && req.method === 'GET') {
      sendJson(res, 200, { token_valid: this.tokenOf(req) === 'valid' });
      return true;
    }
    const token = this.tokenOf(req);
    if (token !== 'valid') {
      this.stats.unauthorized++;
      return (fail(res, 401, token, token === 'token_expired' ? 'The access token expired.' : 'The access token is invalid.'), true);
    }
    if (!this.withinBudget()) {
      this.stats.rateLimited++;
      return (fail(res, 403, 'rate_limit_reached', `Rate limit reached: ${TIERS[this.settings.tier].amount} calls per window.`), true);
    }
    this.stats.apiCalls++;
    const session = /^\/sessions\/([^/]+)$/.exec(path)?.[1];
    if (path === '/account' && req.method === 'GET') sendJson(res, 200, ACCOUNT);
    else if (path === '/sessions' && req.method === 'POST') this.createSession(req, res);
    else if (path === '/sessions' && req.method === 'GET') this.listSessions(req, res);
    else if (session && req.method === 'GET') this.getSession(session, res);
    else if (session && req.method === 'PUT') this.updateSession(session, req, res);
    else if (path === '/reports/connections' && req.method === 'GET') this.listConnections(req, res);
    else fail(res, 404, 'invalid_request', `No ${req.method} ${path} in the TeamViewer Web API.`);
    return true;
  }

  /** Signs in the sandbox's TeamViewer account and sends the browser back with a code (or the refusal). */
  private authorize(req: SandboxRequest, res: ServerResponse): void {
    const q = req.url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== TEAMVIEWER_APP.clientId || !this.redirectAllowed(redirectUri))
      return sendProblem(res, 400, 'Bad Request', 'Unknown client_id, or a redirect_uri that is not the one registered for it.');
    if (q.get('response_type') !== 'code') return sendProblem(res, 400, 'Bad Request', 'response_type must be code.');
    const back = new URL(redirectUri);
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state')!);
    if (this.settings.decision === 'deny') {
      back.searchParams.set('error', 'access_denied');
      back.searchParams.set('error_description', 'The account holder did not authorize the app.');
    } else {
      const code = secret();
      this.codes.set(code, { redirectUri, expires: sandboxClock.now() + this.settings.codeTtlMs, used: false });
      back.searchParams.set('code', code);
    }
    redirect(res, back.toString());
  }

  private redirectAllowed(uri: string): boolean {
    if (this.redirectUri !== null) return uri === this.redirectUri;
    try {
      return ['localhost', '127.0.0.1'].includes(new URL(uri).hostname);
    } catch {
      return false;
    }
  }

  private token(req: SandboxRequest, res: ServerResponse): void {
    const form = /json/.test(String(req.headers['content-type'] ?? ''))
      ? new URLSearchParams(req.json() as Record<string, string>)
      : req.form();
    if (form.get('client_id') !== TEAMVIEWER_APP.clientId || form.get('client_secret') !== TEAMVIEWER_APP.clientSecret)
      return fail(res, 401, 'invalid_client', 'Unknown client_id or wrong client_secret.');
    const now = sandboxClock.now();
    if (form.get('grant_type') === 'authorization_code') {
      const c = this.codes.get(form.get('code') ?? '');
      if (!c || c.used || c.expires < now || c.redirectUri !== form.get('redirect_uri'))
        return fail(res, 400, 'invalid_request', 'The authorization code is unknown, used, expired or for another redirect_uri.');
      c.used = true;
      this.stats.codeGrants++;
    } else if (form.get('grant_type') === 'refresh_token') {
      const r = this.refresh.get(form.get('refresh_token') ?? '');
      if (r?.used) this.stats.refreshReused++;
      if (!r || r.used || r.revoked) return fail(res, 400, 'invalid_request', 'The refresh token is invalid, revoked or was already used.');
      r.used = true;
      this.stats.refreshes++;
    } else return fail(res, 400, 'invalid_request', 'grant_type must be authorization_code or refresh_token.');
    const accessToken = secret();
    const refreshToken = secret();
    this.access.set(accessToken, { expires: now + this.settings.accessTtlMs, revoked: false });
    this.refresh.set(refreshToken, { used: false, revoked: false });
    sendJson(
      res,
      200,
      {
        access_token: accessToken,
        token_type: 'bearer',
        expires_in: Math.round(this.settings.accessTtlMs / 1000),
        refresh_token: refreshToken,
      },
      { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    );
  }

  private tokenOf(req: SandboxRequest): 'valid' | 'invalid_token' | 'token_expired' {
    const m = /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''));
    const t = m && this.access.get(m[1]);
    if (!t || t.revoked) return 'invalid_token';
    return t.expires <= sandboxClock.now() ? 'token_expired' : 'valid';
  }

  private withinBudget(): boolean {
    const { amount, windowMs } = TIERS[this.settings.tier];
    const now = sandboxClock.now();
    this.calls = this.calls.filter((t) => now - t < windowMs);
    if (this.calls.length >= amount) return false;
    this.calls.push(now);
    return true;
  }

  private createSession(req: SandboxRequest, res: ServerResponse): void {
    const b = (req.json() ?? {}) as Record<string, unknown>;
    const problem = checkSession(b, true);
    if (problem) return fail(res, 400, 'invalid_request', problem);
    let groupid = typeof b.groupid === 'string' ? b.groupid : undefined;
    if (typeof b.groupname === 'string') {
      const named = this.groups.get(b.groupname) ?? `g${randomInt(100_000_000, 999_999_999)}`;
      if (groupid && groupid !== named) return fail(res, 400, 'invalid_request', 'groupid and groupname name different groups.');
      this.groups.set(b.groupname, named);
      groupid = named;
    } else if (![...this.groups.values()].includes(groupid!)) return fail(res, 400, 'invalid_request', `No group ${groupid}.`);
    let code: string;
    do code = `s${randomInt(10, 99)}-${randomInt(100, 999)}-${randomInt(100, 999)}`;
    while (this.sessions.has(code));
    const now = sandboxClock.now();
    const customer = (b.end_customer ?? {}) as { name?: string; email?: string };
    const link = (role: string) => `${this.origin()}/teamviewer/s/${code}?role=${role}`;
    const session: TvSession = {
      code,
      state: 'open',
      groupid: groupid!,
      waiting_message: typeof b.waiting_message === 'string' ? b.waiting_message : '',
      description: typeof b.description === 'string' ? b.description : '',
      end_customer: { name: customer.name ?? '', email: customer.email ?? '' },
      assigned_userid: typeof b.assigned_userid === 'string' ? b.assigned_userid : ACCOUNT.userid,
      assigned_at: iso(now),
      end_customer_link: link('customer'),
      supporter_link: link('supporter'),
      webclient_supporter_link: link('webclient'),
      custom_api: typeof b.custom_api === 'string' ? b.custom_api : '',
      support_session_type: typeof b.support_session_type === 'string' ? b.support_session_type : 'Default',
      created_at: iso(now),
      valid_until: typeof b.valid_until === 'string' ? b.valid_until : iso(now + 86_400_000),
    };
    this.sessions.set(code, session);
    sendJson(res, 200, session);
  }

  private getSession(code: string, res: ServerResponse): void {
    const s = this.sessions.get(code);
    if (!s) return fail(res, 404, 'invalid_request', `No session ${code}.`);
    sendJson(res, 200, s);
  }

  private updateSession(code: string, req: SandboxRequest, res: ServerResponse): void {
    const s = this.sessions.get(code);
    if (!s) return fail(res, 404, 'invalid_request', `No session ${code}.`);
    const b = (req.json() ?? {}) as Record<string, unknown>;
    const problem = checkSession(b, false);
    if (problem) return fail(res, 400, 'invalid_request', problem);
    for (const k of ['waiting_message', 'description', 'custom_api', 'assigned_userid'] as const) if (typeof b[k] === 'string') s[k] = b[k];
    if (b.end_customer) s.end_customer = { ...s.end_customer, ...b.end_customer };
    if (b.state === 'closed' && s.state === 'open') Object.assign(s, { state: 'closed', closed_at: iso(sandboxClock.now()) });
    if (b.state === 'open') s.state = 'open';
    res.writeHead(204).end();
  }

  private listSessions(req: SandboxRequest, res: ServerResponse): void {
    const q = req.url.searchParams;
    const states = (q.get('state') ?? 'open').split(',').map((s) => s.trim().toLowerCase());
    const all = [...this.sessions.values()]
      .filter((s) => states.includes(s.state))
      .filter((s) => !q.get('groupid') || s.groupid === q.get('groupid'))
      .filter((s) => !q.get('assigned_userid') || s.assigned_userid === q.get('assigned_userid'))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.code.localeCompare(a.code));
    const after = q.get('offset') ? all.findIndex((s) => s.code === q.get('offset')) + 1 : 0;
    const page = all.slice(after, after + this.settings.pageSize);
    const rest = all.length - after - page.length;
    const full = q.get('full_list') === 'true';
    sendJson(res, 200, {
      sessions: page.map((s) =>
        full
          ? { ...s, online: false }
          : { code: s.code, state: s.state, online: false, groupid: s.groupid, support_session_type: s.support_session_type },
      ),
      ...(rest > 0 ? { sessions_remaining: rest, next_offset: page.at(-1)!.code } : {}),
    });
  }

  private listConnections(req: SandboxRequest, res: ServerResponse): void {
    const q = req.url.searchParams;
    const day = (s: string | null) => (s ? Date.parse(/T/.test(s) ? s : `${s}T00:00:00Z`) : NaN);
    const from = day(q.get('from_date'));
    const to = day(q.get('to_date'));
    const all = this.connections
      .filter((c) => !q.get('groupid') || c.groupid === q.get('groupid'))
      .filter((c) => !q.get('session_code') || c.session_code === q.get('session_code'))
      .filter((c) => q.get('has_code') === null || (q.get('has_code') === 'true') === !!c.session_code)
      .filter((c) => Number.isNaN(from) || Date.parse(c.start_date) >= from)
      .filter((c) => Number.isNaN(to) || Date.parse(c.start_date) < to);
    const after = q.get('offset_id') ? all.findIndex((c) => c.id === q.get('offset_id')) + 1 : 0;
    const page = all.slice(after, after + this.settings.pageSize);
    const rest = all.length - after - page.length;
    sendJson(res, 200, {
      records: page,
      ...(rest > 0 ? { records_remaining: rest } : {}),
      ...(page.length ? { next_offset: page.at(-1)!.id } : {}),
    });
  }

  /** A supporter connects to a session: its connection report, `minutes` long, starting now. */
  connect(code: string, supporter = 'Lee Gu', minutes = 12): TvConnection {
    const s = this.sessions.get(code);
    if (!s) throw new Error(`No session ${code}`);
    const start = sandboxClock.now();
    const group = [...this.groups].find(([, id]) => id === s.groupid)?.[0] ?? '';
    const c: TvConnection = {
      id: randomUUID(),
      userid: ACCOUNT.userid,
      username: supporter,
      deviceid: `d${randomInt(100_000_000, 999_999_999)}`,
      devicename: s.end_customer.name,
      groupid: s.groupid,
      groupname: group,
      start_date: iso(start),
      end_date: iso(start + minutes * 60_000),
      billing_state: 'DoNotBill',
      session_code: code,
      assigned_userid: s.assigned_userid,
      end_customer: s.end_customer,
    };
    this.connections.push(c);
    return c;
  }

  /** Every access token issued expires now (as a day after it was issued), so the next call is refused with token_expired. */
  expireAccessTokens(): void {
    const now = sandboxClock.now();
    for (const t of this.access.values()) t.expires = Math.min(t.expires, now);
  }

  /** Revokes every token issued: the next refresh is refused, as after the account holder revokes the app. */
  revokeAll(): void {
    for (const t of this.access.values()) t.revoked = true;
    for (const t of this.refresh.values()) t.revoked = true;
  }

  /** The next `times` calls matching `path` (a regular expression on the path after /api/v1) answer `status` with `error`. */
  fault(f: { method?: string; path: string; status: number; error: string; times?: number }): void {
    this.faults.push({ ...f, times: f.times ?? 1 });
  }

  /**
   * Control API:
   *   GET  /_sandbox/teamviewer                 settings, stats, sessions and connections
   *   PUT  /_sandbox/teamviewer/settings        {codeTtlMs?, accessTtlMs?, tier?, decision?, pageSize?, latencyMs?}
   *   POST /_sandbox/teamviewer/revoke          revokes every token
   *   POST /_sandbox/teamviewer/expire          every access token expires now
   *   POST /_sandbox/teamviewer/faults          {method?, path, status, error, times?}
   *   POST /_sandbox/teamviewer/sessions/{code}/connections  {supporter?, minutes?}: a supporter connects
   */
  control(req: SandboxRequest, res: ServerResponse): boolean {
    if (!req.path.startsWith('/_sandbox/teamviewer')) return false;
    const path = req.path.slice('/_sandbox/teamviewer'.length);
    const body = (req.method === 'GET' ? undefined : req.json()) as Record<string, unknown> | undefined;
    const connect = /^\/sessions\/([^/]+)\/connections$/.exec(path)?.[1];
    if (path === '' && req.method === 'GET')
      sendJson(res, 200, {
        settings: this.settings,
        stats: this.stats,
        sessions: [...this.sessions.values()],
        connections: this.connections,
      });
    else if (path === '/settings' && req.method === 'PUT') {
      Object.assign(this.settings, body ?? {});
      sendJson(res, 200, this.settings);
    } else if (path === '/revoke' && req.method === 'POST') {
      this.revokeAll();
      sendJson(res, 200, { revoked: true });
    } else if (path === '/expire' && req.method === 'POST') {
      this.expireAccessTokens();
      sendJson(res, 200, { expired: true });
    } else if (path === '/faults' && req.method === 'POST') {
      this.fault(body as unknown as Fault);
      sendJson(res, 200, { faults: this.faults.length });
    } else if (connect && req.method === 'POST') {
      if (!this.sessions.has(connect)) sendProblem(res, 404, 'Not Found', `No session ${connect}.`);
      else sendJson(res, 200, this.connect(connect, body?.supporter as string | undefined, body?.minutes as number | undefined));
    } else sendProblem(res, 404, 'Not Found', `No ${req.method} /_sandbox/teamviewer${path}.`);
    return true;
  }
}

/** A session body's problem, as TeamViewer checks it; undefined when it is valid. */
function checkSession(b: Record<string, unknown>, creating: boolean): string | undefined {
  if (creating && typeof b.groupid !== 'string' && typeof b.groupname !== 'string')
    return 'A session code is always stored in a group: set groupid or groupname.';
  if (typeof b.groupid === 'string' && !/^g\d+$/.test(b.groupid)) return 'groupid must look like g123456789.';
  for (const [k, max] of [
    ['description', 4000],
    ['waiting_message', 4000],
    ['custom_api', 4000],
  ] as const)
    if (b[k] !== undefined && (typeof b[k] !== 'string' || b[k].length > max)) return `${k} is text of at most ${max} characters.`;
  const customer = b.end_customer as { name?: unknown; email?: unknown } | undefined;
  if (customer !== undefined) {
    if (customer.name !== undefined && (typeof customer.name !== 'string' || customer.name.length > 100))
      return 'end_customer.name is text of at most 100 characters.';
    if (customer.email !== undefined && (typeof customer.email !== 'string' || customer.email.length > 254))
      return 'end_customer.email is text of at most 254 characters.';
  }
  if (b.state !== undefined && b.state !== 'open' && b.state !== 'closed') return 'state is open or closed.';
  return undefined;
}

/** TeamViewer's error body (doc-TV §5). */
function fail(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description, error_code: status });
}
