import { localSettings } from '../../dev/settings';
import { resetConfig } from '../../shared/platform/config';
import { tokenHealth } from '../../shared/vpp/health';
import type { TokenRow } from '../../shared/vpp/model';
import { ROOT } from '../helpers/env';

const DAY = 86_400_000;
const now = Date.parse('2026-11-21T12:00:00Z');
const row = (over: Partial<TokenRow>): TokenRow => ({
  partitionKey: 'token',
  rowKey: 't',
  state: 'valid',
  lastSyncStatus: 'completed',
  consecutiveFailures: 0,
  updatedAt: '',
  expirationDateTime: new Date(now + 100 * DAY).toISOString(),
  lastSyncDateTime: new Date(now - DAY / 2).toISOString(),
  ...over,
});
const health = (over: Partial<TokenRow>) => tokenHealth(row(over), now);

beforeEach(() => {
  Object.assign(process.env, localSettings(ROOT));
  resetConfig();
});
afterAll(() => resetConfig());

test.each([
  ['healthy', {}, 'healthy'],
  ['expires in 7 days', { expirationDateTime: new Date(now + 7 * DAY).toISOString() }, 'warning'],
  ['expires in 8 days', { expirationDateTime: new Date(now + 8 * DAY).toISOString() }, 'healthy'],
  ['expired by date', { expirationDateTime: new Date(now - 1).toISOString() }, 'unhealthy'],
  ['expired by state', { state: 'expired' as const }, 'unhealthy'],
  ['invalid', { state: 'invalid' as const }, 'unhealthy'],
  ['assigned to another MDM', { state: 'assignedToExternalMDM' as const }, 'unhealthy'],
  ['synced 1 day ago exactly', { lastSyncDateTime: new Date(now - DAY).toISOString() }, 'healthy'],
  ['not synced for more than 1 day', { lastSyncDateTime: new Date(now - DAY - 60_000).toISOString() }, 'warning'],
  ['not synced for 3 days', { lastSyncDateTime: new Date(now - 3 * DAY).toISOString() }, 'unhealthy'],
  ['never synced', { lastSyncDateTime: undefined }, 'unhealthy'],
  ['last sync failed', { lastError: 'boom', consecutiveFailures: 2 }, 'warning'],
])('%s → %s', (_name, over, expected) => {
  const h = health(over);
  expect(h.health).toBe(expected);
  for (const r of h.reasons) expect(r.fix.length).toBeGreaterThan(10);
});

test('days to expiry are rounded up: hours left never read as "in 0 days"', () => {
  const reason = (ms: number) => health({ expirationDateTime: new Date(now + ms).toISOString() }).reasons[0].reason;
  expect(reason(DAY / 2)).toMatch(/\(in less than a day\)/);
  expect(reason(DAY)).toMatch(/\(in 1 day\)/);
  expect(reason(1.5 * DAY)).toMatch(/\(in 2 days\)/);
  expect(reason(7 * DAY)).toMatch(/\(in 7 days\)/);
});

test('thresholds are settings', () => {
  Object.assign(process.env, { VPP_EXPIRY_WARNING_DAYS: '30', VPP_SYNC_UNHEALTHY_DAYS: '10', VPP_SYNC_WARNING_DAYS: '5' });
  resetConfig();
  try {
    expect(health({ expirationDateTime: new Date(now + 20 * DAY).toISOString() }).health).toBe('warning');
    expect(health({ lastSyncDateTime: new Date(now - 4 * DAY).toISOString() }).health).toBe('healthy');
    expect(health({ lastSyncDateTime: new Date(now - 6 * DAY).toISOString() }).health).toBe('warning');
    expect(health({ lastSyncDateTime: new Date(now - 10 * DAY).toISOString() }).health).toBe('unhealthy');
  } finally {
    for (const k of ['VPP_EXPIRY_WARNING_DAYS', 'VPP_SYNC_UNHEALTHY_DAYS', 'VPP_SYNC_WARNING_DAYS']) delete process.env[k];
  }
});
