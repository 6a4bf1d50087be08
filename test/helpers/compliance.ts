import { demoPolicyId } from '../../dev/sandbox/graph/compliance';
import { stableId } from '../../dev/sandbox/seed';
import { adminCaller, eventually, type TestEnv } from './env';

/** Driving the compliance connector as an admin would, and reading what the sandbox tenant saw. */

export const PNG_1X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

export interface LedgerEntry {
  policyId: string;
  action: string;
  type: string;
  status: string;
  reason: string | null;
  error: string | null;
  dueAt: string;
  sentTo: string | null;
  attempts: number;
}

export function complianceDriver(env: TestEnv, api: string) {
  const call = adminCaller(env, api);
  const device = (key: string) => stableId(`managed:${key}`);
  const policy = demoPolicyId;

  const template = async (name = 'Device out of compliance') => {
    const r = await call('POST', 'admin/compliance/templates', {
      name,
      messages: [
        {
          locale: 'en-US',
          isDefault: true,
          subject: 'Action needed: {{DeviceName}} is not compliant',
          body: 'Hello {{UserName}},\n\nYour device {{DeviceName}} ({{OSAndVersion}}) does not meet {{PolicyName}} since {{NoncompliantSince}}.\n\n{{CompanyName}} IT',
        },
        {
          locale: 'en-GB',
          subject: 'Action needed (UK): {{DeviceName}} is not compliant',
          body: 'Hello {{UserName}},\n\nPlease update {{DeviceName}}.',
        },
        {
          locale: 'de-DE',
          subject: 'Handlungsbedarf: {{DeviceName}} ist nicht konform',
          body: 'Hallo {{UserName}},\n\nbitte aktualisieren Sie {{DeviceName}}.',
        },
      ],
    });
    expect(r.status).toBe(201);
    return r.body as { id: string; defaultLocale: string };
  };

  const ledger = async (deviceId: string) => {
    const r = await call('GET', `admin/compliance/devices/${deviceId}`);
    expect(r.status).toBe(200);
    return r.body as {
      states: {
        policyId: string;
        status: string;
        noncompliantSince: string;
        inGracePeriod: boolean;
        graceUntil: string;
        markedNoncompliantAt: string | null;
        skipped: string | null;
      }[];
      actions: LedgerEntry[];
    };
  };

  /** Runs detection and waits until the device's ledger satisfies `check`. */
  const evaluateUntil = async (deviceId: string, check: (l: LedgerEntry[]) => boolean, what: string) => {
    expect((await call('POST', 'admin/compliance/evaluate')).status).toBe(202);
    let last: LedgerEntry[] = [];
    return eventually(
      async () => {
        last = (await ledger(deviceId)).actions;
        return check(last) ? last : undefined;
      },
      20_000,
      what,
    ).catch((e: Error) => {
      throw new Error(`${e.message} Ledger: ${JSON.stringify(last.map((a) => [a.action, a.status, a.reason ?? a.error]))}`);
    });
  };

  const status = (l: LedgerEntry[], action: string) => l.find((a) => a.action === action)?.status;
  const outbox = () =>
    [...env.sandbox.store.table('outbox').values()] as unknown as {
      subject: string;
      toRecipients: { emailAddress: { address: string } }[];
      ccRecipients?: { emailAddress: { address: string } }[];
      body: { content: string };
      attachments?: { contentId: string; isInline: boolean; contentType: string; contentBytes: string }[];
      from: string;
    }[];
  const mailsTo = (address: string) => outbox().filter((m) => m.toRecipients.some((r) => r.emailAddress.address === address));
  const locks = (deviceId: string) =>
    ((env.sandbox.store.table('managedDevices').get(deviceId)?.deviceActionResults as { actionName: string }[] | undefined) ?? []).filter(
      (r) => r.actionName === 'remoteLock',
    );
  const flip = async (deviceId: string, complianceState: string) => {
    const r = await fetch(`${env.sandbox.controlUrl}/_sandbox/compliance`, {
      method: 'POST',
      body: JSON.stringify({ deviceId, complianceState }),
    });
    expect(r.status).toBe(200);
  };

  return { call, device, policy, template, ledger, evaluateUntil, status, outbox, mailsTo, locks, flip };
}
