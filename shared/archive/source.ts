import { Readable } from 'node:stream';
import { z } from 'zod';
import { AppError } from '../platform/errors';
import { sourceItem, type SourceItem } from './model';

/**
 * The archive provider behind one interface: the TeleMessage-style contract the README documents
 * (ping, items of a time window with cursor paging, each attachment as a stream). A real provider
 * adapter implements ArchiveSource; `httpSource` speaks the documented HTTP contract.
 */
export interface ArchiveSource {
  ping(): Promise<{ account: string; network: string }>;
  /** Items whose time is in [from, to), oldest first, a page at a time. */
  listItems(window: { from: string; to: string }, cursor?: string): Promise<{ items: SourceItem[]; nextCursor?: string }>;
  /** One attachment's bytes from `offset` on. */
  openAttachment(itemId: string, attachmentId: string, offset?: number): Promise<Readable>;
}

export interface SourceCredentials {
  providerUrl: string;
  auth: { kind: 'password'; username: string; password: string } | { kind: 'apiKey'; apiKey: string };
}

/** The provider failed or refused: its status and what it said, never the credentials. */
export class SourceError extends AppError {
  constructor(
    readonly providerStatus: number,
    message: string,
  ) {
    super(502, 'Bad Gateway', `The archive provider answered ${providerStatus || 'nothing'}: ${message}`, { providerStatus });
  }
  /** Worth trying again later (outage, overload, network), as opposed to a refusal. */
  get transient(): boolean {
    return this.providerStatus === 0 || this.providerStatus === 429 || this.providerStatus >= 500;
  }
}

const page = z.object({ items: z.array(sourceItem), nextCursor: z.string().optional() });
const pong = z.object({ account: z.string(), network: z.string() });
const TIMEOUT_MS = 60_000;
const PAGE_SIZE = 200;

export function httpSource(c: SourceCredentials): ArchiveSource {
  const base = c.providerUrl.replace(/\/+$/, '');
  const authorization =
    c.auth.kind === 'password'
      ? `Basic ${Buffer.from(`${c.auth.username}:${c.auth.password}`).toString('base64')}`
      : `ApiKey ${c.auth.apiKey}`;
  const request = async (path: string, headers: Record<string, string> = {}): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { headers: { authorization, ...headers }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e) {
      throw new SourceError(0, `${(e as Error).message} (${base})`);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let message = text.slice(0, 300);
    try {
      message = String((JSON.parse(text) as { message?: string }).message ?? message);
    } catch {
      // not JSON: the start of the text says enough
    }
    throw new SourceError(res.status, message || res.statusText);
  };
  const json = async <T>(schema: z.ZodType<T>, path: string): Promise<T> => {
    const r = schema.safeParse(await (await request(path)).json().catch(() => undefined));
    if (!r.success)
      throw new SourceError(200, `an answer that does not follow the archive contract (${r.error.issues[0]?.message ?? 'invalid'}).`);
    return r.data;
  };
  return {
    ping: () => json(pong, '/v1/ping'),
    listItems: (w, cursor) => {
      const q = new URLSearchParams({ from: w.from, to: w.to, limit: String(PAGE_SIZE), ...(cursor ? { cursor } : {}) });
      return json(page, `/v1/items?${q}`);
    },
    openAttachment: async (itemId, attachmentId, offset = 0) => {
      const res = await request(
        `/v1/items/${encodeURIComponent(itemId)}/attachments/${encodeURIComponent(attachmentId)}`,
        offset ? { range: `bytes=${offset}-` } : {},
      );
      if (offset && res.status !== 206) throw new SourceError(res.status, 'the provider ignored the range asked for.');
      return Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream);
    },
  };
}
