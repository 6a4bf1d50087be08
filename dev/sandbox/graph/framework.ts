import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { JWTPayload } from 'jose';
import { GraphContract, segmentMatches } from '../contract';
import { GRAPH_RESOURCE, type Entra } from '../entra';
import { sendJson, type SandboxRequest } from '../http';
import { evaluate, ODataError, orderBy, parseFilter, select } from './odata';
import { sandboxClock } from '../clock';
import { mailboxThrottle } from './throttle';

/**
 * Microsoft Graph v1.0 as the app meets it: bearer tokens and application permissions, OData
 * collections with paging by @odata.nextLink, $batch, Graph's error envelope, throttling (429 with
 * or without Retry-After, Outlook's 4 concurrent requests per mailbox) and injected faults. Every
 * request and response is checked against the OpenAPI subset; violations are kept for the tests.
 */

export type Entity = Record<string, unknown> & { id: string };

export interface GraphContext {
  tenantId: string;
  claims: JWTPayload;
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
  store: TenantStore;
  origin: string;
}

export interface GraphResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type GraphHandler = (ctx: GraphContext) => GraphResult | Promise<GraphResult>;

export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A tenant's directory and Intune data: named collections of entities. */
export class TenantStore {
  private readonly tables = new Map<string, Map<string, Entity>>();
  readonly groupMembers = new Map<string, Set<string>>();

