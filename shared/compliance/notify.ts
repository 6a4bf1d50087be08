import { listGroupMembers, readManagedDevice, readUser, type ManagedDevice, type Read, type User } from '../graph/objects';
import { sendMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { badRequest, notFound } from '../platform/errors';
import { mailBranding } from './branding';
import type { Template } from './model';
import type { TemplateInput } from './inputs';
import { draftTemplate, getTemplate, renderMail, type MailValues, type RenderedMail } from './templates';

/** Turning a template into a mail for a real device: its values from Graph, rendering, sending. */

const DEVICE_FIELDS = [
  'deviceName',
  'operatingSystem',
  'osVersion',
  'complianceState',
  'managementAgent',
  'managementState',
  'userId',
  'userPrincipalName',
  'deviceActionResults',
] as const;
const USER_FIELDS = ['displayName', 'mail', 'userPrincipalName', 'preferredLanguage'] as const;
export type DeviceFacts = Read<ManagedDevice, (typeof DEVICE_FIELDS)[number]>;
export type UserFacts = Read<User, (typeof USER_FIELDS)[number]>;

/** The managed device, or undefined when Intune no longer has it. */
export const readDevice = (deviceId: string): Promise<DeviceFacts | undefined> => readManagedDevice(deviceId, DEVICE_FIELDS);

/** Mail addresses of the members of groups (users with a mailbox), without duplicates. */
export async function groupMailboxes(groupIds: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const id of groupIds) {
    for await (const m of listGroupMembers(id, ['mail'])) if (m.mail) out.add(m.mail.toLowerCase());
  }
  return [...out];
}

const formatTime = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

export function mailValues(
  device: DeviceFacts,
  user: UserFacts | undefined,
  policyName: string,
  since: string,
  companyName: string,
): MailValues {
  return {
    UserName: user?.displayName ?? device.userPrincipalName ?? '',
    UserEmail: user?.mail ?? '',
    DeviceName: device.deviceName,
    DeviceId: device.id,
    OSAndVersion: [device.operatingSystem, device.osVersion].filter(Boolean).join(' '),
    PolicyName: policyName,
    NoncompliantSince: formatTime(since),
    CompanyName: companyName,
  };
}

/** The mailbox notifications are sent from. */
export function senderMailbox(): string | undefined {
  const cfg = config();
  return cfg.COMPLIANCE_MAIL_SENDER ?? cfg.ALERT_MAIL_SENDER;
}

export interface PreparedMail extends RenderedMail {
  to: string | undefined;
  /** The logo the html refers to as cid:, when the template shows it. */
  inline: { name: string; contentType: string; contentId: string; bytes: Buffer }[];
  send(to: string[], cc: string[], tag?: string): Promise<void>;
}

/** Renders a template for a device and its user, with branding; `send` delivers it through Graph. */
export async function prepareMail(
  template: Template,
  device: DeviceFacts,
  policyName: string,
  since: string,
  locale?: string,
): Promise<PreparedMail> {
  const [user, branding] = await Promise.all([
    device.userId ? readUser(device.userId, USER_FIELDS) : Promise.resolve(undefined),
    mailBranding(),
  ]);
  const rendered = renderMail(
    template,
    branding.view,
    mailValues(device, user, policyName, since, branding.view.companyName),
    locale ?? user?.preferredLanguage,
  );
  const inline =
    branding.logo && template.branding.companyLogo
      ? [
          {
            name: `logo.${branding.logo.contentType === 'image/png' ? 'png' : 'jpg'}`,
            contentType: branding.logo.contentType,
            contentId: branding.view.logoCid!,
            bytes: branding.logo.bytes,
          },
        ]
      : [];
  return {
    ...rendered,
    to: user?.mail ?? undefined,
    inline,
    send: async (to, cc, tag) => {
      const from = senderMailbox();
      if (!from)
        throw badRequest('No mailbox sends notifications: set COMPLIANCE_MAIL_SENDER (or ALERT_MAIL_SENDER) to a mailbox of the tenant.');
      await sendMail(from, to, rendered.subject, rendered.html, { cc, inline, tag });
    },
  };
}

/** A device for a preview or test send, or a 404 saying which id to use. */
async function deviceForPreview(deviceId: string): Promise<DeviceFacts> {
  const d = await readDevice(deviceId);
  if (!d) throw notFound(`Intune has no managed device '${deviceId}'; use the id of a device in /deviceManagement/managedDevices.`);
  return d;
}

/** A template (stored, or a draft being edited) rendered for a real device, in its user's language or `locale`. */
export async function previewTemplate(templateOrId: string | TemplateInput, deviceId: string, policyName = '(policy)', locale?: string) {
  const [template, device] = await Promise.all([
    typeof templateOrId === 'string' ? getTemplate(templateOrId) : draftTemplate(templateOrId),
    deviceForPreview(deviceId),
  ]);
  const mail = await prepareMail(template, device, policyName, clock.iso(), locale);
  // A page shows no cid: image; the logo goes in as a data: URL instead.
  const html = mail.inline.reduce(
    (out, i) => out.replaceAll(`cid:${i.contentId}`, `data:${i.contentType};base64,${i.bytes.toString('base64')}`),
    mail.html,
  );
  return { to: mail.to ?? null, locale: mail.locale, subject: mail.subject, html };
}

const SAMPLE_DEVICE: DeviceFacts = {
  id: '00000000-0000-0000-0000-000000000000',
  deviceName: 'Sample-iPhone',
  operatingSystem: 'iOS',
  osVersion: '17.5',
};

/** Sends a template to `to` in its default locale, with a real device's values or sample ones. */
export async function sendTestMail(templateId: string, to: string, deviceId?: string) {
  const template = await getTemplate(templateId);
  const device = deviceId ? await deviceForPreview(deviceId) : SAMPLE_DEVICE;
  const mail = await prepareMail(template, device, '(test)', clock.iso(), template.defaultLocale);
  await mail.send([to], []);
  return { sentTo: to, subject: mail.subject, locale: mail.locale };
}
