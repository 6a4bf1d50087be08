import { app, HttpResponse, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import { z } from 'zod';
import { authorize, type AppRole, type Principal } from './auth/admin';
import { callerOf } from './auth/session';
import { config } from './config';
import { AppError, payloadTooLarge } from './errors';
import { errorResult, parseOr400, readJsonBody, type HttpResult } from './http';
import { createLogger, type Logger } from './log';
import { decodeMessage, queues, type Delivery, type Envelope } from './storage/queues';
import type { QUEUES } from './storage/resources';
import hostJson from '../../host.json';

/**
 * The one place that talks to @azure/functions. Function files declare what they accept and who
 * may call them; this module parses, authorizes, logs, maps errors to problem+json, records each
 * HTTP operation for the OpenAPI document and each registration for the health endpoint.
 */

export interface RegisteredFunction {
  name: string;
  trigger: 'http' | 'timer' | 'queue';
  route?: string;
  methods?: string[];
  schedule?: string;
  queue?: string;
}

export interface OperationDoc {
  summary: string;
  description?: string;
  tags: string[];
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
  /** Request headers the operation reads, for the document. */
  headers?: Record<string, string>;
}

/**
 * Who may call: an app role (bearer token or browser session holding it), 'signedIn' for any
 * signed-in admin, or 'anonymous' for public endpoints (webhooks, OAuth callbacks).
 */
export type Auth = AppRole | 'signedIn' | 'anonymous';

export interface HttpOperation {
  name: string;
  method: string;
  route: string;
  auth: Auth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  doc: OperationDoc;
}

export const registry = { functions: [] as RegisteredFunction[], operations: [] as HttpOperation[] };

export interface HttpInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The body bytes exactly as received (for signature checks). */
  rawBody: Buffer;
  headers: Headers;
  url: URL;
  principal?: Principal;
  log: Logger;
  invocationId: string;
}

interface HttpSpec<P, Q, B> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  route: string;
  auth: Auth;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  /** JSON body schema; omit for no JSON body. With `rawBody`, the body is not parsed here. */
  body?: z.ZodType<B>;
  rawBody?: boolean;
  /** Whether the call changes state (default: every method but GET); such calls made with the session cookie must be same-origin. */
  changesState?: boolean;
  doc: OperationDoc;
  handler: (input: HttpInput<P, Q, B>) => Promise<HttpResult> | HttpResult;
}

export function invocationLogger(context: InvocationContext, fields: Record<string, unknown> = {}): Logger {
  return createLogger({ fn: context.functionName, invocationId: context.invocationId, ...fields }, (level, line) => {
    if (level === 'error') context.error(line);
    else if (level === 'warn') context.warn(line);
    else if (level === 'debug') context.debug(line);
    else context.info(line);
  });
}

function toResponse(r: HttpResult): HttpResponseInit {
  const headers = { ...(r.headers ?? {}) };
  if (r.body === undefined || r.body === null) return { status: r.status, headers };
  if (typeof r.body === 'string' || Buffer.isBuffer(r.body)) return { status: r.status, headers, body: r.body };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  return { status: r.status, headers, body: JSON.stringify(r.body) };
}