  table(name: string): Map<string, Entity> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map<string, Entity>()));
    return t;
  }

  get(name: string, id: string): Entity {
    const e =
      this.table(name).get(id) ??
      [...this.table(name).values()].find(
        (x) =>
          x.id.toLowerCase() === id.toLowerCase() ||
          (typeof x.userPrincipalName === 'string' ? x.userPrincipalName : '').toLowerCase() === id.toLowerCase(),
      );
    if (!e)
      throw new GraphError(
        404,
        name.startsWith('deviceManagement') || name.startsWith('deviceApp') ? 'ResourceNotFound' : 'Request_ResourceNotFound',
        `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      );
    return e;
  }

  /** Any directory object (user, group, device) by id. */
  directoryObject(id: string): Entity | undefined {
    for (const name of ['users', 'groups', 'devices']) {
      const e = this.table(name).get(id);
      if (e) return e;
    }
    return undefined;
  }
}

export interface FaultRule {
  method?: string;
  /** Regular expression tested against the path after /v1.0. */
  path?: string;
  /** Regular expression tested against the decoded query string. */
  query?: string;
  /** Share of matching requests that fail (0..1); with `count`, the first `count` matches fail. */
  rate?: number;
  count?: number;
  status?: number;
  code?: string;
  message?: string;
  /** Retry-After seconds on a 429/503; null omits the header, as Intune often does. */
  retryAfter?: number | null;
  latencyMs?: number;
  /** Apply the request's effect, then answer with the failure (an ambiguous outcome). */
  afterEffect?: boolean;
}

export interface GraphStats {
  requests: number;
  byStatus: Record<string, number>;
  inFlight: number;
  peakInFlight: number;
  mailboxPeak: Record<string, number>;
  faultsInjected: number;
  byRoute: Record<string, number>;
}

interface Route {
  method: string;
  segments: string[];
  template: string;
  handler: GraphHandler;
}

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const MAILBOX = /^\/users\/([^/]+)\//i;

/** The mailbox a path counts against (/users/{id or UPN}/...), as the user's id. */
function mailboxOf(path: string, store: TenantStore): string | undefined {
  const segment = MAILBOX.exec(path)?.[1];
  if (!segment) return undefined;
  const key = decodeURIComponent(segment).toLowerCase();
  const users = store.table('users');
  if (users.has(key)) return key;
  for (const u of users.values())
    if ([u.id, u.userPrincipalName, u.mail].some((v) => typeof v === 'string' && v.toLowerCase() === key)) return String(u.id);
  return key;
}

/** The bytes a request uploads, for Outlook's upload allowance (PATCH, POST and PUT bodies). */
const uploadBytes = (method: string, body: unknown) =>
  body !== undefined && (method === 'PATCH' || method === 'POST' || method === 'PUT') ? Buffer.byteLength(JSON.stringify(body)) : 0;

function errorBody(code: string, message: string, requestId: string, clientRequestId?: string) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: sandboxClock.iso().slice(0, 19),
        'request-id': requestId,
        'client-request-id': clientRequestId ?? requestId,
      },
    },
  };
}

export class GraphService {
  private readonly routes: Route[] = [];
  readonly contract = new GraphContract();
  readonly violations: string[] = [];
  faults: FaultRule[] = [];
  private readonly faultCounts = new Map<FaultRule, number>();
  stats: GraphStats = GraphService.emptyStats();
  private seed = 0x9e3779b9;
  /** Checks every request and response against the OpenAPI subset (on by default). */
  strictContract = true;
  /** Default page size per collection when $top is absent. */
  pageSizes: Record<string, number> = {};
  defaultPageSize = 100;

  constructor(
    readonly entra: Entra,
    readonly stores: Map<string, TenantStore>,
    private readonly origin: () => string,
  ) {}

  static emptyStats(): GraphStats {
    return { requests: 0, byStatus: {}, inFlight: 0, peakInFlight: 0, mailboxPeak: {}, faultsInjected: 0, byRoute: {} };
  }

  resetStats(): void {
    this.stats = GraphService.emptyStats();
  }

  setFaults(rules: FaultRule[], seed?: number): void {
    this.faults = rules;
    this.faultCounts.clear();
    if (seed !== undefined) this.seed = seed >>> 0 || 1;
  }

  /** Deterministic pseudo-random numbers (mulberry32), so fault runs repeat. */
  private random(): number {
    let t = (this.seed = (this.seed + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  route(method: string, template: string, handler: GraphHandler): void {
    this.routes.push({ method, template, segments: template.split('/').filter(Boolean), handler });
    this.routes.sort((a, b) => a.segments.filter((s) => s.startsWith('{')).length - b.segments.filter((s) => s.startsWith('{')).length);
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    for (const route of this.routes) {
      if (route.method !== method || route.segments.length !== parts.length) continue;
      if (!route.segments.every((s, i) => segmentMatches(s, parts[i]))) continue;
      const params: Record<string, string> = {};
      route.segments.forEach((s, i) => {
        if (s.startsWith('{')) params[s.slice(1, -1)] = parts[i];
      });
      return { route, params };
    }
    return undefined;
  }

  /** Serves /v1.0/...; false for other paths. */
  async handle(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    if (!req.path.startsWith('/v1.0/')) return false;
    const requestId = randomUUID();
    const clientRequestId = String(req.headers['client-request-id'] ?? requestId);
    const path = req.path.slice('/v1.0'.length);
    // Graph refuses a request body over 4 MB before reading it (docs issue #11806).
    if (req.raw.length > MAX_REQUEST_BYTES)
      return (
        sendJson(res, 400, errorBody('BadRequest', 'The maximum request length supported is 4MB.', requestId, clientRequestId)),
        true
      );
    let body: unknown;
    try {
      body = req.raw.length ? req.json() : undefined;
    } catch {
      return (
        sendJson(
          res,
          400,
          errorBody(
            'BadRequest',
            'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
            requestId,
            clientRequestId,
          ),
        ),
        true
      );
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    let result: GraphResult;
    if (path === '/$batch' && req.method === 'POST') result = await this.batch(headers, body);
    else result = await this.execute(req.method, path, req.url.searchParams, body, headers);
    const out = { 'request-id': requestId, 'client-request-id': clientRequestId, ...(result.headers ?? {}) };
    if (result.body === undefined) {
      res.writeHead(result.status, out);
      res.end();
    } else sendJson(res, result.status, result.body, out);
    return true;
  }

  private async authenticate(headers: Record<string, string>): Promise<{ tenantId: string; claims: JWTPayload } | GraphResult> {
    const m = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '');
    if (!m) return { status: 401, body: errorBody('InvalidAuthenticationToken', 'Access token is empty.', randomUUID()) };
    const { claims, error } = await this.entra.verify(m[1], [GRAPH_RESOURCE, this.origin()]);
    if (!claims)
      return {
        status: 401,
        body: errorBody('InvalidAuthenticationToken', `Access token validation failure. ${error ?? ''}`.trim(), randomUUID()),
      };
    return { tenantId: String(claims.tid), claims };
  }

  /** One Graph request (top level or inside a batch): auth, contract, permissions, faults, throttling, handler. */
  async execute(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<GraphResult> {
    this.stats.requests++;
    const routeKey = `${method} ${path.replace(/\/[0-9a-f-]{36}|\/[^/]+(?:@|%40)[^/]+/gi, '/{id}')}`;
    this.stats.byRoute[routeKey] = (this.stats.byRoute[routeKey] ?? 0) + 1;
    this.stats.inFlight++;
    this.stats.peakInFlight = Math.max(this.stats.peakInFlight, this.stats.inFlight);
    try {
      const result = await this.executeInner(method, path, query, body, headers);
      this.stats.byStatus[result.status] = (this.stats.byStatus[result.status] ?? 0) + 1;
      if (this.strictContract) {
        for (const p of this.contract.checkResponse(method, path, result.status, result.body)) this.violations.push(`response: ${p}`);
      }
      return result;
    } finally {
      this.stats.inFlight--;
    }
  }

  private async executeInner(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<GraphResult> {
    const requestId = randomUUID();
    const auth = await this.authenticate(headers);
    if ('status' in auth) return auth;
    const store = this.stores.get(auth.tenantId);
    if (!store) return { status: 401, body: errorBody('InvalidAuthenticationToken', 'Unknown tenant.', requestId) };
    // A mailbox's request counts as in flight from here, through any injected latency.
    const mailbox = mailboxOf(path, store);
    const leave = mailbox ? mailboxThrottle.enter(mailbox) : undefined;
    if (mailbox) this.stats.mailboxPeak[mailbox] = Math.max(this.stats.mailboxPeak[mailbox] ?? 0, mailboxThrottle.inFlightOf(mailbox));
    try {
      return await this.serve(method, path, query, body, headers, { requestId, auth, store, mailbox });
    } finally {
      leave?.();
    }
  }

  private async serve(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
    headers: Record<string, string>,
    at: { requestId: string; auth: { tenantId: string; claims: JWTPayload }; store: TenantStore; mailbox?: string },
  ): Promise<GraphResult> {
    const { requestId, auth, store, mailbox } = at;
    if (this.strictContract) {
      const problems = this.contract.checkRequest(method, path, query, body);
      if (problems.length) {
        this.violations.push(...problems.map((p) => `request: ${p}`));
        return {
          status: 400,
          body: errorBody('BadRequest', `Request is outside the Graph v1.0 contract: ${problems.join('; ')}`, requestId),
        };
      }
    }
    const needed = this.contract.permissionsFor(method, path);
    const roles = Array.isArray(auth.claims.roles) ? (auth.claims.roles as string[]) : [];
    if (needed?.length && !needed.some((p) => roles.includes(p))) {
      return {
        status: 403,
        body: errorBody(
          'Authorization_RequestDenied',
          `Insufficient privileges to complete the operation. Requires one of: ${needed.join(', ')}.`,
          requestId,
        ),
      };
    }
    const fault = this.pickFault(method, path, decodeURIComponent(query.toString()));
    if (fault?.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
    const refused = mailbox ? mailboxThrottle.admit(mailbox, uploadBytes(method, body)) : undefined;
    if (refused)
      return {
        status: 429,
        headers: { 'Retry-After': String(refused.retryAfterSeconds) },
        body: errorBody(refused.code, refused.message, requestId),
      };
    if (fault?.status && !fault.afterEffect) return this.faultResult(fault, requestId);
    const found = this.match(method, path);
    if (!found) {
      const known = this.contract.find(method, path);
      return known
        ? { status: 501, body: errorBody('NotImplemented', `The sandbox does not implement ${method} ${known.template} yet.`, requestId) }
        : {
            status: 400,
            body: errorBody('BadRequest', `Resource not found for the segment '${path.split('/').filter(Boolean).pop()}'.`, requestId),
          };
    }
    let result: GraphResult;
    try {
      result = await found.route.handler({
        tenantId: auth.tenantId,
        claims: auth.claims,
        method,
        path,
        params: found.params,
        query,
        body,
        headers,
        store,
        origin: this.origin(),
      });
    } catch (e) {
      if (e instanceof GraphError) result = { status: e.status, headers: e.headers, body: errorBody(e.code, e.message, requestId) };
      else if (e instanceof ODataError) result = { status: 400, body: errorBody('BadRequest', e.message, requestId) };
      else result = { status: 500, body: errorBody('InternalServerError', (e as Error).message, requestId) };
    }
    if (fault?.status && fault.afterEffect) return this.faultResult(fault, requestId);
    return result;
  }

  private pickFault(method: string, path: string, query: string): FaultRule | undefined {
    for (const rule of this.faults) {
      if (rule.method && rule.method.toUpperCase() !== method) continue;
      if (rule.path && !new RegExp(rule.path, 'i').test(path)) continue;
      if (rule.query && !new RegExp(rule.query, 'i').test(query)) continue;
      if (rule.count !== undefined) {
        const used = this.faultCounts.get(rule) ?? 0;
        if (used >= rule.count) continue;
        this.faultCounts.set(rule, used + 1);
      } else if (rule.rate !== undefined && this.random() >= rule.rate) continue;
      if (rule.status) this.stats.faultsInjected++;
      return rule;
    }
    return undefined;
  }

  private faultResult(rule: FaultRule, requestId: string): GraphResult {
    const status = rule.status!;
    const headers: Record<string, string> = {};
    if ((status === 429 || status === 503) && rule.retryAfter !== null) headers['Retry-After'] = String(rule.retryAfter ?? 1);
    const code =
      rule.code ??
      (status === 429
        ? 'TooManyRequests'
        : status === 503
          ? 'ServiceUnavailable'
          : status === 504
            ? 'GatewayTimeout'
            : status >= 500
              ? 'InternalServerError'
              : 'BadRequest');
    return {
      status,
      headers,
      body: errorBody(
        code,
        rule.message ?? (status === 429 ? 'Too many requests from Identifier. Please try again later.' : 'Injected fault.'),
        requestId,
      ),
    };
  }

  private async batch(headers: Record<string, string>, body: unknown): Promise<GraphResult> {
    const requestId = randomUUID();
    this.stats.byRoute['POST /$batch'] = (this.stats.byRoute['POST /$batch'] ?? 0) + 1;
    const auth = await this.authenticate(headers);
    if ('status' in auth) return auth;
    const requests = (body as { requests?: unknown })?.requests;
    if (!Array.isArray(requests) || requests.length === 0)
      return { status: 400, body: errorBody('BadRequest', 'Invalid batch payload format.', requestId) };
    if (requests.length > 20)
      return { status: 400, body: errorBody('BadRequest', 'The number of requests in the batch exceeds 20.', requestId) };
    const ids = new Set<string>();
    for (const r of requests as { id?: unknown }[]) {
      const id = (typeof r.id === 'string' || typeof r.id === 'number' ? String(r.id) : '').toLowerCase();
      if (!id || ids.has(id))
        return { status: 400, body: errorBody('BadRequest', 'Batch request ids must be present and unique.', requestId) };
      ids.add(id);
    }
    const list = requests as {
      id: string;
      method: string;
      url: string;
      headers?: Record<string, string>;
      body?: unknown;
      dependsOn?: string[];
    }[];
    const results = new Map<string, { id: string; status: number; headers?: Record<string, string>; body?: unknown }>();
    const run = async (r: (typeof list)[number]) => {
      if (r.dependsOn?.some((d) => (results.get(d)?.status ?? 500) >= 400)) {
        results.set(r.id, {
          id: r.id,
          status: 424,
          body: errorBody('FailedDependency', 'A request this one depends on failed.', randomUUID()),
        });
        return;
      }
      const sub: Record<string, string> = {
        ...Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
        authorization: headers.authorization,
      };
      if (r.body !== undefined && !sub['content-type']) {
        results.set(r.id, {
          id: r.id,
          status: 400,
          body: errorBody('BadRequest', 'Content-Type header is required when the request has a body.', randomUUID()),
        });
        return;
      }
      const url = new URL(r.url.replace(/^\/?(v1\.0\/)?/, '/'), 'https://batch.invalid');
      const res = await this.execute(String(r.method).toUpperCase(), url.pathname, url.searchParams, r.body, sub);
      results.set(r.id, { id: r.id, status: res.status, headers: res.headers, body: res.body });
    };
    if (list.some((r) => r.dependsOn?.length)) for (const r of list) await run(r);
    else await Promise.all(list.map(run));
    return { status: 200, body: { responses: list.map((r) => results.get(r.id)!) } };
  }

  /** An OData collection response: $filter, $orderby, $select, $top and $skiptoken paging, $count. */
  collection(ctx: GraphContext, items: Entity[], opts: { pageSize?: number; context?: string } = {}): GraphResult {
    const q = ctx.query;
    const filter = q.get('$filter');
    const where = filter ? parseFilter(filter) : undefined;
    let list = where ? items.filter((e) => evaluate(where, e)) : items;
    list = orderBy(list, q.get('$orderby'));
    const top = q.get('$top') ? Number(q.get('$top')) : undefined;
    if (top !== undefined && (!Number.isInteger(top) || top < 0))
      throw new GraphError(400, 'BadRequest', "Invalid value for '$top' query option.");
    const pageSize = Math.min(top ?? opts.pageSize ?? this.defaultPageSize, 999_999);
    const token = q.get('$skiptoken');
    let offset = 0;
    if (token) {
      const parsed = Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^o:/, ''));
      if (!Number.isInteger(parsed) || parsed < 0) throw new GraphError(400, 'BadRequest', 'Invalid $skiptoken.');
      offset = parsed;
    }
    const fields = q
      .get('$select')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const page = list.slice(offset, offset + pageSize).map((e) => select(e, fields));
    const body: Record<string, unknown> = { '@odata.context': `${ctx.origin}/v1.0/$metadata#${opts.context ?? ctx.path.slice(1)}` };
    if (q.get('$count') === 'true') body['@odata.count'] = list.length;
    if (offset + pageSize < list.length) {
      const next = new URLSearchParams(q);
      next.set('$skiptoken', Buffer.from(`o:${offset + pageSize}`).toString('base64url'));
      body['@odata.nextLink'] = `${ctx.origin}/v1.0${ctx.path}?${next.toString().replace(/%24/g, '$')}`;
    }
    body.value = page;
    return { status: 200, body };
  }

  /** A single entity, honouring $select. */
  entity(ctx: GraphContext, e: Entity, status = 200): GraphResult {
    const fields = ctx.query
      .get('$select')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return { status, body: select(e, fields) };
  }
}
