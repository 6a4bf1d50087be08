import { createCipheriv, createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson, sendProblem, type SandboxRequest } from '../http';
import { sandboxClock } from '../clock';

/**
 * A TeleMessage-style mobile archiving provider. TeleMessage publishes no API, so this is the
 * contract a real provider adapter implements (the README documents it):
 *
 *   GET /archive/v1/ping                                  → 200 {account, network}
 *   GET /archive/v1/items?from=&to=&limit=&cursor=        → 200 {items: [ArchiveItem], nextCursor?}
 *       items whose timestampUtc is in [from, to), oldest first; limit 1..500 (default 100)
 *   GET /archive/v1/items/{id}/attachments/{attachmentId} → 200 the bytes (Content-Length; Range: bytes=N- → 206)
 *
 * Authorization: `Basic base64(username:password)` or `ApiKey <key>`; anything else is a 401.
 * Errors are JSON {error, message}. Attachment bytes are generated from their id as they are sent,
 * so a 100 MB recording costs no memory here.
 *
 * Control: POST /_sandbox/archive/items {day: "2026-11-29", count?, large?} seeds a realistic day
 * (SMS, MMS, voice; with `large`, a 15 MB MMS and a 100 MB recording); PUT /_sandbox/archive/faults
 * {status?, count?, latencyMs?, downUntil?} injects failures; GET /_sandbox/archive/stats.
 */

export interface Party {
  name: string;
  /** International form without '+', as TeleMessage's login names. */
  mobile: string;
  email: string | null;
}

export interface ArchiveAttachment {
  id: string;
  fileName: string;
  contentType: string;
  size: number;
  sha256: string;
}

export interface ArchiveItem {
  id: string;
  type: 'SMS' | 'MMS' | 'VOICE';
  network: string;
  threadId: string;
  timestampUtc: string;
  direction: 'in' | 'out';
  from: Party;
  to: Party[];
  body: string | null;
  durationSec: number | null;
  attachments: ArchiveAttachment[];
}

export interface ArchiveFaults {
  /** Status answered to the next `count` API requests (all of them without a count). */
  status?: number;
  count?: number;
  latencyMs?: number;
  /** The provider is down (503) until this time by the sandbox clock. */
  downUntil?: string;
}

export const ARCHIVE_ACCOUNT = { username: 'o2-archive-admin', password: 'sandbox-archive-password', apiKey: 'tmk_sandbox_archive_key' };

/** The sandbox's own people: their mobiles and their mailboxes in the demo tenant. */
export const ARCHIVE_PEOPLE: Party[] = [
  { name: 'Adele Vance', mobile: '447700900101', email: 'adele@contoso-demo.example' },
  { name: 'Alex Wilber', mobile: '447700900102', email: 'alex@contoso-demo.example' },
  { name: 'Diego Siciliani', mobile: '447700900103', email: 'diego@contoso-demo.example' },
  { name: 'Megan Bowen', mobile: '447700900104', email: 'megan@contoso-demo.example' },
  // Registered with the provider under an address the tenant does not have: mapped only by CSV.
  { name: 'Isaiah Langer', mobile: '447700900105', email: 'isaiah.langer@old-domain.example' },
];
const OUTSIDER: Party = { name: 'Customer', mobile: '447700900999', email: null };

const MB = 1024 * 1024;

/**
 * Deterministic bytes of an attachment, in pieces: the same id always gives the same content. An
 * AES-CTR keystream keyed by the id, so any offset is produced directly and fast.
 */
export function* attachmentBytes(id: string, size: number, from = 0, piece = 256 * 1024): Generator<Buffer> {
  const key = createHash('sha256').update(id).digest().subarray(0, 16);
  for (let at = from; at < size;) {
    const end = Math.min(size, at + piece);
    const counter = Buffer.alloc(16);
    counter.writeBigUInt64BE(BigInt(Math.floor(at / 16)), 8);
    const skip = at % 16;
    const stream = createCipheriv('aes-128-ctr', key, counter).update(Buffer.alloc(skip + end - at));
    yield stream.subarray(skip);
    at = end;
  }
}

const digests = new Map<string, string>();
function digest(id: string, size: number): string {
  const key = `${id}:${size}`;
  let hex = digests.get(key);
  if (!hex) {
    const h = createHash('sha256');
    for (const piece of attachmentBytes(id, size, 0, 4 * MB)) h.update(piece);
    digests.set(key, (hex = h.digest('hex')));
  }
  return hex;
}

