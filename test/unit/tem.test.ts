import { decide } from '../../shared/tem/blocks';

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
