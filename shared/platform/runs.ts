import { randomBytes } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import type { Principal } from './auth/admin';
import { clock } from './clock';
import { config } from './config';
import { conflict, notFound } from './errors';
import { claim, release, type Claimable } from './storage/claims';
import { EntityTable, newestFirst, type Entity } from './storage/tables';

/**
 * Runs: the one record of long work (scans, syncs, switch-offs) an admin can follow. An endpoint
 * that starts long work answers 202 with the run's URL; the run shows who or what started it, its
 * state, progress (done of total, where known), times, counters and outcome.
 *
 * Two ways in. `queueRun` is for work that reads the tenant from scratch (a scan, a lines sync): one
 * such run per key at a time, and a request joins the run of its key that has not started yet, or
 * queues one behind the running one, so the run it answers always reads the tenant after the
 * request. `createRun` is for work whose joining the connector decides itself (a VPP token already
 * syncing, a provider already switching off). Parts (a token, a policy, a due partition) complete
 * once each, however often their message is delivered; the run ends when all `total` are done.
 * Parts are kept in the run's row, so they suit a few thousand at most: larger work (an archive
 * import's items) keeps its own records, counts them, and sets the progress (setProgress).
 */

export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];
const FINAL = new Set<RunState>(['succeeded', 'failed', 'cancelled']);
/** A queued run's message waits this long while another run of its key is still running. */
export const RUN_WAIT_SECONDS = 10;

interface RunRow extends Entity {
  kind: string;
  subject?: string;
  startedBy: string;
  state: RunState;
  total?: number;
  done: number;
  /** Parts already counted, comma-separated: a part delivered again is not counted twice. */
  parts?: string;
  failedParts: number;
  counters: string;
  outcome?: string;
  error?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  updatedAt: string;
}

/** One per key of queued work: who runs now (the claim) and which run waits behind it. */
interface KeyRow extends Claimable {
  queued?: string;
}

const RUN = 'run';
const KEY = 'key';
const runs = new EntityTable<RunRow>('runs');
const keys = new EntityTable<KeyRow>('runs');

/** A new run id: sorts newest first, carries its creation time (runTime). */
export const newRunId = (ms = clock.now()) => `${newestFirst(ms)}-${randomBytes(4).toString('hex')}`;
/** When the run with this id was created (epoch ms). */
export const runTime = (id: string) => 9_999_999_999_999 - Number(id.slice(0, 13));

/** Who started work: an admin (by object id, never name), a schedule, or the app itself. */
export const startedBy = (p?: Principal) => (p ? `admin:${p.objectId ?? p.clientId ?? 'unknown'}` : 'schedule');

export interface RunSpec {
  kind: string;
  /** What the run works on (a token, a provider); one queued run per kind and subject. */
  subject?: string;
  startedBy: string;
  total?: number;
}

export const runSchema = z.object({
  id: z.string(),
  kind: z.string().describe('compliance.scan, vpp.sync, tem.linesSync, tem.reconcile, tem.switchOff'),
  subject: z.string().nullable().describe('What the run works on (a VPP token, a TEM provider), when not the whole tenant.'),
  startedBy: z.string().describe('admin:<object id>, schedule, or retry:<run id>.'),
  state: z.enum(RUN_STATES),
  progress: z.object({ done: z.number(), total: z.number().nullable().describe('Null until the run knows how much there is.') }),
  counters: z.record(z.string(), z.number()),
  outcome: z.unknown().describe("The run's result in the connector's terms (null until it has one)."),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  url: z.string(),
});
export type RunView = z.infer<typeof runSchema>;

const view = (r: RunRow): RunView => ({
  id: r.rowKey,
  kind: r.kind,
  subject: r.subject ?? null,
  startedBy: r.startedBy,
  state: r.state,
  progress: { done: r.total === undefined ? r.done : Math.min(r.done, r.total), total: r.total ?? null },
  counters: JSON.parse(r.counters) as Record<string, number>,
  outcome: r.outcome ? (JSON.parse(r.outcome) as unknown) : null,
  error: r.error ?? null,
  createdAt: r.createdAt,
  startedAt: r.startedAt ?? null,
  finishedAt: r.finishedAt ?? null,
  url: runPath(r.rowKey),
});

