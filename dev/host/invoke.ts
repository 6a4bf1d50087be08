import { randomUUID } from 'node:crypto';
import { InvocationContext } from '@azure/functions';
import type { CapturedFunction } from './core';

export type HostLog = (line: string) => void;

/**
 * Runs one invocation the way the worker does (handler(trigger input, context)) and logs it with
 * its function name, outcome and duration.
 */
export async function invoke(
  fn: CapturedFunction,
  input: unknown,
  triggerMetadata: Record<string, unknown>,
  hostLog: HostLog,
): Promise<unknown> {
  const invocationId = randomUUID();
  const context = new InvocationContext({
    invocationId,
    functionName: fn.name,
    triggerMetadata,
    logHandler: (level, ...args) => {
      if (level === 'trace' || level === 'debug') return;
      hostLog(args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : JSON.stringify(a))).join(' '));
    },
  });
  const started = performance.now();
  try {
    const result = await fn.handler(input, context);
    hostLog(`Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${Math.round(performance.now() - started)}ms)`);
    return result;
  } catch (e) {
    hostLog(
      `Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${Math.round(performance.now() - started)}ms) ${(e as Error)?.stack ?? String(e)}`,
    );
    throw e;
  }
}
