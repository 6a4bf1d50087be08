import { readFileSync } from 'node:fs';

/** host.json values the local host honours, with the Functions host's defaults. */
export interface HostSettings {
  routePrefix: string;
  queues: {
    batchSize: number;
    newBatchThreshold: number;
    maxDequeueCount: number;
    visibilityTimeoutMs: number;
    maxPollingIntervalMs: number;
    messageEncoding: 'base64' | 'none';
  };
}

/** `hh:mm:ss` (or `d.hh:mm:ss`) as milliseconds. */
export function timeSpanMs(value: string): number {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value.trim());
  if (!m) throw new Error(`'${value}' is not a TimeSpan (hh:mm:ss).`);
  const [, d, h, min, s, frac] = m;
  return (
    ((Number(d ?? 0) * 24 + Number(h)) * 3600 + Number(min) * 60 + Number(s)) * 1000 + (frac ? Math.round(Number(`0.${frac}`) * 1000) : 0)
  );
}

export function readHostSettings(path: string): HostSettings {
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    extensions?: { http?: { routePrefix?: string }; queues?: Record<string, unknown> };
  };
  const q = json.extensions?.queues ?? {};
  const batchSize = Number(q.batchSize ?? 16);
  return {
    routePrefix: json.extensions?.http?.routePrefix ?? 'api',
    queues: {
      batchSize,
      newBatchThreshold: Number(q.newBatchThreshold ?? Math.floor(batchSize / 2)),
      maxDequeueCount: Number(q.maxDequeueCount ?? 5),
      visibilityTimeoutMs: timeSpanMs(typeof q.visibilityTimeout === 'string' ? q.visibilityTimeout : '00:00:00'),
      maxPollingIntervalMs: timeSpanMs(typeof q.maxPollingInterval === 'string' ? q.maxPollingInterval : '00:01:00'),
      messageEncoding: q.messageEncoding === 'none' ? 'none' : 'base64',
    },
  };
}

/** Resolves `%NAME%` app-setting expressions, as the host does in binding properties. */
export function resolveSettingExpression(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`Binding expression '%${name}%' names an app setting that is not set.`);
    return v;
  });
}
