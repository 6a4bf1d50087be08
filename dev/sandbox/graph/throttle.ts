/**
 * Outlook's limits per app and mailbox (Graph's "throttling limits", Outlook service limits): 4
 * requests at once, 10,000 requests per 10 minutes, and 150 MB of uploads (PATCH, POST and PUT
 * bodies) per 5 minutes, counted over sliding windows. Graph calls to /users/{id}/... and the PUTs to
 * an upload session's URL both count. A refused request is answered 429 with the Retry-After that
 * admits it, and is not counted. Benchmarks shorten the windows (same rates) so a short run is bound
 * by them.
 */

const MB = 1024 * 1024;
const OUTLOOK = { concurrent: 4, requests: 10_000, requestWindowMs: 600_000, uploadBytes: 150 * MB, uploadWindowMs: 300_000 };
export const mailboxLimits = { ...OUTLOOK };

export interface Refusal {
  code: 'ApplicationThrottled';
  message: string;
  retryAfterSeconds: number;
}

/** What one mailbox was sent: admitted requests and bytes, refusals, first and last admitted (ms). */
export interface MailboxUse {
  requests: number;
  bytes: number;
  throttled: number;
  peakInFlight: number;
  first: number;
  last: number;
}

export class MailboxThrottle {
  private readonly inFlight = new Map<string, number>();
  private readonly requests = new Map<string, number[]>();
  private readonly uploads = new Map<string, { at: number; bytes: number }[]>();
  readonly usage = new Map<string, MailboxUse>();

  reset(): void {
    Object.assign(mailboxLimits, OUTLOOK);
    this.inFlight.clear();
    this.requests.clear();
    this.uploads.clear();
    this.usage.clear();
  }

  private use(key: string): MailboxUse {
    let u = this.usage.get(key);
    if (!u) this.usage.set(key, (u = { requests: 0, bytes: 0, throttled: 0, peakInFlight: 0, first: 0, last: 0 }));
    return u;
  }

  /** Counts a request in flight for the mailbox until the returned function is called. */
  enter(key: string): () => void {
    const n = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, n);
    const u = this.use(key);
    u.peakInFlight = Math.max(u.peakInFlight, n);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
    };
  }

  /** Requests of the mailbox in flight now. */
  inFlightOf(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }

  /** Admits (and counts) a request in flight carrying `bytes` of upload, or says why not and when to come back. */
  admit(key: string, bytes: number, now = Date.now()): Refusal | undefined {
    const u = this.use(key);
    const refuse = (limit: string, waitMs: number): Refusal => {
      u.throttled++;
      return {
        code: 'ApplicationThrottled',
        message: `Application is over its ${limit} limit for this mailbox.`,
        retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
      };
    };
    if ((this.inFlight.get(key) ?? 0) > mailboxLimits.concurrent) return refuse('MailboxConcurrency', 1000);

    const times = this.requests.get(key) ?? [];
    while (times.length && now - times[0] >= mailboxLimits.requestWindowMs) times.shift();
    if (times.length >= mailboxLimits.requests)
      return refuse('request', times[times.length - mailboxLimits.requests] + mailboxLimits.requestWindowMs - now);

    const sent = this.uploads.get(key) ?? [];
    while (sent.length && now - sent[0].at >= mailboxLimits.uploadWindowMs) sent.shift();
    let used = sent.reduce((n, s) => n + s.bytes, 0);
    if (bytes && used + bytes > mailboxLimits.uploadBytes) {
      // Admitted once enough of the window's uploads have aged out.
      let wait = mailboxLimits.uploadWindowMs;
      for (const s of sent) {
        used -= s.bytes;
        if (used + bytes <= mailboxLimits.uploadBytes) {
          wait = s.at + mailboxLimits.uploadWindowMs - now;
          break;
        }
      }
      return refuse('upload', wait);
    }

    times.push(now);
    this.requests.set(key, times);
    if (bytes) {
      sent.push({ at: now, bytes });
      this.uploads.set(key, sent);
    }
    u.requests++;
    u.bytes += bytes;
    u.first ||= now;
    u.last = now;
    return undefined;
  }
}

/** The sandbox's one account of mailbox use, shared by the Graph routes and the upload URL. */
export const mailboxThrottle = new MailboxThrottle();
