/**
 * The sandbox's "now": real time, moved together with the local host's clock (PUT /_host/clock
 * forwards to PUT /_sandbox/clock), so webhook timestamps, sync times and expiry dates the tenant
 * reports agree with the app's clock. Entra ID tokens stay on real time, as the libraries that
 * check them do.
 */
let offsetMs = 0;

export const sandboxClock = {
  now: () => Date.now() + offsetMs,
  iso: () => new Date(Date.now() + offsetMs).toISOString(),
  get offsetMs() {
    return offsetMs;
  },
  set(ms: number) {
    offsetMs = ms;
  },
};
