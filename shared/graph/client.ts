import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  type AuthenticationProvider,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { config, type Config } from '../platform/config';
import { AppError } from '../platform/errors';
import { log as rootLog, type Logger } from '../platform/log';
import { confidentialClient } from '../platform/auth/entra';
import { KeyedLimiter, WindowBudget, type Reservation, type Window } from './limiter';

/**
 * The one Microsoft Graph client. The Graph JS client builds and sends requests; our middleware in
 * its chain adds what Graph's throttling rules need: bounded concurrency (all requests, and 4 per
 * mailbox), a time limit on each attempt (answer included, so a response that stalls mid-body
 * cannot hang a caller), and retries that honour Retry-After, back off exponentially with jitter
 * when Intune omits it, and never re-send a write whose outcome is unknown (a write is re-sent only
 * after a 429, which Graph returns before doing anything). An attempt past its time limit counts as
 * a 504: a read is retried, a write is not.
 */

export const GRAPH_VERSION = 'v1.0';

/** Seconds an admin caller is told to wait when Graph throttled or failed without saying how long. */
const DEFAULT_RETRY_AFTER_SECONDS = 10;

/**
 * A Graph request that failed, as an AppError of its own: throttling and outages reach an admin
 * caller as 503 with Retry-After, a 404 as 404, any other refusal as 502; each names Graph's
 * status and error code. `graphStatus` is what Graph answered (0: no answer).
 */
export class GraphApiError extends AppError {
  constructor(
    readonly graphStatus: number,
    readonly code: string,
    readonly graphMessage: string,
    readonly requestId?: string,
    readonly retryAfterSeconds?: number,
  ) {
    const transient = isTransient(graphStatus);
    const said = `Microsoft Graph answered ${graphStatus || 'nothing'} ${code}: ${graphMessage}`;
    const wait = retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
    super(
      transient ? 503 : graphStatus === 404 ? 404 : 502,
      transient ? 'Service Unavailable' : graphStatus === 404 ? 'Not Found' : 'Bad Gateway',
      transient ? `${said}. Try again in ${wait} s.` : `${said}.`,
      { graphStatus, graphCode: code, ...(requestId ? { graphRequestId: requestId } : {}) },
      transient ? { 'Retry-After': String(wait) } : {},
    );
    this.name = 'GraphApiError';
  }

  /** True when trying the same request later may succeed. */
  get transient(): boolean {
    return isTransient(this.graphStatus);
  }

  /** Status, code and message, as records and logs show them. */
  get summary(): string {
    return `${this.graphStatus} ${this.code}: ${this.graphMessage}`;
  }
}

const isTransient = (status: number) => status === 429 || status >= 500 || status === 0;

