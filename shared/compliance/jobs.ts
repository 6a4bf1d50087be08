import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { reportConnectorStatus } from '../connectors';
import { clock } from '../platform/clock';
import type { Logger } from '../platform/log';
import { claim, release as releaseClaim } from '../platform/storage/claims';
import { queues } from '../platform/storage/queues';
import { newestFirst } from '../platform/storage/tables';
import { cancelRemovedActions, scan } from './detect';
import { putSchedule } from './schedules';
import { QUEUE_JOBS, tables, type JobMessage } from './model';
import { type ActionInput } from './inputs';
import { dispatchDue } from './runner';

/**
 * The compliance pipeline's jobs: a scan (detect and plan), then a dispatch per due partition.
 * Scans never overlap (two would open two episodes for one device): a scan asked for while another
 * runs is remembered and run right after it.
 */

const LEASE_MS = 30 * 60 * 1000; // longer than functionTimeout, so only a crashed scan's lease lapses
const RUNS = 'run';

export async function requestScan(): Promise<{ runId: string }> {
  const runId = randomUUID();
  await queues.send(QUEUE_JOBS, 'scan', { kind: 'scan', runId } satisfies JobMessage, { key: runId });
  return { runId };
}

/**
 * Replaces a policy's schedule: actions it removes are cancelled at once; the next scan plans the
 * ones it adds for devices already noncompliant (one whose day has passed runs as soon as planned).
 */
export async function changeSchedule(policyId: string, actions: ActionInput[]) {
  const result = await putSchedule(policyId, actions);
  const cancelled = await cancelRemovedActions(policyId, result.actions);
  return { ...result, cancelled };
}

/** Takes the scan lease for `runId`, or records that a scan is wanted after the current one. */
async function acquire(runId: string): Promise<boolean> {
  const lease = await claim(tables.scans, 'lease', 'scan', {
    holder: runId,
    forMs: LEASE_MS,
    create: () => ({ runId, rerun: false }),
    take: (row) => ({ ...row, runId, rerun: false }),
    whileHeld: (row) => ({ ...row, rerun: true }),
  });
  return lease.status === 'claimed';
}

/** Gives the lease back; true when another scan was asked for meanwhile. */
async function release(runId: string): Promise<boolean> {
  return !!(await releaseClaim(tables.scans, 'lease', 'scan', runId, () => null))?.rerun;
}

async function runScan(runId: string, log: Logger): Promise<void> {
  if (!(await acquire(runId))) {
    log.info('A compliance scan is running; this one runs after it', { runId });
    return;
  }
  const startedAt = clock.iso();
  const key = `${newestFirst(clock.now())}-${runId}`;
  try {
    const results = await scan(runId, log);
    const planned = Object.values(results).reduce((n, r) => n + r.planned, 0);
    await tables.scans.upsert({
      partitionKey: RUNS,
      rowKey: key,
      runId,
      startedAt,
      finishedAt: clock.iso(),
      results: JSON.stringify(results),
    });
    await reportConnectorStatus(
      'compliance',
      'active',
      `Last scan ${clock.iso()}: ${Object.keys(results).length} policies, ${planned} actions newly planned.`,
    );
  } catch (e) {
    await tables.scans.upsert({ partitionKey: RUNS, rowKey: key, runId, startedAt, finishedAt: clock.iso(), error: (e as Error).message });
    await reportConnectorStatus('compliance', 'error', `Scan ${runId} failed: ${(e as Error).message}`);
    throw e;
  } finally {
    if (await release(runId)) await requestScan();
  }
}

export async function runJob(job: JobMessage, log: Logger): Promise<void> {
  if (job.kind === 'scan') return runScan(job.runId, log);
  const { sent, more } = await dispatchDue(job.partition);
  if (sent) log.info('Due compliance actions dispatched', { partition: job.partition, sent, more });
  // A long backlog continues in a fresh message, so each invocation stays bounded.
  if (more) await queues.send(QUEUE_JOBS, 'dispatch', job, { key: `${job.runId}|${job.partition}|${randomUUID()}` });
}

/** The latest scans with what each planned, newest first. */
export async function recentScans(top: number) {
  return (await tables.scans.list(odata`PartitionKey eq ${RUNS}`, top)).map(({ entity: r }) => ({
    runId: r.runId,
    startedAt: r.startedAt ?? null,
    finishedAt: r.finishedAt ?? null,
    results: r.results ? (JSON.parse(r.results) as unknown) : null,
    error: r.error ?? null,
  }));
}
