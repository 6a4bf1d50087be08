import { clock } from '../platform/clock';
import type { Logger } from '../platform/log';
import { inQueuedRun, queueRun, RUN_WAIT_SECONDS } from '../platform/runs';
import { queues, type Delivery } from '../platform/storage/queues';
import { reconcile } from './blocks';
import { confirmConsent } from './connect';
import { ensureEnforcement } from './enforcement';
import { syncLines } from './lines';
import { QUEUE_JOBS, type JobMessage } from './model';
import { revertStep } from './switchoff';

/**
 * TEM's background jobs. The lines sync and the reconciliation are runs an admin can follow
 * (platform/runs.ts): one of each at a time, and a request while one is queued joins it.
 */

const LIMIT_MS = 30 * 60 * 1000; // longer than functionTimeout: only a crashed run's hold lapses
const RUN_KIND = { syncLines: 'tem.linesSync', reconcile: 'tem.reconcile' } as const;
type RunJob = keyof typeof RUN_KIND;

const send = (job: RunJob, runId: string, delaySeconds?: number) =>
  queues.send(QUEUE_JOBS, 'tem.job', { job, runId }, { key: delaySeconds ? `${runId}|${clock.now()}` : runId, delaySeconds });

/** Asks for a lines sync or a reconciliation: the run to follow. */
export async function requestJob(job: RunJob, by: string): Promise<{ id: string; joined: boolean }> {
  return queueRun({ kind: RUN_KIND[job], startedBy: by, limitMs: LIMIT_MS }, (id) => send(job, id));
}

export async function runJob(data: JobMessage, delivery: Delivery): Promise<void> {
  const { log } = delivery;
  if (data.job === 'revert') await revertStep(data.providerId, log);
  else if (data.job === 'confirmConsent') await confirmConsent(data, log);
  else if (data.job === 'setup') {
    await Promise.all([ensureEnforcement('roaming'), ensureEnforcement('data')]);
    log.info('Provider set up; lines synced', await syncLines());
  } else if (!data.runId) {
    // A message queued before runs existed: the work is the same.
    await work(data.job, log);
  } else {
    const { job, runId } = data;
    const ran = await inQueuedRun(
      runId,
      { limitMs: LIMIT_MS, resend: () => send(job, runId, RUN_WAIT_SECONDS), finalDelivery: delivery.finalDelivery },
      async () => {
        const counters = await work(job, log);
        return { outcome: counters, counters };
      },
    );
    if (ran !== 'ran') log.info(`TEM ${job} ${ran === 'waiting' ? 'waits for the one running' : 'run already over'}`, { runId });
  }
}

async function work(job: RunJob, log: Logger): Promise<Record<string, number>> {
  if (job === 'reconcile') return { ...(await reconcile(log)) };
  const r = await syncLines();
  log.info('Lines synced', r);
  return r;
}
