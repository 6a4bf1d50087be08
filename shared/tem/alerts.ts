import { sendMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { newestFirst } from '../platform/storage/tables';
import { tables, type Kind, type ProviderRow, type TemEvent } from './model';

/** Alerts raised when a line crosses its threshold: a row, and an email when configured. */

export async function raiseAlert(
  provider: ProviderRow,
  line: { rowKey: string; deviceName?: string; userPrincipalName?: string },
  kind: Kind,
  event: Extract<TemEvent, { type: 'usage.threshold_exceeded' }>,
  webhookId: string,
  log: Logger,
): Promise<void> {
  const rowKey = `${newestFirst(Date.parse(event.timestamp))}-${webhookId}-${kind}`;
  const existing = await tables.alerts.get(provider.rowKey, rowKey);
  if (existing && existing.entity.email !== 'pending') return;
  const what = kind === 'data' ? 'cellular data' : 'roaming';
  const message = `${line.rowKey} (${line.deviceName ?? 'device'}, ${line.userPrincipalName ?? 'no user'}) crossed its ${what} threshold${event.data.usageMb !== undefined ? `: ${event.data.usageMb} MB used${event.data.capMb !== undefined ? ` of ${event.data.capMb} MB` : ''}` : ''}${event.data.country ? ` in ${event.data.country}` : ''}. ${what[0].toUpperCase()}${what.slice(1)} is now blocked on the device.`;
  const sender = config().ALERT_MAIL_SENDER;
  const email = provider.alertEmail && sender ? 'pending' : 'notConfigured';
  const alert = {
    partitionKey: provider.rowKey,
    rowKey,
    at: clock.iso(),
    eventId: webhookId,
    line: line.rowKey,
    kind,
    message,
    usageMb: event.data.usageMb,
    capMb: event.data.capMb,
    country: event.data.country,
    email,
  } as const;
  await tables.alerts.upsert(alert);
  if (email !== 'pending') return;
  try {
    await sendMail(
      sender!,
      [provider.alertEmail!],
      `TEM alert: ${what} threshold crossed on ${line.rowKey}`,
      `<p>${message}</p><p>Provider: ${provider.name}. Event ${webhookId} at ${event.timestamp}.</p>`,
    );
    await tables.alerts.upsert({ ...alert, email: 'sent' });
  } catch (e) {
    log.warn('Alert email failed', { error: e });
    await tables.alerts.upsert({ ...alert, email: 'failed', emailError: (e as Error).message });
  }
}
