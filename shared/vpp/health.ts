import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { REMOVED_KEEP_DAYS, type TokenRow } from './model';

/**
 * Connector health of a VPP token, after Intune's tenant-status rules: warning when the token
 * expires within VPP_EXPIRY_WARNING_DAYS or has not synced for more than VPP_SYNC_WARNING_DAYS;
 * unhealthy when expired, invalid, assigned to another MDM, or not synced for
 * VPP_SYNC_UNHEALTHY_DAYS or more. Each reason comes with the fix.
 */
export type Health = 'healthy' | 'warning' | 'unhealthy';
export interface HealthReport {
  health: Health;
  reasons: { severity: Exclude<Health, 'healthy'>; reason: string; fix: string }[];
}

const DAY = 86_400_000;
const RENEW =
  'In Apple Business Manager (or Apple School Manager) download a new token, then upload it in Intune: Tenant administration > Connectors and tokens > Apple VPP tokens.';

/** Time left, rounded up to whole days: a token with hours left does not read as "in 0 days". */
function timeLeft(ms: number): string {
  if (ms < DAY) return 'in less than a day';
  const d = Math.ceil(ms / DAY);
  return `in ${d} day${d === 1 ? '' : 's'}`;
}

export function tokenHealth(t: TokenRow, now = clock.now()): HealthReport {
  const cfg = config();
  const reasons: HealthReport['reasons'] = [];
  const expires = t.expirationDateTime ? Date.parse(t.expirationDateTime) : undefined;
  const synced = t.lastSyncDateTime ? Date.parse(t.lastSyncDateTime) : undefined;
  const days = (ms: number) => Math.floor(ms / DAY);
  if (t.removedAt) {
    const until = new Date(Date.parse(t.removedAt) + REMOVED_KEEP_DAYS * DAY).toISOString().slice(0, 10);
    return {
      health: 'warning',
      reasons: [
        {
          severity: 'warning',
          reason: t.removedReason ?? 'Intune no longer has this token.',
          fix: `Nothing to do if it was retired. If not, upload the token again in Intune (Tenant administration > Connectors and tokens > Apple VPP tokens). Its licence history is kept until ${until}.`,
        },
      ],
    };
  }

  if (t.state === 'expired' || (expires !== undefined && expires <= now))
    reasons.push({
      severity: 'unhealthy',
      reason: `The token expired${expires ? ` on ${new Date(expires).toISOString().slice(0, 10)}` : ''}.`,
      fix: RENEW,
    });
  else if (expires !== undefined && expires - now <= cfg.VPP_EXPIRY_WARNING_DAYS * DAY)
    reasons.push({
      severity: 'warning',
      reason: `The token expires on ${new Date(expires).toISOString().slice(0, 10)} (${timeLeft(expires - now)}).`,
      fix: `Renew it before then. ${RENEW}`,
    });
  if (t.state === 'invalid') reasons.push({ severity: 'unhealthy', reason: 'Apple reports the token as invalid.', fix: RENEW });
  if (t.state === 'assignedToExternalMDM')
    reasons.push({
      severity: 'unhealthy',
      reason: 'The token is assigned to another MDM.',
      fix: 'Take the token back for Intune (Apple VPP tokens > the token > take control), or upload a token no other MDM uses.',
    });
  if (synced === undefined)
    reasons.push({
      severity: 'unhealthy',
      reason: 'The token has never synced.',
      fix: 'Run a sync (POST /api/admin/vpp/tokens/{id}/sync); if it fails, check the token in Apple Business Manager.',
    });
  else if (now - synced >= cfg.VPP_SYNC_UNHEALTHY_DAYS * DAY)
    reasons.push({
      severity: 'unhealthy',
      reason: `Not synced for ${days(now - synced)} days (last ${new Date(synced).toISOString()}).`,
      fix: 'Run a sync; if it keeps failing, check the token and its Apple ID in Apple Business Manager.',
    });
  else if (now - synced > cfg.VPP_SYNC_WARNING_DAYS * DAY)
    reasons.push({
      severity: 'warning',
      reason: `Not synced for more than ${cfg.VPP_SYNC_WARNING_DAYS} day(s) (last ${new Date(synced).toISOString()}).`,
      fix: 'Run a sync now; the daily sync will also retry.',
    });
  if (t.lastError && t.consecutiveFailures > 0)
    reasons.push({
      severity: 'warning',
      reason: `The last sync failed (${t.consecutiveFailures} in a row): ${t.lastError}`,
      fix: t.nextRetryAt ? `It is retried at ${t.nextRetryAt}.` : 'It is retried at the next scheduled sync.',
    });

  const health: Health = reasons.some((r) => r.severity === 'unhealthy') ? 'unhealthy' : reasons.length ? 'warning' : 'healthy';
  return { health, reasons };
}
