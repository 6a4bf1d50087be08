import { CronExpressionParser } from 'cron-parser';
import type { CapturedFunction } from './core';
import { invoke, type HostLog } from './invoke';
import { resolveSettingExpression, timeSpanMs } from './settings';

/**
 * Timer triggers on NCRONTAB six-field schedules ({second} {minute} {hour} {day} {month}
 * {day-of-week}, UTC) or TimeSpan intervals, with %SETTING% expressions. Like the Functions host,
 * an occurrence never overlaps the previous run; a run that starts late is marked isPastDue.
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
  if (fields.length !== 6) throw new Error(`Timer schedule '${expression}' must have six NCRONTAB fields: {second} {minute} {hour} {day} {month} {day-of-week}.`);
  CronExpressionParser.parse(expression, { tz: 'UTC' }); // throws on a bad expression
  return { next: (after) => CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: after }).next().toDate() };
}

export interface TimerRunner {
  stop(): Promise<void>;
}

export function startTimer(fn: CapturedFunction, env: NodeJS.ProcessEnv, hostLog: HostLog, now: () => Date = () => new Date()): TimerRunner {
  const expression = resolveSettingExpression(String(fn.trigger.schedule ?? ''), env);
  const schedule = parseSchedule(expression);
  let stopped = false;
  let timeout: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let last: Date | undefined;

  const run = async (due: Date) => {
    const started = now();
    const next = schedule.next(started);
    const timer = { isPastDue: started.getTime() - due.getTime() > 1000, scheduleStatus: { last: (last ?? due).toISOString(), next: next.toISOString(), lastUpdated: started.toISOString() } };
    last = started;
    try {
      await invoke(fn, timer, { timer }, hostLog);
    } catch {
      // Logged by invoke(); a failed run does not stop the schedule.
    }
  };

  // setTimeout fires at once for delays over 2^31-1 ms (about 24.8 days), so long waits go in steps.
  const MAX_DELAY = 2 ** 31 - 1;
  const wait = (due: Date) => {
    if (stopped) return;
    const delay = due.getTime() - now().getTime();
    if (delay > MAX_DELAY) timeout = setTimeout(() => wait(due), MAX_DELAY);
    else
      timeout = setTimeout(() => {
        running = run(due).finally(arm);
      }, Math.max(0, delay));
  };
  const arm = () => wait(schedule.next(now()));

  if (fn.trigger.runOnStartup) running = run(now()).finally(arm);
  else arm();
  return {
    stop: async () => {
      stopped = true;
      if (timeout) clearTimeout(timeout);
      await running;
    },
  };
}
