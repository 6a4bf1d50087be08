import type { IncomingMessage, ServerResponse } from 'node:http';

/** Small helpers for the sandbox's hand-written HTTP endpoints. */
export interface SandboxRequest {
  method: string;
  url: URL;
  /** Path without the query, decoded per segment. */
  path: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  secure: boolean;
  json(): unknown;
  form(): URLSearchParams;
}

export async function readRequest(req: IncomingMessage, secure: boolean, origin: string): Promise<SandboxRequest> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const url = new URL(req.url ?? '/', origin);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    path: url.pathname,
    headers: req.headers,
    raw,
    secure,
    json: () => (raw.length ? (JSON.parse(raw.toString('utf8')) as unknown) : undefined),
    form: () => new URLSearchParams(raw.toString('utf8')),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}), ...headers });
  res.end(text);
}

/** An RFC 9457 problem, as the app itself answers errors (the sandbox's own control API uses it). */
export function sendProblem(res: ServerResponse, status: number, title: string, detail: string): void {
  res.writeHead(status, { 'Content-Type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
}

export function sendHtml(res: ServerResponse, status: number, title: string, message: string): void {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1><p>${esc(message)}</p></body></html>`);
}
