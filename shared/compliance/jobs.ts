import { randomUUID } from 'node:crypto';
import { reportConnectorStatus } from '../connectors';
import { clock } from '../platform/clock';
import { inQueuedRun, partDone, queueRun, RUN_WAIT_SECONDS } from '../platform/runs';
import { queues, type Delivery } from '../platform/storage/queues';
import { cancelRemovedActions, scan } from './detect';
import { putSchedule } from './schedules';
import { QUEUE_JOBS, type JobMessage } from './model';
import { type ActionInput } from './inputs';
import { dispatchDue } from './runner';

/**
 * The compliance pipeline's jobs: a scan (detect and plan), then a dispatch per due partition, as
 * one run (shared/platform/runs.ts): its parts are the policies planned and the partitions
 * dispatched. Scans never overlap (two would open two episodes for one device): a scan asked for
 * while another runs is queued behind it, and further requests join that queued one.
 */

const LEASE_MS = 30 * 60 * 1000; // longer than functionTimeout, so only a crashed scan's lease lapses

const sendScan = (runId: string, delaySeconds?: number) =>
  queues.send(QUEUE_JOBS, 'scan', { kind: 'scan', runId } satisfies JobMessage, {
    key: delaySeconds ? `${runId}|${clock.now()}` : runId,
    delaySeconds,
  });

/** Asks for a scan: the run to follow (a queued one it joined, or a new one). */
export async function requestScan(by: string): Promise<{ id: string; joined: boolean }> {
  return queueRun({ kind: 'compliance.scan', startedBy: by, limitMs: LEASE_MS }, (id) => sendScan(id));
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

async function runScan(runId: string, delivery: Delivery): Promise<void> {
  const { log } = delivery;
  const ran = await inQueuedRun(
    runId,
    { limitMs: LEASE_MS, resend: () => sendScan(runId, RUN_WAIT_SECONDS), finalDelivery: delivery.finalDelivery, ends: false },
    async () => {
      try {
        const results = await scan(runId, log);
        const planned = Object.values(results).reduce((n, r) => n + r.planned, 0);
        await reportConnectorStatus(
          'compliance',
          'active',
          `Last scan ${clock.iso()}: ${Object.keys(results).length} policies, ${planned} actions newly planned.`,
        );
      } catch (e) {
        await reportConnectorStatus(
          'compliance',
          'error',
          `Scan ${runId} failed: ${(e as Error).message}`,
          'Check that the app still has its Graph permissions (GET /api/health), then run detection again (Compliance actions > Run detection now).',
        );
        throw e;
      }
    },
  );
  if (ran === 'waiting') log.info('A compliance scan is running; this one waits for it', { runId });
  if (ran === 'over') log.info('Compliance scan message of a cancelled or finished run dropped', { runId });
}

export async function runJob(job: JobMessage, delivery: Delivery): Promise<void> {
  if (job.kind === 'scan') return runScan(job.runId, delivery);
  const { log } = delivery;
  const part = `dispatch:${job.partition}`;
  let dispatched: Awaited<ReturnType<typeof dispatchDue>>;
  try {
    dispatched = await dispatchDue(job.partition);
  } catch (e) {
    // Given up on: the run ends with this part failed rather than running for ever.
    if (delivery.finalDelivery) await partDone(job.runId, part, { failed: true, counters: { actionsDispatched: job.sent ?? 0 } });
    throw e;
  }
  const { sent, more } = dispatched;
  const total = (job.sent ?? 0) + sent;
  if (sent) log.info('Due compliance actions dispatched', { partition: job.partition, sent, more });
  // A long backlog continues in a fresh message, so each invocation stays bounded.
  if (more) await queues.send(QUEUE_JOBS, 'dispatch', { ...job, sent: total }, { key: `${job.runId}|${job.partition}|${randomUUID()}` });
  else await partDone(job.runId, part, { counters: { actionsDispatched: total } });
}
