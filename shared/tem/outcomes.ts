import type { Decision } from './blocks';
import type { BlockRow, LedgerRow } from './model';

/**
 * What the ledger says about one event on one line and kind, decided from facts already read:
 * pure functions, so each rule is tested on its own (apply.ts does the reading and writing).
 */
export interface Note {
  status: LedgerRow['status'];
  reason: string;
  /** 'none' when nothing was done to the device. */
  action?: 'none';
}

/**
 * After the event was recorded on the block record, before the device is touched: a note that ends
 * the work, 'stop' to end it silently (the record is gone), or undefined to go on to the device.
 */
export function beforeDevice(
  decision: Decision,
  row: Pick<BlockRow, 'pending' | 'directoryObjectId'> | undefined,
  block: boolean,
): Note | 'stop' | undefined {
  if (decision.kind === 'older')
    return { status: 'ignored', reason: `Older than the last event for this line and kind (${decision.last}).`, action: 'none' };
  if (!row) return 'stop';
  if (decision.kind === 'record' && !decision.changed && !block && !row.pending)
    return { status: 'ignored', reason: 'Nothing to unblock: no active block for this line.', action: 'none' };
  if (!row.directoryObjectId)
    return { status: 'failed', reason: 'The device has no Entra device object, so it cannot join the restriction group.' };
  return undefined;
}

export interface DeviceFacts {
  block: boolean;
  eventType: string;
  webhookId: string;
  /** The service was switched off while the event was applied, and its block closed again. */
  switchedOff: boolean;
  /** The device is in the restriction group now. */
  member: boolean;
  /** The newest event on the record after the device was brought to it. */
  newest?: { lastEventId?: string; lastEventAt?: string };
}

/** Once the device's membership was brought to the records: the ledger's last word, and whether to raise an alert. */
export function afterDevice(f: DeviceFacts): { note: Note; alert: boolean } {
  if (f.switchedOff)
    return {
      note: { status: 'ignored', reason: 'The service was switched off while this event was applied; its block was reverted.' },
      alert: false,
    };
  if (f.newest?.lastEventId !== f.webhookId)
    return {
      note: {
        status: 'ignored',
        reason: `Superseded by a newer event (${f.newest?.lastEventId}, ${f.newest?.lastEventAt}) before it reached the device.`,
      },
      alert: false,
    };
  const shared = !f.block && f.member ? ' The device stays blocked: another provider blocks this line too.' : '';
  return {
    note: { status: f.block ? 'applied' : 'reverted', reason: `${f.eventType}${shared}` },
    alert: f.block && f.eventType === 'usage.threshold_exceeded',
  };
}