export class ArchiveProvider {
  items: ArchiveItem[] = [];
  faults: ArchiveFaults = {};
  stats = { requests: 0, itemPages: 0, attachmentBytes: 0, refused: 0 };

  attachment(id: string, fileName: string, contentType: string, size: number): ArchiveAttachment {
    return { id, fileName, contentType, size, sha256: digest(id, size) };
  }

  /** A realistic day of one company's O2 phones; ids derive from the day, so seeding twice adds nothing. */
  seedDay(day: string, opts: { count?: number; large?: boolean } = {}): ArchiveItem[] {
    const start = Date.parse(`${day}T00:00:00Z`);
    const count = opts.count ?? 12;
    const added: ArchiveItem[] = [];
    for (let i = 0; i < count; i++) {
      const id = `tm-${day.replaceAll('-', '')}-${String(i).padStart(5, '0')}`;
      if (this.items.some((x) => x.id === id)) continue;
      const from = ARCHIVE_PEOPLE[i % ARCHIVE_PEOPLE.length];
      const to = i % 3 === 2 ? [OUTSIDER] : [ARCHIVE_PEOPLE[(i + 1) % ARCHIVE_PEOPLE.length]];
      const type = (['SMS', 'SMS', 'MMS', 'VOICE'] as const)[i % 4];
      const at = new Date(start + Math.floor(((i + 0.5) * 86_400_000) / count)).toISOString();
      const item: ArchiveItem = {
        id,
        type,
        network: 'O2',
        threadId: `thread-${from.mobile}-${to[0].mobile}`,
        timestampUtc: at,
        direction: i % 2 ? 'in' : 'out',
        from,
        to,
        body: type === 'VOICE' ? null : `Message ${i} of ${day}: see you at ${9 + (i % 8)}:00.`,
        durationSec: type === 'VOICE' ? 30 + i * 7 : null,
        attachments:
          type === 'MMS'
            ? [this.attachment(`${id}-a1`, `photo-${i}.jpg`, 'image/jpeg', 40_000 + i * 1000)]
            : type === 'VOICE'
              ? [this.attachment(`${id}-rec`, `${id}.mp3`, 'audio/mpeg', 200_000 + i * 5000)]
              : [],
      };
      added.push(item);
    }
    if (opts.large) {
      const big = `tm-${day.replaceAll('-', '')}-large`;
      if (!this.items.some((x) => x.id.startsWith(big))) {
        const [a, b] = ARCHIVE_PEOPLE;
        added.push(
          {
            id: `${big}-mms`,
            type: 'MMS',
            network: 'O2',
            threadId: `thread-${a.mobile}-${b.mobile}`,
            timestampUtc: new Date(start + 10 * 3_600_000).toISOString(),
            direction: 'out',
            from: a,
            to: [b],
            body: 'The site survey video.',
            durationSec: null,
            attachments: [this.attachment(`${big}-mms-a1`, 'survey.mp4', 'video/mp4', 15 * MB)],
          },
          {
            id: `${big}-voice`,
            type: 'VOICE',
            network: 'O2',
            threadId: `thread-${b.mobile}-${a.mobile}`,
            timestampUtc: new Date(start + 14 * 3_600_000).toISOString(),
            direction: 'in',
            from: b,
            to: [a],
            body: null,
            durationSec: 6_400,
            attachments: [this.attachment(`${big}-voice-rec`, `${big}-voice.mp3`, 'audio/mpeg', 100 * MB)],
          },
        );
      }
    }
    this.items.push(...added);
    this.items.sort((x, y) => x.timestampUtc.localeCompare(y.timestampUtc) || x.id.localeCompare(y.id));
    return added;
  }

  private authorized(req: SandboxRequest): boolean {
    const auth = String(req.headers.authorization ?? '');
    const basic = `Basic ${Buffer.from(`${ARCHIVE_ACCOUNT.username}:${ARCHIVE_ACCOUNT.password}`).toString('base64')}`;
    return auth === basic || auth === `ApiKey ${ARCHIVE_ACCOUNT.apiKey}`;
  }

  /** The fault to answer this request with, if any. */
  private async fault(): Promise<number | undefined> {
    const f = this.faults;
    if (f.latencyMs) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (f.downUntil && sandboxClock.now() < Date.parse(f.downUntil)) return 503;
    if (f.status && (f.count === undefined || f.count > 0)) {
      if (f.count !== undefined) f.count--;
      return f.status;
    }
    return undefined;
  }

