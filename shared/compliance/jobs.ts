import { randomUUID } from 'node:crypto';
import { reportConnectorStatus } from '../connectors';
import { clock } from '../platform/clock';
import type { Logger } from '../platform/log';
import { queues } from '../platform/storage/queues';
import { scan } from './detect';
import { QUEUE_JOBS, type JobMessage } from './model';
import { dispatchDue } from './runner';

/** The compliance pipeline's jobs: a scan (detect and plan), then a dispatch per due partition. */

export async function requestScan(): Promise<{ runId: string }> {
  const runId = randomUUID();
  await queues.send(QUEUE_JOBS, 'scan', { kind: 'scan', runId } satisfies JobMessage, { key: runId });
  return { runId };
}

export async function runJob(job: JobMessage, log: Logger): Promise<void> {
  if (job.kind === 'scan') {
    const results = await scan(job.runId, log);
    const open = Object.values(results).reduce((n, r) => n + r.planned, 0);
    await reportConnectorStatus('compliance', 'active', `Last scan ${clock.iso()}: ${Object.keys(results).length} policies, ${open} actions newly planned.`);
    return;
  }
  const { sent, more } = await dispatchDue(job.partition);
  if (sent) log.info('Due compliance actions dispatched', { partition: job.partition, sent, more });
  // A long backlog continues in a fresh message, so each invocation stays bounded.
  if (more) await queues.send(QUEUE_JOBS, 'dispatch', job, { key: `${job.runId}|${job.partition}|${randomUUID()}` });
}