/** The run's path under the app's base URL (what Location answers). */
export const runPath = (id: string) => `/api/admin/runs/${encodeURIComponent(id)}`;
/** The body of a 202 that started or joined a run (connectors add their own fields). */
export const acceptedRun = z.object({
  runId: z.string().describe('The run to follow.'),
  runUrl: z.string().describe("Where to follow it (also the Location header), under the app's base URL."),
});
/** The 202 answer of an endpoint that started or joined a run. */
export const accepted = <B extends object>(id: string, body: B) => ({
  status: 202,
  headers: { Location: runPath(id) },
  body: { ...body, runId: id, runUrl: runPath(id) },
});

// A row key cannot hold a slash, backslash, '#' or '?': the subject is encoded.
const keyOf = (s: { kind: string; subject?: string }) => (s.subject ? `${s.kind}|${encodeURIComponent(s.subject)}` : s.kind);

/** Records a new run (queued, or running from now). */
export async function createRun(spec: RunSpec, o: { id?: string; state?: 'queued' | 'running' } = {}): Promise<string> {
  const id = o.id ?? newRunId();
  const now = clock.iso();
  const running = (o.state ?? 'running') === 'running';
  await runs.upsert({
    partitionKey: RUN,
    rowKey: id,
    kind: spec.kind,
    subject: spec.subject,
    startedBy: spec.startedBy,
    state: running ? 'running' : 'queued',
    total: spec.total,
    done: 0,
    failedParts: 0,
    counters: '{}',
    createdAt: now,
    startedAt: running ? now : undefined,
    updatedAt: now,
  });
  return id;
}

/**
 * Asks for queued work: joins the run of this key not yet started, or queues a new one (and sends
 * its message with `send`). Returns the run to follow.
 */
export async function queueRun(
  spec: RunSpec & { limitMs: number },
  send: (id: string) => Promise<unknown>,
): Promise<{ id: string; joined: boolean }> {
  const key = keyOf(spec);
  for (let attempt = 1; ; attempt++) {
    const got = await keys.get(KEY, key);
    const waiting = got?.entity.queued ? await runs.get(RUN, got.entity.queued) : undefined;
    if (waiting?.entity.state === 'queued') {
      // A queued run waits at most for the run before it; one older than that lost its message.
      if (clock.now() - Date.parse(waiting.entity.createdAt) < 2 * spec.limitMs) return { id: waiting.entity.rowKey, joined: true };
      await endRun(waiting.entity.rowKey, { error: 'It never started: its start message was lost. A new run was queued.' });
    }
    // The run row exists before the key names it, so a request that joins it can always read it.
    const id = await createRun(spec, { state: 'queued' });
    try {
      if (got) await keys.update({ ...got.entity, queued: id }, got.etag);
      else await keys.insert({ partitionKey: KEY, rowKey: key, queued: id });
    } catch (e) {
      await runs.delete(RUN, id);
      if (attempt >= 10) throw e;
      continue; // another request queued one meanwhile: join it
    }
    try {
      await send(id);
    } catch (e) {
      // Not queued: the run ends failed, so the next request queues another rather than joining it.
      await endRun(id, { error: `Its start message could not be queued: ${e instanceof Error ? e.message : String(e)}` });
      throw e;
    }
    return { id, joined: false };
  }
}

/**
 * A queued run's message arrived: `started` when this worker may run it now (also when its message
 * is delivered again after a crash), `busy` while another run of its key runs, `over` when it was
 * cancelled or has ended.
 */
