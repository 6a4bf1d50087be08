import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HttpRequest, HttpResponse } from '@azure/functions';
import type { HostControl } from './clock';
import type { CapturedFunction } from './core';
import { invoke, type HostLog } from './invoke';

/** HTTP triggers: ASP.NET-style route templates under the route prefix, methods, raw bodies. */

interface Segment {
  literal?: string;
  param?: string;
  optional?: boolean;
  catchAll?: boolean;
  constraint?: string;
}

export interface HttpRoute {
  fn: CapturedFunction;
  methods: string[] | undefined;
  segments: Segment[];
}

export function parseRoute(template: string): Segment[] {
  return template
    .split('/')
    .filter(Boolean)
    .map((s) => {
      const m = /^\{(\*)?([A-Za-z0-9_]+)(?::([^}?]+))?(\?)?\}$/.exec(s);
      if (!m) return { literal: s.toLowerCase() };
      return { param: m[2], catchAll: !!m[1], constraint: m[3], optional: !!m[4] || !!m[1] };
    });
}

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  guid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  alpha: /^[A-Za-z]+$/,
  bool: /^(true|false)$/i,
};

export function matchRoute(segments: Segment[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg.catchAll) {
      const rest = parts.slice(i).join('/');
      if (rest) params[seg.param!] = rest;
      return params;
    }
    const part = parts[i];
    if (part === undefined) {
      if (seg.optional) continue;
      return undefined;
    }
    if (seg.literal !== undefined) {
      if (part.toLowerCase() !== seg.literal) return undefined;
      continue;
    }
    const c = seg.constraint && CONSTRAINTS[seg.constraint.toLowerCase()];
    if (c && !c.test(part)) return undefined;
    params[seg.param!] = part;
  }
  return parts.length <= segments.length ? params : undefined;
}

export function httpRoutes(fns: CapturedFunction[]): HttpRoute[] {
  const routes = fns
    .filter((f) => f.trigger.type === 'httpTrigger')
    .map((fn) => ({ fn, methods: fn.trigger.methods?.map((m) => m.toUpperCase()), segments: parseRoute(fn.trigger.route ?? fn.name) }));
  // Literal segments win over parameters, as in ASP.NET routing.
  const weight = (r: HttpRoute) => r.segments.map((s) => (s.literal !== undefined ? '0' : s.catchAll ? '2' : '1')).join('');
  return routes.sort((a, b) => (weight(a) < weight(b) ? -1 : weight(a) > weight(b) ? 1 : 0));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function send(res: ServerResponse, result: unknown): Promise<void> {
  const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  res.writeHead(response.status, headers);
  res.end(body);
}

export function createHttpServer(fns: CapturedFunction[], routePrefix: string, hostLog: HostLog, control?: HostControl): Server {
  const routes = httpRoutes(fns);
  const prefix = routePrefix ? `/${routePrefix.replace(/^\/|\/$/g, '')}` : '';
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
      const path = url.pathname;
      const controlled =
        control && path.startsWith('/_host/') ? await control((req.method ?? 'GET').toUpperCase(), path, await readBody(req)) : undefined;
      if (controlled) {
        res.writeHead(controlled.status, { 'content-type': 'application/json' }).end(JSON.stringify(controlled.body));
        return;
      }
      if (prefix && !(path === prefix || path.startsWith(`${prefix}/`))) {
        res.writeHead(404).end();
        return;
      }
      const parts = path.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
      const method = (req.method ?? 'GET').toUpperCase();
      let found: { route: HttpRoute; params: Record<string, string> } | undefined;
      for (const route of routes) {
        if (route.methods && !route.methods.includes(method)) continue;
        const params = matchRoute(route.segments, parts);
        if (params) {
          found = { route, params };
          break;
        }
      }
      if (!found) {
        res.writeHead(404).end();
        return;
      }
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const request = new HttpRequest({
        method,
        url: url.toString(),
        headers,
        query: Object.fromEntries(url.searchParams.entries()),
        params: found.params,
        body: body.length ? { bytes: body } : undefined,
      });
      let result: unknown;
      try {
        result = await invoke(found.route.fn, request, { headers, query: Object.fromEntries(url.searchParams.entries()) }, hostLog);
      } catch {
        res.writeHead(500).end();
        return;
      }
      await send(res, result);
    } catch (e) {
      hostLog(`HTTP host error: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  };
  return createServer((req, res) => void serve(req, res));
}
