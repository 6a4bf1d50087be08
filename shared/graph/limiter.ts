/**
 * Counting semaphores keyed by resource: at most `limit(key)` holders per key at once. Used to keep
 * Graph requests per mailbox within Outlook's 4-concurrent limit, and all requests within a cap.
 */
export class KeyedLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  /** Highest number of holders seen at once, per key (for tests and benchmarks). */
  readonly peak = new Map<string, number>();

  constructor(private readonly limit: (key: string) => number) {}

  async acquire(key: string): Promise<() => void> {
    const n = this.active.get(key) ?? 0;
    if (n >= this.limit(key)) {
      await new Promise<void>((resolve) => {
        let q = this.waiting.get(key);
        if (!q) this.waiting.set(key, (q = []));
        q.push(resolve);
      });
      // The releasing holder handed its slot over without decrementing.
    } else {
      this.active.set(key, n + 1);
    }
    this.peak.set(key, Math.max(this.peak.get(key) ?? 0, this.active.get(key) ?? 0));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.get(key)?.shift();
      if (next) next();
      else {
        const left = (this.active.get(key) ?? 1) - 1;
        if (left > 0) this.active.set(key, left);
        else this.active.delete(key);
      }
    };
  }

  inFlight(key: string): number {
    return this.active.get(key) ?? 0;
  }
}

export interface Window {
  amount: number;
  windowMs: number;
}

/**
 * Sliding-window budgets per key, as Outlook counts them per mailbox: at most `requests.amount`
 * requests and `bytes.amount` bytes of request bodies in any window. A request counts from when it
 * is sent; once answered it counts from then instead (the service counted it somewhere between), or
 * not at all if the service refused it.
 */
export class WindowBudget {
  private readonly sent = new Map<string, number[]>();
  private readonly uploaded = new Map<string, { at: number; bytes: number }[]>();
  /** Room set aside for work about to run (its requests and bytes not sent yet), per key. */
  private readonly held = new Map<string, Set<Reservation>>();
  /** When the next work sent back may return, per key (book). */
  private readonly booked = new Map<string, number>();

  constructor(
    private readonly requests: Window,
    private readonly bytes: Window,
  ) {}

  /** How long (ms) before `count` requests with `bytes` of bodies fit the key's windows; 0 when they fit now. */
  waitMs(key: string, bytes: number, count = 1, now = performance.now()): number {
    const { amount, windowMs } = this.requests;
    const times = this.sent.get(key) ?? [];
    while (times.length && now - times[0] >= windowMs + MARGIN_MS) times.shift();
    let heldRequests = 0;
    let heldBytes = 0;
    for (const r of this.held.get(key) ?? []) {
      heldRequests += r.requests;
      heldBytes += r.bytes;
    }
    const over = times.length + heldRequests + Math.min(count, amount) - amount;
    let wait = over > 0 ? times[over - 1] + windowMs + MARGIN_MS - now : 0;
    const ups = this.uploaded.get(key) ?? [];
    while (ups.length && now - ups[0].at >= this.bytes.windowMs + MARGIN_MS) ups.shift();
    let used = ups.reduce((n, u) => n + u.bytes, 0) + heldBytes;
    if (bytes && ups.length && used + bytes > this.bytes.amount) {
      // Room once enough of the window's bodies have aged out (a body larger than the window waits for all of them).
      let at = ups[ups.length - 1].at;
      for (const u of ups) {
        used -= u.bytes;
        if (used + bytes <= this.bytes.amount) {
          at = u.at;
          break;
        }
      }
      wait = Math.max(wait, at + this.bytes.windowMs + MARGIN_MS - now);
    }
    if (!times.length) this.sent.delete(key);
    if (!ups.length) this.uploaded.delete(key);
    return Math.max(0, wait);
  }

  /**
   * For work that will not wait `waitMs` now and comes back later: when to come back (ms from now),
   * spaced after the work booked before it at the windows' rate, so that returning work arrives as
   * room frees up instead of all at once.
   */
  book(key: string, requests: number, waitMs: number, now = performance.now()): number {
    const at = Math.max(now + waitMs, this.booked.get(key) ?? 0);
    this.booked.set(key, at + (requests * this.requests.windowMs) / this.requests.amount);
    if (this.booked.size > 10_000) for (const [k, t] of this.booked) if (t < now) this.booked.delete(k);
    return at - now;
  }

  /** Sets room aside for `requests` with `bytes` of bodies; requests sent under the reservation use it up. */
  reserve(key: string, requests: number, bytes: number): Reservation {
    const r = { key, requests, bytes };
    let set = this.held.get(key);
    if (!set) this.held.set(key, (set = new Set()));
    set.add(r);
    return r;
  }

  /** Gives back what a reservation did not use. */
  release(r: Reservation): void {
    const set = this.held.get(r.key);
    set?.delete(r);
    if (set && !set.size) this.held.delete(r.key);
  }

  /**
   * Counts a request with `bytes` of body sent now (out of `reservation`, if it was reserved); call
   * the result with whether the service took it, once answered.
   */
  take(key: string, bytes: number, reservation?: Reservation): (admitted: boolean) => void {
    if (reservation) {
      reservation.requests = Math.max(0, reservation.requests - 1);
      reservation.bytes = Math.max(0, reservation.bytes - bytes);
    }
    const sentAt = performance.now();
    let times = this.sent.get(key);
    if (!times) this.sent.set(key, (times = []));
    times.push(sentAt);
    const upload = { at: sentAt, bytes };
    if (bytes) {
      let ups = this.uploaded.get(key);
      if (!ups) this.uploaded.set(key, (ups = []));
      ups.push(upload);
    }
    return (admitted) => {
      const list = this.sent.get(key);
      const i = list?.lastIndexOf(sentAt) ?? -1;
      if (list && i >= 0) {
        list.splice(i, 1);
        if (admitted) insertSorted(list, performance.now());
      }
      const ups = this.uploaded.get(key);
      const j = ups?.indexOf(upload) ?? -1;
      if (ups && j >= 0) {
        ups.splice(j, 1);
        if (admitted) {
          upload.at = performance.now();
          ups.splice(
            sortedIndex(ups, upload.at, (u) => u.at),
            0,
            upload,
          );
        }
      }
    };
  }
}

export interface Reservation {
  readonly key: string;
  requests: number;
  bytes: number;
}

/** Timer granularity between this process and the service's clock. */
const MARGIN_MS = 50;

function sortedIndex<T>(list: T[], value: number, of: (t: T) => number): number {
  let i = list.length;
  while (i > 0 && of(list[i - 1]) > value) i--;
  return i;
}
const insertSorted = (list: number[], value: number) =>
  list.splice(
    sortedIndex(list, value, (v) => v),
    0,
    value,
  );
