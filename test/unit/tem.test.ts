import { decide } from '../../shared/tem/blocks';
import { afterDevice, beforeDevice } from '../../shared/tem/outcomes';

const row = (active: boolean, lastEventAt: string, lastEventId: string) => ({ active, lastEventAt, lastEventId });

test('decide: the first event for a line is recorded, and changes the block only when it blocks', () => {
  expect(decide(undefined, { id: 'a', at: '2026-11-21T10:00:00Z', block: true })).toEqual({ kind: 'record', active: true, changed: true });
  expect(decide(undefined, { id: 'a', at: '2026-11-21T10:00:00Z', block: false })).toEqual({
    kind: 'record',
    active: false,
    changed: false,
  });
});

test('decide: an older event changes nothing, whatever it says; a newer one is recorded even when it changes nothing', () => {
  const cleared = row(false, '2026-11-21T10:00:00Z', 'b');
  expect(decide(cleared, { id: 'a', at: '2026-11-21T09:59:59.999Z', block: true })).toEqual({
    kind: 'older',
    last: '2026-11-21T10:00:00Z',
  });
  expect(decide(cleared, { id: 'c', at: '2026-11-21T10:00:01Z', block: false })).toEqual({ kind: 'record', active: false, changed: false });
  expect(decide(row(true, '2026-11-21T10:00:00Z', 'b'), { id: 'c', at: '2026-11-21T10:00:01Z', block: false })).toEqual({
    kind: 'record',
    active: false,
    changed: true,
  });
});

test('decide: equal times are ordered by webhook-id, so every worker reaches the same answer; a redelivery is recognised', () => {
  const at = '2026-11-21T10:00:00Z';
  expect(decide(row(true, at, 'm'), { id: 'a', at, block: false })).toEqual({ kind: 'older', last: at });
  expect(decide(row(true, at, 'm'), { id: 'z', at, block: false })).toEqual({ kind: 'record', active: false, changed: true });
  expect(decide(row(true, at, 'm'), { id: 'm', at, block: true })).toEqual({ kind: 'again', active: true });
  // Offsets are compared as instants, not as text.
  expect(decide(row(true, '2026-11-21T11:00:00+01:00', 'm'), { id: 'n', at: '2026-11-21T10:00:01Z', block: false })).toMatchObject({
    kind: 'record',
  });
});

describe('what the ledger says about an event on a line', () => {
  const recorded = (changed: boolean, active = true) => ({ kind: 'record' as const, active, changed });
  const row = { pending: false, directoryObjectId: 'obj-1' };

  test('before the device: older events, nothing to unblock, and a device without a directory object end the work', () => {
    expect(beforeDevice({ kind: 'older', last: '2026-11-21T10:00:00Z' }, row, true)).toEqual({
      status: 'ignored',
      reason: 'Older than the last event for this line and kind (2026-11-21T10:00:00Z).',
      action: 'none',
    });
    expect(beforeDevice(recorded(false, false), row, false)).toMatchObject({
      status: 'ignored',
      reason: /Nothing to unblock/,
      action: 'none',
    });
    // An unblock still pending on the device goes on, even though it changes nothing on the record.
    expect(beforeDevice(recorded(false, false), { ...row, pending: true }, false)).toBeUndefined();
    expect(beforeDevice(recorded(true), { pending: true, directoryObjectId: undefined }, true)).toMatchObject({
      status: 'failed',
      reason: /no Entra device object/,
    });
    expect(beforeDevice(recorded(true), undefined, true)).toBe('stop');
    expect(beforeDevice(recorded(true), row, true)).toBeUndefined();
    expect(beforeDevice({ kind: 'again', active: true }, row, true)).toBeUndefined();
  });

  test('after the device: switched off, superseded, applied with an alert, reverted, or kept by another provider', () => {
    const facts = {
      block: true,
      eventType: 'usage.threshold_exceeded',
      webhookId: 'w1',
      switchedOff: false,
      member: true,
      newest: { lastEventId: 'w1' },
    };
    expect(afterDevice(facts)).toEqual({ note: { status: 'applied', reason: 'usage.threshold_exceeded' }, alert: true });
    expect(afterDevice({ ...facts, switchedOff: true })).toMatchObject({
      note: { status: 'ignored', reason: /switched off/ },
      alert: false,
    });
    expect(afterDevice({ ...facts, newest: { lastEventId: 'w2', lastEventAt: '2026-11-21T11:00:00Z' } })).toEqual({
      note: { status: 'ignored', reason: 'Superseded by a newer event (w2, 2026-11-21T11:00:00Z) before it reached the device.' },
      alert: false,
    });
    const clear = { ...facts, block: false, eventType: 'usage.threshold_cleared', member: false };
    expect(afterDevice(clear)).toEqual({ note: { status: 'reverted', reason: 'usage.threshold_cleared' }, alert: false });
    expect(afterDevice({ ...clear, member: true }).note.reason).toMatch(/stays blocked: another provider/);
  });
});