export function httpFunction<P = Record<string, string>, Q = Record<string, string>, B = undefined>(
  name: string,
  spec: HttpSpec<P, Q, B>,
): void {
  registry.functions.push({ name, trigger: 'http', route: spec.route, methods: [spec.method] });
  registry.operations.push({
    name,
    method: spec.method,
    route: spec.route,
    auth: spec.auth,
    params: spec.params,
    query: spec.query,
    body: spec.body,
    doc: spec.doc,
  });
  app.http(name, {
    methods: [spec.method],
    route: spec.route,
    authLevel: 'anonymous',
    handler: async (request: HttpRequest, context: InvocationContext) => {
      const log = invocationLogger(context);
      try {
        const maxBytes = config().HTTP_MAX_BODY_BYTES;
        const declared = Number(request.headers.get('content-length') ?? 0);
        if (declared > maxBytes) throw payloadTooLarge(`The body is ${declared} bytes; the limit is ${maxBytes}.`);
        let principal: Principal | undefined;
        if (spec.auth !== 'anonymous') {
          principal = await callerOf(spec.method, request.headers, spec.changesState ?? spec.method !== 'GET');
          if (spec.auth !== 'signedIn') authorize(principal, spec.auth);
        }
        const params = spec.params ? parseOr400(spec.params, request.params, 'path') : (request.params as P);
        const query = spec.query
          ? parseOr400(spec.query, Object.fromEntries(request.query.entries()), 'query string')
          : (Object.fromEntries(request.query.entries()) as Q);
        const rawBody = ['GET', 'DELETE'].includes(spec.method) ? Buffer.alloc(0) : Buffer.from(await request.arrayBuffer());
        let body = undefined as B;
        if (spec.body && !spec.rawBody)
          body = parseOr400(spec.body, readJsonBody(rawBody, request.headers.get('content-type'), maxBytes), 'body');
        else if (rawBody.length > maxBytes) throw payloadTooLarge(`The body is ${rawBody.length} bytes; the limit is ${maxBytes}.`);
        const result = await spec.handler({
          params,
          query,
          body,
          rawBody,
          headers: request.headers,
          url: new URL(request.url),
          principal,
          log,
          invocationId: context.invocationId,
        });
        return new HttpResponse(toResponse(result));
      } catch (e) {
        if (!(e instanceof AppError) && !(e instanceof z.ZodError)) log.error('Request failed', { error: e, stack: (e as Error)?.stack });
        else if ((e as AppError).status >= 500) log.error('Request failed', { error: e });
        return new HttpResponse(toResponse(errorResult(e, context.invocationId)));
      }
    },
  });
}

export interface TimerInput {
  timer: Timer;
  log: Logger;
}

export function timerFunction(
  name: string,
  spec: { schedule: string; runOnStartup?: boolean; handler: (input: TimerInput) => Promise<void> },
): void {
  registry.functions.push({ name, trigger: 'timer', schedule: spec.schedule });
  app.timer(name, {
    schedule: spec.schedule,
    runOnStartup: spec.runOnStartup,
    handler: async (timer: Timer, context: InvocationContext) => {
      await spec.handler({ timer, log: invocationLogger(context) });
    },
  });
}

/** host.json's queue retry limit: the host moves a message to `<queue>-poison` after this many failed deliveries. */
export const MAX_DEQUEUE_COUNT = hostJson.extensions.queues.maxDequeueCount;

export type QueueInput = Delivery;

/**
 * A queue-triggered function over the app's message envelope. A message that cannot be decoded is
 * moved to `<queue>-poison` at once with the reason, since no retry can fix it; a handler error is
 * rethrown so the host retries it up to maxDequeueCount.
 */
export function queueFunction<T>(
  name: string,
  spec: { queue: (typeof QUEUES)[number]; schema: z.ZodType<T>; handler: (message: Envelope<T>, input: QueueInput) => Promise<void> },
): void {
  registry.functions.push({ name, trigger: 'queue', queue: spec.queue });
  app.storageQueue(name, {
    queueName: spec.queue,
    connection: 'AzureWebJobsStorage',
    handler: async (item: unknown, context: InvocationContext) => {
      const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
      const log = invocationLogger(context, { queue: spec.queue, dequeueCount });
      let message: Envelope<T>;
      try {
        message = decodeMessage(item, spec.schema);
      } catch (e) {
        log.error('Unreadable queue message moved to poison', { error: e });
        await queues.send(`${spec.queue}-poison`, 'undecodable', { reason: (e as Error).message, original: item });
        return;
      }
      const id = context.triggerMetadata?.id;
      const messageId = typeof id === 'string' ? id : '';
      await spec.handler(message, {
        messageId,
        dequeueCount,
        finalDelivery: dequeueCount >= MAX_DEQUEUE_COUNT,
        log: log.child({ type: message.type, key: message.key }),
      });
    },
  });
}

export type { Envelope };
