import { z } from 'zod';
import { config } from './config';
import { AppError, badRequest, payloadTooLarge, unsupportedMediaType, type FieldError } from './errors';

/** RFC 9457 problem details, the one error body of every HTTP function. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

export interface HttpResult {
  status: number;
  headers?: Record<string, string>;
  /** A JSON body (objects, arrays) or a raw body (string, Buffer). */
  body?: unknown;
}

export const PROBLEM_TYPE = 'about:blank';

export function problemResult(
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): HttpResult {
  const body: Problem = { type: PROBLEM_TYPE, title, status, detail, ...extra };
  return { status, headers: { 'Content-Type': 'application/problem+json', ...headers }, body };
}

export function errorResult(e: unknown, invocationId?: string): HttpResult {
  if (e instanceof AppError) return problemResult(e.status, e.title, e.detail, e.extra, e.headers);
  if (e instanceof z.ZodError) return problemResult(400, 'Bad Request', 'The request is invalid; see errors.', { errors: zodErrors(e) });
  return problemResult(
    500,
    'Internal Server Error',
    `The request failed inside the app${invocationId ? `; quote invocation id ${invocationId} when reporting it` : ''}.`,
    invocationId ? { invocationId } : {},
  );
}

export function zodErrors(e: z.ZodError): FieldError[] {
  return e.issues.map((i) => ({ field: i.path.length ? i.path.join('.') : '(body)', message: i.message }));
}

/** Parses `value` with `schema`, or throws a 400 naming each bad field. */
export function parseOr400<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw badRequest(
      `The ${what} is invalid: ${r.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ')}.`,
      zodErrors(r.error),
    );
  return r.data;
}

/** The query of a list an API pages through: rows per page, and the token from the previous page's nextLink. */
export const pageQuery = z.object({
  top: z.coerce.number().int().min(1).max(1000).default(100).describe('Rows per page (at most 1000).'),
  continuationToken: z.string().max(4096).optional().describe("Where to go on: from the previous page's nextLink."),
});

/** The schema of a page's body, for the API description. */
export const pageOf = <T extends z.ZodType>(row: T) =>
  z.object({ value: z.array(row), nextLink: z.string().optional().describe('The next page, while there is one.') });

/** A page's body: its rows, and the link (on the app's public URL) to the next page while there is one. */
export function pageBody<T>({ value, next }: { value: T[]; next?: string }, url: URL): { value: T[]; nextLink?: string } {
  if (!next) return { value };
  const link = new URL(`${config().PUBLIC_BASE_URL.replace(/\/$/, '')}${url.pathname}${url.search}`);
  link.searchParams.set('continuationToken', next);
  return { value, nextLink: link.toString() };
}

/** Checks size and media type, then parses JSON. Nothing is read past `maxBytes`. */
export function readJsonBody(raw: Buffer, contentType: string | null, maxBytes: number): unknown {
  if (raw.length > maxBytes) throw payloadTooLarge(`The body is ${raw.length} bytes; the limit is ${maxBytes}.`);
  if (!isJson(contentType))
    throw unsupportedMediaType(`Send the body as application/json (got ${contentType ? `'${contentType}'` : 'no Content-Type'}).`);
  if (raw.length === 0) throw badRequest('The body is empty; send a JSON document.');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw badRequest(`The body is not valid JSON: ${(e as Error).message}.`);
  }
}

export function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const media = contentType.split(';')[0].trim().toLowerCase();
  return media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}

/** Text made safe to put in HTML, as content or as an attribute value. */
export const escapeHtml = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A minimal HTML page for browser flows (OAuth redirects end on one of these). */
export function htmlPage(status: number, title: string, message: string, headers: Record<string, string> = {}): HttpResult {
  return {
    status,
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`,
  };
}

/**
 * A CSV file (RFC 4180: CRLF line ends, a cell quoted when it holds a quote, comma or line break)
 * for admins to open in a spreadsheet. A cell a spreadsheet would read as a formula (=, +, -, @
 * first) is prefixed with a quote.
 */
export function csvFile(header: readonly string[], rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  const cell = (v: string | number | null | undefined) => {
    const s = v === null || v === undefined ? '' : String(v);
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return `${[header.map(cell).join(','), ...rows.map((r) => r.map(cell).join(','))].join('\r\n')}\r\n`;
}