async function beginRun(id: string, limitMs: number): Promise<'started' | 'busy' | 'over'> {
  const run = await runs.get(RUN, id);
  if (!run || FINAL.has(run.entity.state)) return 'over';
  const lease = await claim(keys, KEY, keyOf(run.entity), {
    holder: id,
    forMs: limitMs,
    create: () => ({}),
    take: (row) => ({ ...row, queued: row.queued === id ? undefined : row.queued }),
  });
  if (lease.status !== 'claimed') return 'busy';
  const now = clock.iso();
  const started = await runs.modify(RUN, id, (r) =>
    r && r.state === 'queued' ? { ...r, state: 'running', startedAt: now, updatedAt: now } : undefined,
  );
  if (started?.state !== 'running') {
    await release(keys, KEY, keyOf(run.entity), id); // cancelled between the two reads
    return 'over';
  }
  return 'started';
}

/**
 * Runs the work of queued run `id` when its message arrives: waits (sending the message again
 * later) while another run of its key runs; ends the run with the work's outcome, unless `ends` is
 * false (its parts end it). A failure fails the run only on the message's last delivery; before
 * that the queue delivers it again and the work is tried again.
 */
export async function inQueuedRun(
  id: string,
  o: { limitMs: number; resend: () => Promise<unknown>; finalDelivery: boolean; ends?: boolean },
  work: () => Promise<{ outcome?: unknown; counters?: Record<string, number> } | void>,
): Promise<'ran' | 'waiting' | 'over'> {
  const begun = await beginRun(id, o.limitMs);
  if (begun === 'over') return 'over';
  if (begun === 'busy') {
    await o.resend();
    return 'waiting';
  }
  const run = (await runs.get(RUN, id))!.entity;
  try {
    const result = await work();
    if (o.ends !== false) await endRun(id, result ?? {});
    return 'ran';
  } catch (e) {
    if (o.finalDelivery) await endRun(id, { error: e instanceof Error ? e.message : String(e) });
    throw e;
  } finally {
    await release(keys, KEY, keyOf(run), id);
  }
}

const add = (counters: string, more: Record<string, number> = {}) => {
  const c = JSON.parse(counters) as Record<string, number>;
  for (const [k, v] of Object.entries(more)) c[k] = (c[k] ?? 0) + v;
  return JSON.stringify(c);
};

/** The run ends once every part is done: failed when any part failed. */
const settle = (r: RunRow, now: string): RunRow =>
  r.total !== undefined && r.done >= r.total && r.state === 'running'
    ? { ...r, state: r.failedParts ? 'failed' : 'succeeded', finishedAt: now, parts: undefined }
    : r;

async function change(id: string, f: (r: RunRow, now: string) => RunRow | undefined, ends = true): Promise<void> {
  await runs.modify(RUN, id, (r) => {
    if (!r || FINAL.has(r.state)) return undefined;
    const now = clock.iso();
    const next = f(r, now);
    if (!next) return undefined;
    return ends ? settle({ ...next, updatedAt: now }, now) : { ...next, updatedAt: now };
  });
}

/** A queued run's work has begun (its first message arrived). */
export async function runStarted(id: string): Promise<void> {
  await change(id, (r, now) => (r.state === 'queued' ? { ...r, state: 'running', startedAt: now } : undefined));
}

/** How much there is to do, once known; a run whose parts are all done by then ends. */
export async function setTotal(id: string, total: number, o: { ends?: boolean } = {}): Promise<void> {
  await change(id, (r) => ({ ...r, total }), o.ends ?? true);
}

/**
 * Adds to the counters (and the done count) without parts, for work that counts as it goes and
 * says itself when it has ended (endRun): a step delivered again may count twice.
 */
export async function advance(id: string, o: { done?: number; counters?: Record<string, number> }): Promise<void> {
  await change(id, (r) => ({ ...r, done: r.done + (o.done ?? 0), counters: add(r.counters, o.counters) }), false);
}

/** Where a run is, counted afresh by its work (so a step repeated cannot count twice). */
export async function setProgress(id: string, done: number, counters: Record<string, number>): Promise<void> {
  await change(id, (r) => ({ ...r, done, counters: JSON.stringify(counters) }), false);
}

