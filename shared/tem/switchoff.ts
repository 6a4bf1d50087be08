import { odata } from '@azure/data-tables';
import { clock } from '../platform/clock';
import type { Logger } from '../platform/log';
import { advance, endRun } from '../platform/runs';
import { queues } from '../platform/storage/queues';
import { newestFirst } from '../platform/storage/tables';
import { close, converge } from './blocks';
import { updateProvider, writeLedger } from './providers';
import { QUEUE_JOBS, REVERT_BATCH, tables } from './model';

/**
 * One step of a switch-off: reverts up to REVERT_BATCH active blocks, then queues the next step.
 * A crash at any point leaves the message to be delivered again; reverting is idempotent.
 */
export async function revertStep(providerId: string, log: Logger): Promise<{ reverted: number; remaining: boolean }> {
  const provider = await tables.providers.get('provider', providerId);
  if (!provider || provider.entity.enabled || provider.entity.revert !== 'reverting') return { reverted: 0, remaining: false };
  // Pending rows too: a step that died between closing a block and converging its device left one.
  const open = odata`PartitionKey eq ${providerId} and (active eq true or pending eq true)`;
  const batch = await tables.blocks.list(open, REVERT_BATCH);
  let reverted = 0;
  for (const { entity: b } of batch) {
    // One row per switch-off and line: a step repeated after a crash overwrites its own record.
    const key = `${newestFirst(Date.parse(provider.entity.revertStartedAt ?? clock.iso()))}-switchoff-${b.rowKey}`;
    const row = {
      action: 'unblock' as const,
      kind: b.kind,
      line: b.line,
      reason: 'The service was switched off: every action is reverted.',
    };
    await writeLedger(providerId, key, { ...row, status: 'requested' });
    const closed = await close(providerId, b.rowKey);
    const outcome = () => writeLedger(providerId, key, { ...row, status: 'reverted' });
    if (closed?.directoryObjectId) await converge(closed.directoryObjectId, closed.kind, outcome);
    else await outcome();
    if (b.active) reverted++;
  }
  const left = (await tables.blocks.list(open, 1)).length > 0;
  const done = !left;
  await updateProvider(providerId, (row) => ({
    ...row,
    reverted: row.reverted + reverted,
    ...(done ? { revert: 'done' as const, revertFinishedAt: clock.iso() } : {}),
  }));
  const runId = provider.entity.revertRunId;
  if (runId) {
    await advance(runId, { done: batch.length, counters: { reverted } });
    if (done) await endRun(runId);
  }
  if (!done) await queues.send(QUEUE_JOBS, 'tem.job', { job: 'revert', providerId }, { key: `revert:${providerId}:${clock.now()}` });
  log.info('Switch-off step', { providerId, reverted, remaining: left });
  return { reverted, remaining: left };
}
