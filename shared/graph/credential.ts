import { clock } from '../platform/clock';
import { appCredential } from '../platform/auth/entra';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { EntityTable, type Entity } from '../platform/storage/tables';
import { sendMail } from './mail';

/**
 * The client secret Graph tokens depend on, watched: when one is configured with its expiry date,
 * 30 and then 7 days before it expires the app warns in its log every day and emails an alert once
 * for each of the two (to ALERT_EMAIL from ALERT_MAIL_SENDER), so nobody learns of it from every
 * Graph call failing. The managed identity path has no secret and nothing to watch.
 */
export const ALERT_DAYS = [30, 7] as const;

export interface CredentialAlertRow extends Entity {
  expiresOn: string;
  daysBefore: number;
  at: string;
  email: 'pending' | 'sent' | 'failed' | 'notConfigured';
  emailError?: string;
}

export const credentialAlerts = new EntityTable<CredentialAlertRow>('appalerts');
const PARTITION = 'clientSecretExpiry';

export async function checkSecretExpiry(log: Logger): Promise<CredentialAlertRow | undefined> {
  const cfg = config();
  const credential = appCredential(cfg, clock.now());
  if (credential.kind !== 'clientSecret' || credential.daysLeft === null || credential.expiresOn === null) return undefined;
  const { daysLeft, expiresOn } = credential;
  if (daysLeft > ALERT_DAYS[0]) return undefined;
  const daysBefore = Math.min(...ALERT_DAYS.filter((d) => daysLeft <= d));
  const message =
    daysLeft < 0
      ? `The app registration's client secret expired on ${expiresOn}: Microsoft Graph calls fail until ENTRA_CLIENT_SECRET holds a new one (node infra/entra/setup.js --secret).`
      : `The app registration's client secret expires on ${expiresOn}, in ${daysLeft} days: Microsoft Graph calls will fail from then on. Add a new secret (node infra/entra/setup.js --secret) and set ENTRA_CLIENT_SECRET and ENTRA_CLIENT_SECRET_EXPIRES, or move to the managed identity (ENTRA_MANAGED_IDENTITY_CLIENT_ID).`;
  log.warn('Client secret expiring', { expiresOn, daysLeft });
  const rowKey = `${expiresOn}-${daysBefore}d`;
  const existing = await credentialAlerts.get(PARTITION, rowKey);
  if (existing && existing.entity.email !== 'pending') return existing.entity;
  const send = cfg.ALERT_EMAIL && cfg.ALERT_MAIL_SENDER;
  const alert: CredentialAlertRow = {
    partitionKey: PARTITION,
    rowKey,
    expiresOn,
    daysBefore,
    at: clock.iso(),
    email: send ? 'pending' : 'notConfigured',
  };
  await credentialAlerts.upsert(alert);
  if (!send) return alert;
  try {
    await sendMail(
      cfg.ALERT_MAIL_SENDER!,
      [cfg.ALERT_EMAIL!],
      `Intune connectors: client secret ${daysLeft < 0 ? 'has expired' : `expires in ${daysLeft} days`}`,
      `<p>${message}</p>`,
    );
    alert.email = 'sent';
  } catch (e) {
    log.warn('Client secret alert email failed', { error: e });
    alert.email = 'failed';
    alert.emailError = (e as Error).message;
  }
  await credentialAlerts.upsert(alert);
  return alert;
}