/** Part `part` is done (counted once however often it is reported), with its counters. */
export async function partDone(id: string, part: string, o: { failed?: boolean; counters?: Record<string, number> } = {}): Promise<void> {
  await change(id, (r) => {
    const parts = r.parts ? r.parts.split(',') : [];
    if (parts.includes(part)) return undefined;
    return {
      ...r,
      parts: [...parts, part].join(','),
      done: r.done + 1,
      failedParts: r.failedParts + (o.failed ? 1 : 0),
      counters: add(r.counters, o.counters),
    };
  });
}

/** Ends the run (whatever its parts say) with its outcome, or failed with the error. */
export async function endRun(id: string, o: { outcome?: unknown; error?: string; counters?: Record<string, number> } = {}): Promise<void> {
  await change(id, (r, now) => ({
    ...r,
    state: o.error ? 'failed' : 'succeeded',
    error: o.error,
    outcome: o.outcome === undefined ? r.outcome : JSON.stringify(o.outcome),
    counters: add(r.counters, o.counters),
    total: r.total ?? r.done,
    // Succeeded: all of it is done, whatever a step that crashed before counting left uncounted.
    done: o.error ? r.done : Math.max(r.done, r.total ?? 0),
    parts: undefined,
    finishedAt: now,
  }));
}

/** Records the outcome so far without ending the run (it ends when its parts are done). */
export async function setOutcome(id: string, outcome: unknown, counters?: Record<string, number>): Promise<void> {
  await change(id, (r) => ({ ...r, outcome: JSON.stringify(outcome), counters: add(r.counters, counters) }));
}

/** Deletes a run no one has been told of (a request that found the work already under way elsewhere). */
export async function discardRun(id: string): Promise<void> {
  await runs.delete(RUN, id);
}

export async function getRun(id: string): Promise<RunView> {
  const r = await runs.get(RUN, id);
  if (!r) throw notFound(`No run '${id}'. Runs are kept ${config().RUN_KEEP_DAYS} days after they finish.`);
  return view(r.entity);
}

/** Cancels a run that has not started; one already running finishes what it does. */
export async function cancelRun(id: string): Promise<RunView> {
  const now = clock.iso();
  const r = await runs.modify(RUN, id, (row) =>
    row?.state === 'queued' ? { ...row, state: 'cancelled', finishedAt: now, updatedAt: now } : undefined,
  );
  if (!r) throw notFound(`No run '${id}'.`);
  if (r.state !== 'cancelled') throw conflict(`Run '${id}' is ${r.state}; only a queued run can be cancelled.`);
  return view(r);
}

/** One page of runs, newest first, filtered by kind, subject and state. */
export async function listRuns(q: { kind?: string; subject?: string; state?: RunState; top: number; token?: string }) {
  let filter = odata`PartitionKey eq ${RUN}`;
  if (q.kind) filter += odata` and kind eq ${q.kind}`;
  if (q.subject) filter += odata` and subject eq ${q.subject}`;
  if (q.state) filter += odata` and state eq ${q.state}`;
  const { rows, next } = await runs.page(filter, q.top, q.token);
  return { value: rows.map((r) => view(r.entity)), next };
}

/**
 * Deletes runs finished more than RUN_KEEP_DAYS ago, and ends as failed the runs still queued a day
 * after they were created (a crash between recording a run and sending its message).
 */
export async function purgeRuns(): Promise<number> {
  const day = new Date(clock.now() - 86_400_000).toISOString();
  for (const r of await runs.list(odata`PartitionKey eq ${RUN} and state eq ${'queued'} and createdAt lt ${day}`))
    await endRun(r.entity.rowKey, { error: 'It never started: its start message was lost.' });
  const before = new Date(clock.now() - config().RUN_KEEP_DAYS * 86_400_000).toISOString();
  return runs.deleteWhere(odata`PartitionKey eq ${RUN} and finishedAt lt ${before}`);
}
