/**
 * The app's clock. Everything that compares times (webhook tolerance, schedules, expiry) reads it
 * here, so tests and the sandbox can run days of schedule in seconds.
 */
let source: () => number = () => Date.now();

export const clock = {
  now: (): number => source(),
  date: (): Date => new Date(source()),
  iso: (): string => new Date(source()).toISOString(),
};

/** Replaces the time source (tests); `setClock()` restores real time. */
export function setClock(fn?: () => number): void {
  source = fn ?? (() => Date.now());
}