  /** The provider's API; false when the request is not for it. */
  async handle(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    const m = /^\/archive\/v1\/(ping|items)(?:\/([^/]+)\/attachments\/([^/]+))?$/.exec(req.path);
    if (!m || req.method !== 'GET') return false;
    this.stats.requests++;
    const failing = await this.fault();
    if (failing) {
      sendJson(res, failing, { error: failing === 503 ? 'unavailable' : 'server_error', message: 'The archive service failed.' });
      return true;
    }
    if (!this.authorized(req)) {
      this.stats.refused++;
      sendJson(res, 401, { error: 'unauthorized', message: 'Unknown username and password, or API key.' });
      return true;
    }
    if (m[1] === 'ping') {
      sendJson(res, 200, { account: ARCHIVE_ACCOUNT.username, network: 'O2' });
      return true;
    }
    if (m[2]) return this.sendAttachment(req, res, m[2], m[3]);
    const q = req.url.searchParams;
    const from = Date.parse(q.get('from') ?? '');
    const to = Date.parse(q.get('to') ?? '');
    const limit = Number(q.get('limit') ?? 100);
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to || !Number.isInteger(limit) || limit < 1 || limit > 500) {
      sendJson(res, 400, { error: 'bad_request', message: 'Send from < to (ISO 8601) and limit 1..500.' });
      return true;
    }
    const cursor = q.get('cursor');
    const after = cursor ? Buffer.from(cursor, 'base64url').toString() : undefined;
    const inWindow = this.items.filter((x) => {
      const t = Date.parse(x.timestampUtc);
      return t >= from && t < to && (!after || `${x.timestampUtc}|${x.id}` > after);
    });
    const page = inWindow.slice(0, limit);
    const last = page.at(-1);
    this.stats.itemPages++;
    sendJson(res, 200, {
      items: page,
      ...(inWindow.length > limit && last ? { nextCursor: Buffer.from(`${last.timestampUtc}|${last.id}`).toString('base64url') } : {}),
    });
    return true;
  }

  private sendAttachment(req: SandboxRequest, res: ServerResponse, itemId: string, attachmentId: string): boolean {
    const a = this.items.find((x) => x.id === itemId)?.attachments.find((x) => x.id === attachmentId);
    if (!a) {
      sendJson(res, 404, { error: 'not_found', message: `No attachment ${attachmentId} on item ${itemId}.` });
      return true;
    }
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const from = range ? Number(range[1]) : 0;
    if (from > a.size) {
      sendJson(res, 416, { error: 'range_not_satisfiable', message: `The attachment has ${a.size} bytes.` });
      return true;
    }
    res.writeHead(range ? 206 : 200, {
      'content-type': a.contentType,
      'content-length': String(a.size - from),
      ...(range ? { 'content-range': `bytes ${from}-${a.size - 1}/${a.size}` } : {}),
    });
    const pieces = attachmentBytes(a.id, a.size, from);
    // Written as the socket drains, so a slow reader never makes the sandbox buffer the file.
    const pump = () => {
      for (let next = pieces.next(); !next.done; next = pieces.next()) {
        this.stats.attachmentBytes += next.value.length;
        if (!res.write(next.value)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return true;
  }

  /** The sandbox control routes of the provider; false when the request is not for them. */
  control(req: SandboxRequest, res: ServerResponse): boolean {
    if (req.path === '/_sandbox/archive/items' && req.method === 'POST') {
      const b = (req.json() ?? {}) as { day?: string; count?: number; large?: boolean };
      if (!b.day || !/^\d{4}-\d{2}-\d{2}$/.test(b.day)) {
        sendProblem(res, 400, 'Bad Request', 'Send {"day": "YYYY-MM-DD", "count"?: 12, "large"?: false}.');
        return true;
      }
      sendJson(res, 200, { value: this.seedDay(b.day, b) });
      return true;
    }
    if (req.path === '/_sandbox/archive/faults' && req.method === 'PUT') {
      this.faults = req.json() ?? {};
      sendJson(res, 200, this.faults);
      return true;
    }
    if (req.path === '/_sandbox/archive/stats' && req.method === 'GET') {
      sendJson(res, 200, { ...this.stats, items: this.items.length });
      return true;
    }
    return false;
  }
}
