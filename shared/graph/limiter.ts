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
