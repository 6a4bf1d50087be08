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
 * is sent (the service counts it when it arrives, within the margin), or not at all if the service
 * refused it.
 */
export class WindowBudget {
  private readonly sent = new Map<string, number[]>();
  private readonly uploaded = new Map<string, { at: number; bytes: number }[]>();
  /** Room set aside for work about to run (its requests and bytes not sent yet), per key. */
  private readonly held = new Map<string, Set<Reservation>>();
  /** Work booked to come (book), oldest first, per key: counted at its moment until it starts or that moment has aged out. */
  private readonly booked = new Map<string, Booked[]>();

  constructor(
    private readonly requests: Window,
    private readonly bytes: Window,
  ) {}

  /**
   * How long (ms) before `count` requests with `bytes` of bodies fit the key's windows; 0 when they
   * fit now. A request of work that reserved room (`own`) counts the others' reservations, not its own.
   */
  waitMs(key: string, bytes: number, count = 1, now = performance.now(), own?: Reservation): number {
    const { amount, windowMs } = this.requests;
    const times = this.sent.get(key) ?? [];
    while (times.length && now - times[0] >= windowMs + MARGIN_MS) times.shift();
    let heldRequests = 0;
    let heldBytes = 0;
    for (const r of this.held.get(key) ?? [])
      if (r !== own) {
        heldRequests += r.requests;
        heldBytes += r.bytes;
      }
    const over = times.length + heldRequests + Math.min(count, amount) - amount;
    // Past what was sent, the room is held by work not sent yet: it frees a window after that is sent, at the soonest.
    let wait = over <= 0 ? 0 : over <= times.length ? times[over - 1] + windowMs + MARGIN_MS - now : windowMs + MARGIN_MS;
    const ups = this.uploaded.get(key) ?? [];
    while (ups.length && now - ups[0].at >= this.bytes.windowMs + MARGIN_MS) ups.shift();
    let used = ups.reduce((n, u) => n + u.bytes, 0) + heldBytes;
    if (bytes && used > 0 && used + bytes > this.bytes.amount) {
      // Room once enough of the window's bodies have aged out; bodies held by work not sent yet age out
      // a window after they go, at the soonest; a body larger than the window waits for all of them.
      let at = heldBytes ? now : ups[ups.length - 1].at;
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
   * Books work `id` that will not start within `waitMs` from now: the first moment (ms from now) its
   * requests and bytes fit the windows, with what was sent, what is held and the work booked before
   * it counted at their moments; later work is booked no earlier than earlier work. Work so booked
   * fills each window as it frees up, as the service would admit it. Booking `id` again replaces its
   * booking; starting it (withRoom) ends it.
   */
  book(key: string, id: string, requests: number, bytes: number, waitMs: number, now = performance.now()): number {
    const horizon = Math.max(this.requests.windowMs, this.bytes.windowMs) + MARGIN_MS;
    const plans = (this.booked.get(key) ?? []).filter((p) => p.id !== id && now - p.at < horizon);
    let heldRequests = 0;
    let heldBytes = 0;
    for (const r of this.held.get(key) ?? []) {
      heldRequests += r.requests;
      heldBytes += r.bytes;
    }
    const sent = this.sent.get(key) ?? [];
    const ups = this.uploaded.get(key) ?? [];
    let at = Math.max(now + waitMs, plans.at(-1)?.at ?? 0);
    /**
     * Walks the events newest first (the booked, the held at `now`, the sent; each list oldest
     * first): once the events newer than one leave no room for `need`, that one must have aged out.
     */
    const fit = (
      window: Window,
      need: number,
      booked: (p: Booked) => number,
      held: number,
      past: number,
      pastAt: (j: number) => number,
      pastN: (j: number) => number,
    ) => {
      if (!need) return;
      let used = 0;
      let i = plans.length - 1;
      let j = past - 1;
      let heldLeft = held > 0;
      for (;;) {
        const next = Math.max(i >= 0 ? plans[i].at : -Infinity, heldLeft ? now : -Infinity, j >= 0 ? pastAt(j) : -Infinity);
        if (next === -Infinity) return;
        let e: number;
        if (i >= 0 && plans[i].at === next) e = booked(plans[i--]);
        else if (heldLeft && next === now) {
          e = held;
          heldLeft = false;
        } else e = pastN(j--);
        used += e;
        if (used + need > window.amount) {
          at = Math.max(at, next + window.windowMs + MARGIN_MS);
          return;
        }
      }
    };
    fit(
      this.requests,
      requests,
      (p) => p.requests,
      heldRequests,
      sent.length,
      (j) => sent[j],
      () => 1,
    );
    fit(
      this.bytes,
      bytes,
      (p) => p.bytes,
      heldBytes,
      ups.length,
      (j) => ups[j].at,
      (j) => ups[j].bytes,
    );
    plans.push({ id, at, requests, bytes });
    this.booked.set(key, plans);
    if (this.booked.size > 10_000) for (const [k, p] of this.booked) if (!p.some((b) => now - b.at < horizon)) this.booked.delete(k);
    return at - now;
  }

  /** Sets room aside for `requests` with `bytes` of bodies (ending work `id`'s booking); requests sent under the reservation use it up. */
  reserve(key: string, requests: number, bytes: number, id?: string): Reservation {
    if (id) {
      const plans = this.booked.get(key);
      const i = plans?.findIndex((p) => p.id === id) ?? -1;
      if (i >= 0) plans!.splice(i, 1);
    }
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
   * Counts a request with `bytes` of body about to be sent (out of `reservation`, if it was
   * reserved); call the result once answered, with whether the service took it and when the request
   * went out.
   */
  take(key: string, bytes: number, reservation?: Reservation): (admitted: boolean, sentAt?: number) => void {
    if (reservation) {
      reservation.requests = Math.max(0, reservation.requests - 1);
      reservation.bytes = Math.max(0, reservation.bytes - bytes);
    }
    const takenAt = performance.now();
    let times = this.sent.get(key);
    if (!times) this.sent.set(key, (times = []));
    times.push(takenAt);
    const upload = { at: takenAt, bytes };
    if (bytes) {
      let ups = this.uploaded.get(key);
      if (!ups) this.uploaded.set(key, (ups = []));
      ups.push(upload);
    }
    return (admitted, sentAt = takenAt) => {
      const list = this.sent.get(key);
      const i = list?.lastIndexOf(takenAt) ?? -1;
      if (list && i >= 0) {
        list.splice(i, 1);
        if (admitted) insertSorted(list, sentAt);
      }
      const ups = this.uploaded.get(key);
      const j = ups?.indexOf(upload) ?? -1;
      if (ups && j >= 0) {
        ups.splice(j, 1);
        if (admitted) {
          upload.at = sentAt;
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

interface Booked {
  id: string;
  at: number;
  requests: number;
  bytes: number;
}

export interface Reservation {
  readonly key: string;
  requests: number;
  bytes: number;
}

/** The way from this process to the service, and timer granularity: a request arrives within this after it is sent. */
const MARGIN_MS = 250;

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
