import { CronExpressionParser } from 'cron-parser';
import type { CapturedFunction } from './core';
import { invoke, type HostLog } from './invoke';
import { resolveSettingExpression, timeSpanMs } from './settings';

/**
 * Timer triggers on NCRONTAB six-field schedules ({second} {minute} {hour} {day} {month}
 * {day-of-week}, UTC) or TimeSpan intervals, with %SETTING% expressions; startTimer runs them.
 */
export interface Schedule {
  next(after: Date): Date;
}

export function parseSchedule(expression: string): Schedule {
  if (/^\d+(\.\d+)?:\d{2}:\d{2}$|^\d{1,2}:\d{2}:\d{2}$/.test(expression.trim())) {
    const every = timeSpanMs(expression);
    if (every <= 0) throw new Error(`Timer interval '${expression}' must be positive.`);
    return { next: (after) => new Date(after.getTime() + every) };
  }
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6)
    throw new Error(`Timer schedule '${expression}' must have six NCRONTAB fields: {second} {minute} {hour} {day} {month} {day-of-week}.`);
  CronExpressionParser.parse(expression, { tz: 'UTC' }); // throws on a bad expression
  return { next: (after) => CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: after }).next().toDate() };
}

export interface TimerRunner {
  stop(): Promise<void>;
}

/** What the Functions host records before any run (DateTime.MinValue). */
const NEVER = new Date('0001-01-01T00:00:00Z');

/**
 * Runs one timer function the way the Functions host's timer listener does: one run at a time, each
 * occurrence at or after its due time, and an occurrence that passed while the previous run was
 * still going runs as soon as that run ends (missed ones collapse into one).
 *
 * setTimeout counts on a monotonic clock and `now` reads the wall clock, so a timeout can fire a
 * little before its due time by `now`; such a wake-up waits again for the rest instead of running
 * early. The timer passed to the function has `isPastDue` false, as the host's is for every
 * scheduled run (it is only true for an occurrence missed while the app was stopped, which needs
 * the host's stored schedule status; this host keeps none), and `scheduleStatus` with `last` (the
 * previous run's occurrence, or its start if that was later), `next` (the occurrence after this one) and `lastUpdated`.
 */
export function startTimer(
  fn: CapturedFunction,
  env: NodeJS.ProcessEnv,
  hostLog: HostLog,
  now: () => Date = () => new Date(),
): TimerRunner {
  const expression = resolveSettingExpression(String(fn.trigger.schedule ?? ''), env);
  const schedule = parseSchedule(expression);
  let stopped = false;
  let timeout: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let last = NEVER;

  /** Runs the occurrence due at `due` and answers the next one. */
  const run = async (due: Date): Promise<Date> => {
    const started = now();
    // Like the host, the next occurrence counts from the due time or the start, whichever is later,
    // never from an earlier instant, so the occurrence being run is never announced again. (The host
    // passes the status stored before the run, whose next is this occurrence; here it is the one after.)
    const at = started > due ? started : due;
    const next = schedule.next(at);
    const timer = {
      isPastDue: false,
      scheduleStatus: { last: last.toISOString(), next: next.toISOString(), lastUpdated: started.toISOString() },
    };
    last = at;
    try {
      await invoke(fn, timer, { timer }, hostLog);
    } catch {
      // Logged by invoke(); a failed run does not stop the schedule.
    }
    return next;
  };

  // setTimeout fires at once for delays over 2^31-1 ms (about 24.8 days), so long waits go in steps.
  const MAX_DELAY = 2 ** 31 - 1;
  const wait = (due: Date) => {
    if (stopped) return;
    const delay = due.getTime() - now().getTime();
    if (delay > MAX_DELAY) timeout = setTimeout(() => wait(due), MAX_DELAY);
    else if (delay > 0) timeout = setTimeout(() => wait(due), delay);
    else running = run(due).then(wait);
  };

  if (fn.trigger.runOnStartup) running = run(now()).then(wait);
  else wait(schedule.next(now()));
  return {
    stop: async () => {
      stopped = true;
      if (timeout) clearTimeout(timeout);
      await running;
    },
  };
}