export interface RetryPolicy {
  maxRetries: number;
  /** First backoff step without Retry-After, in ms; doubles each retry, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Delay before retry `attempt` (1-based): Retry-After when given, else exponential with full jitter. */
export function retryDelayMs(attempt: number, retryAfter: string | null, policy: RetryPolicy): number {
  if (retryAfter !== null && retryAfter !== '') {
    const secs = Number(retryAfter);
    if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, policy.maxDelayMs);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.min(Math.max(0, date - Date.now()), policy.maxDelayMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

const MAILBOX = /\/users\/([^/?]+)\//i;

/** The resource a request counts against for per-resource concurrency: a mailbox, or null. */
export function mailboxOf(url: string): string | null {
  const m = MAILBOX.exec(new URL(url).pathname);
  return m ? decodeURIComponent(m[1]).toLowerCase() : null;
}

const GLOBAL = '*';

export class ThrottlingMiddleware implements Middleware {
  private next?: Middleware;
  readonly limiter: KeyedLimiter;
  /** Each mailbox's requests and uploads in Outlook's windows, so requests wait for room instead of being refused. */
  private readonly budget: WindowBudget;
  /** Mailboxes Graph has throttled, and until when (performance.now()): none of their requests go before. */
  private readonly paused = new Map<string, number>();
  /** The room reserved by the work a request belongs to (withRoom). */
  private readonly reserved = new AsyncLocalStorage<Reservation>();

  constructor(
    private readonly policy: RetryPolicy,
    limits: GraphLimits,
    private readonly log: Logger,
    private readonly timeoutMs = 60_000,
  ) {
    this.limiter = new KeyedLimiter((key) => (key === GLOBAL ? limits.total : limits.perMailbox));
    this.budget = new WindowBudget(limits.mailboxRequests ?? OUTLOOK_REQUESTS, limits.mailboxBytes ?? OUTLOOK_BYTES);
  }

  /**
   * Books work `id` of `cost` into the mailbox's windows (WindowBudget.book), for work that will come
   * back rather than wait: how long (ms) from now until it has room, counting the work booked before it.
   */
  book(mailbox: string, id: string, cost: Cost): number {
    const key = mailbox.toLowerCase();
    const wait = Math.max(0, (this.paused.get(key) ?? 0) - performance.now(), this.budget.waitMs(key, cost.bytes, cost.requests));
    return this.budget.book(key, id, cost.requests, cost.bytes, wait);
  }

  /**
   * Runs work `id` once the mailbox has room in its windows for `cost` (at most that many requests
   * and bytes of bodies), with the room set aside so that concurrent work for the mailbox does not
   * take it (and its booking, if any, ended). It starts when its first request fits; each later one
   * waits for its own room, so its requests keep their spacing from one window to the next instead
   * of all waiting for the room of the last. When the mailbox will not have room for all of them
   * within `maxWaitMs` (its windows are full, or Graph throttled it), `work` does not run and the
   * answer says when to come back (book).
   */
  async withRoom<T>(
    mailbox: string,
    id: string,
    cost: Cost,
    maxWaitMs: number,
    work: () => Promise<T>,
  ): Promise<{ ran: true; value: T } | { ran: false; waitMs: number }> {
    const key = mailbox.toLowerCase();
    for (;;) {
      const pause = Math.max(0, (this.paused.get(key) ?? 0) - performance.now());
      if (Math.max(pause, this.budget.waitMs(key, cost.bytes, cost.requests)) > maxWaitMs)
        return { ran: false, waitMs: this.book(key, id, cost) };
      const wait = Math.max(pause, this.budget.waitMs(key, 0, 1));
      if (wait > 0) {
        await sleep(wait);
        continue;
      }
      const reservation = this.budget.reserve(key, cost.requests, cost.bytes, id);
      try {
        return { ran: true, value: await this.reserved.run(reservation, work) };
      } finally {
        this.budget.release(reservation);
      }
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    const method = (context.options?.method ?? 'GET').toUpperCase();
    const body = context.options?.body;
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : ArrayBuffer.isView(body) ? body.byteLength : 0;
    context.response = await this.send(
      method,
      url,
      mailboxOf(url),
      async (signal) => {
        context.response = undefined;
        context.options = { ...context.options, signal };
        await this.next!.execute(context);
        return context.response!;
      },
      { bytes },
    );
  }

  /**
   * One request under the limits, retried as Graph's rules allow: `attempt` makes one try with the
   * signal of its time limit. A 429 for a mailbox holds all of that mailbox's requests for its
   * Retry-After, so they do not each spend a request on being refused. `resendable` marks a write
   * that is safe to send again after a 5xx (an upload chunk); `shownAs` is the path logs show (a
   * pre-authenticated URL is a credential); `bytes` the body's size, for the mailbox's upload window.
   */
  async send(
    method: string,
    url: string,
    mailbox: string | null,
    attempt: (signal: AbortSignal) => Promise<Response>,
    opts: { resendable?: boolean; shownAs?: string; bytes?: number } = {},
  ): Promise<Response> {
    const resendAfterServerError = opts.resendable ?? (method === 'GET' || method === 'HEAD');
    const path = opts.shownAs ?? new URL(url).pathname;
    for (let n = 0; ; n++) {
      const releaseMailbox = mailbox ? await this.acquireMailbox(mailbox, opts.bytes ?? 0) : undefined;
      const releaseAll = await this.limiter.acquire(GLOBAL);
      let response: Response | undefined;
      let networkError: Error | undefined;
      const sentAt = performance.now();
      const signal = AbortSignal.timeout(this.timeoutMs);
      try {
        response = await buffered(await attempt(signal));
      } catch (e) {
        // Past the time limit the attempt is answered as Graph answers a gateway timeout.
        if (signal.aborted)
          response = timeoutResponse(`Microsoft Graph did not answer ${method} ${path} within ${this.timeoutMs / 1000} s.`);
        else networkError = e instanceof Error ? e : new Error(String(e));
      } finally {
        releaseAll();
        releaseMailbox?.(response?.status !== 429, sentAt);
      }
      const status = response?.status ?? 0;
      // A write is only re-sent when Graph says it did nothing (429); a read whenever it may help.
      const retriable = networkError
        ? resendAfterServerError
        : status === 429 || (resendAfterServerError && (status === 503 || status === 504 || status === 502));
      if (!retriable || n >= this.policy.maxRetries) {
        if (networkError) throw networkError;
        return response!;
      }
      const delay = retryDelayMs(n + 1, response?.headers.get('retry-after') ?? null, this.policy);
      if (mailbox && status === 429) this.paused.set(mailbox, Math.max(this.paused.get(mailbox) ?? 0, performance.now() + delay));
      this.log.warn('Graph request will be retried', { method, path, status, attempt: n + 1, delayMs: delay });
      await sleep(delay);
    }
  }

  /** A slot of the mailbox's concurrency, once no throttling pause holds it and its windows have room; counted in them. */
  private async acquireMailbox(mailbox: string, bytes: number): Promise<(admitted: boolean, sentAt: number) => void> {
    // A request of work that reserved room in this mailbox's windows (withRoom) counts the others'
    // reservations, not its own.
    const held = this.reserved.getStore();
    const mine = held?.key === mailbox ? held : undefined;
    const wait = () =>
      Math.max((this.paused.get(mailbox) ?? 0) - performance.now(), this.budget.waitMs(mailbox, bytes, 1, performance.now(), mine));
    for (;;) {
      const before = wait();
      if (before > 0) {
        await sleep(before);
        continue;
      }
      const release = await this.limiter.acquire(`mailbox:${mailbox}`);
      // A pause may have begun, or the windows filled, while this request waited for its slot.
      if (wait() <= 0) {
        this.paused.delete(mailbox);
        const counted = this.budget.take(mailbox, bytes, mine);
        return (admitted, sentAt) => {
          counted(admitted, sentAt);
          release();
        };
      }
      release();
    }
  }
}

/**
 * A request whose body goes out from the caller's buffer as it is: fetch copies a body before
 * sending it, which for upload chunks would double the memory they hold.
 */
function sendAsIs(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: Uint8Array },
  signal: AbortSignal,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const headers = { ...init.headers, 'content-length': String(init.body?.byteLength ?? 0) };
    const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method: init.method, headers, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const answer = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of [v ?? []].flat()) answer.append(k, one);
        resolve(new Response(status === 204 || status === 205 ? null : Buffer.concat(chunks), { status, headers: answer }));
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The response with its body read, so the time limit covers the whole answer. */
async function buffered(res: Response): Promise<Response> {
  const body = res.status === 204 || res.status === 205 || res.status === 304 ? null : await res.arrayBuffer();
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

const timeoutResponse = (message: string) =>
  new Response(JSON.stringify({ error: { code: 'Timeout', message } }), {
    status: 504,
    statusText: 'Gateway Timeout',
    headers: { 'content-type': 'application/json' },
  });

/** Client-credentials tokens for Graph from msal-node (cached and refreshed by MSAL). */
export function msalTokenProvider(cfg: Config): AuthenticationProvider {
  const cca = confidentialClient(cfg);
  const scope = `${cfg.GRAPH_BASE_URL.replace(/\/$/, '')}/.default`;
  return {
    getAccessToken: async () => {
      const result = await cca.acquireTokenByClientCredential({ scopes: [scope] });
      if (!result?.accessToken) throw new GraphApiError(401, 'NoToken', 'Entra ID returned no access token for Microsoft Graph.');
      return result.accessToken;
    },
  };
}

/** Outlook's limits per app and mailbox: 10,000 requests per 10 minutes, 150 MB of request bodies per 5 minutes. */
const OUTLOOK_REQUESTS: Window = { amount: 10_000, windowMs: 600_000 };
const OUTLOOK_BYTES: Window = { amount: 150 * 1024 * 1024, windowMs: 300_000 };

/** What a piece of work sends to one mailbox, at most: requests, and bytes of request bodies. */
export interface Cost {
  requests: number;
  bytes: number;
}

export interface GraphLimits {
  total: number;
  perMailbox: number;
  mailboxRequests?: Window;
  mailboxBytes?: Window;
}

export interface GraphOptions {
  baseUrl: string;
  authProvider: AuthenticationProvider;
  retry: RetryPolicy;
  limits: GraphLimits;
  /** Time limit of one attempt, answer included. */
  timeoutMs?: number;
  log?: Logger;
}

export interface BatchRequest {
  id: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Relative to the version root, e.g. `/users/{id}`. */
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}
export interface BatchResponse {
  id: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Query = Record<string, string | number | boolean | undefined>;

/** A string as an OData literal in a Graph $filter ('it''s'). */
export const odataString = (s: string) => `'${s.replace(/'/g, "''")}'`;

function toError(e: unknown): GraphApiError {
  if (e instanceof GraphApiError) return e;
  const ge = e as { statusCode?: number; code?: string; message?: string; requestId?: string; headers?: Headers; body?: unknown };
  if (typeof ge?.statusCode === 'number') {
    const retryAfter = ge.headers?.get?.('retry-after');
    return new GraphApiError(
      ge.statusCode === -1 ? 0 : ge.statusCode,
      ge.code ?? 'Unknown',
      ge.message ?? 'Graph request failed',
      ge.requestId ?? undefined,
      retryAfter ? Number(retryAfter) : undefined,
    );
  }
  return new GraphApiError(0, 'NetworkError', (e as Error)?.message ?? String(e));
}

export class Graph {
  readonly client: Client;
  readonly throttling: ThrottlingMiddleware;
  private readonly root: string;

  constructor(private readonly opts: GraphOptions) {
    const log = opts.log ?? rootLog.child({ component: 'graph' });
    this.root = `${opts.baseUrl.replace(/\/$/, '')}/${GRAPH_VERSION}`;
    const host = new URL(opts.baseUrl).hostname;
    const auth = new AuthenticationHandler(opts.authProvider);
    this.throttling = new ThrottlingMiddleware(opts.retry, opts.limits, log, opts.timeoutMs);
    auth.setNext(this.throttling);
    this.throttling.setNext(new HTTPMessageHandler());
    this.client = Client.initWithMiddleware({
      middleware: auth,
      baseUrl: `${opts.baseUrl.replace(/\/$/, '')}/`,
      defaultVersion: GRAPH_VERSION,
      // The Graph client attaches tokens only to Graph's hosts and the ones listed here.
      customHosts: host === 'graph.microsoft.com' ? undefined : new Set([host]),
    });
  }

  private req(path: string, query?: Query) {
    let r = this.client.api(path);
    if (query) for (const [k, v] of Object.entries(query)) if (v !== undefined) r = r.query({ [k]: String(v) });
    return r;
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    try {
      return (await this.req(path, query).get()) as T;
    } catch (e) {
      throw toError(e);
    }
  }

  async post<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    try {
      let r = this.req(path);
      if (headers) r = r.headers(headers);
      return (await r.post(body ?? null)) as T;
    } catch (e) {
      throw toError(e);
    }
  }

  async patch<T = unknown>(path: string, body: unknown): Promise<T> {
    try {
      return (await this.req(path).patch(body)) as T;
    } catch (e) {
      throw toError(e);
    }
  }

  async delete(path: string): Promise<void> {
    try {
      await this.req(path).delete();
    } catch (e) {
      throw toError(e);
    }
  }

  /**
   * A request to a pre-authenticated URL Graph handed out (an upload session's): no token, under the
   * mailbox's limits with the same retries; a chunk is safe to send again after a 5xx.
   */
  async preauthenticated(
    mailbox: string,
    url: string,
    init: { method: 'PUT' | 'DELETE'; headers?: Record<string, string>; body?: Uint8Array },
  ): Promise<Response> {
    return this.throttling.send(init.method, url, mailbox.toLowerCase(), (signal) => sendAsIs(url, init, signal), {
      resendable: true,
      shownAs: '(upload session URL)',
      bytes: init.body?.byteLength ?? 0,
    });
  }

  /** Every item of a collection, page by page, following @odata.nextLink verbatim. */
  async *list<T>(path: string, query?: Query): AsyncGenerator<T> {
    let page = await this.get<{ value: T[]; '@odata.nextLink'?: string }>(path, query);
    for (;;) {
      for (const item of page.value ?? []) yield item;
      const next = page['@odata.nextLink'];
      if (!next) return;
      if (!next.startsWith(this.root)) throw new GraphApiError(0, 'UnexpectedNextLink', `Graph returned a nextLink outside ${this.root}.`);
      page = await this.get(next);
    }
  }

  async all<T>(path: string, query?: Query): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this.list<T>(path, query)) out.push(item);
    return out;
  }

  /**
   * JSON batching: groups of 20 (Graph's maximum), sub-requests answered 429 retried after their
   * Retry-After, responses returned by id. Sub-request failures are results, not exceptions.
   */
  async batch(requests: BatchRequest[]): Promise<Map<string, BatchResponse>> {
    const ids = new Set<string>();
    for (const r of requests) {
      if (ids.has(r.id.toLowerCase())) throw new Error(`Batch request id '${r.id}' is used twice; ids must be unique.`);
      ids.add(r.id.toLowerCase());
    }
    const results = new Map<string, BatchResponse>();
    for (let i = 0; i < requests.length; i += 20) {
      let pending = requests.slice(i, i + 20);
      for (let attempt = 0; pending.length; attempt++) {
        const envelope = await this.post<{ responses: BatchResponse[] }>('/$batch', {
          requests: pending.map((r) => ({
            id: r.id,
            method: r.method,
            url: r.url,
            ...(r.body !== undefined
              ? { body: r.body, headers: { 'Content-Type': 'application/json', ...r.headers } }
              : r.headers
                ? { headers: r.headers }
                : {}),
          })),
        });
        const throttled: BatchRequest[] = [];
        let wait = 0;
        for (const res of envelope.responses) {
          const req = pending.find((r) => r.id === res.id);
          if (!req) continue;
          if (res.status === 429 && attempt < this.opts.retry.maxRetries) {
            throttled.push(req);
            wait = Math.max(
              wait,
              retryDelayMs(attempt + 1, res.headers?.['Retry-After'] ?? res.headers?.['retry-after'] ?? null, this.opts.retry),
            );
          } else results.set(res.id, res);
        }
        pending = throttled;
        if (pending.length) await sleep(wait);
      }
    }
    return results;
  }
}

let instance: Graph | undefined;

/** The app's Graph client, configured from settings. */
export function graph(): Graph {
  if (!instance) {
    const cfg = config();
    instance = new Graph({
      baseUrl: cfg.GRAPH_BASE_URL,
      authProvider: msalTokenProvider(cfg),
      retry: { maxRetries: cfg.GRAPH_MAX_RETRIES, baseDelayMs: 500, maxDelayMs: 60_000 },
      limits: {
        total: cfg.GRAPH_MAX_CONCURRENCY,
        perMailbox: cfg.GRAPH_MAILBOX_CONCURRENCY,
        mailboxRequests: cfg.GRAPH_MAILBOX_REQUESTS,
        mailboxBytes: { ...cfg.GRAPH_MAILBOX_UPLOAD_MB, amount: cfg.GRAPH_MAILBOX_UPLOAD_MB.amount * 1024 * 1024 },
      },
      timeoutMs: cfg.GRAPH_TIMEOUT_SECONDS * 1000,
    });
  }
  return instance;
}
