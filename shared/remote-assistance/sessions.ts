import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { allManagedDevices, readManagedDevice, type ManagedDevice, type Read } from '../graph/objects';
import { sendMail } from '../graph/mail';
import type { Principal } from '../platform/auth/admin';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { AppError, notFound } from '../platform/errors';
import { csvFile, escapeHtml } from '../platform/http';
import type { Logger } from '../platform/log';
import { newestFirst } from '../platform/storage/tables';
import { startedBy } from '../platform/runs';
import { tables, type SessionRow } from './model';
import { teamViewerApi } from './teamviewer';

/**
 * Remote-assistance sessions: for the user of a supported managed device, a TeamViewer session with
 * the user as end customer; the supporter link goes to the requesting admin and the invitation (the
 * end-customer link) to the user by email, as Intune's Company Portal notification is not ours to
 * send. Every request is recorded, refused ones too: who, which device, when, the session code, what
 * came of it.
 */

/** What a session request reads of a managed device, and the device list shows. */
const DEVICE_FIELDS = [
  'deviceName',
  'operatingSystem',
  'osVersion',
  'model',
  'managementAgent',
  'managedDeviceOwnerType',
  'userId',
  'userDisplayName',
  'userPrincipalName',
  'emailAddress',
] as const;
type Device = Read<ManagedDevice, (typeof DEVICE_FIELDS)[number]>;

/**
 * Whether TeamViewer's Intune connector supports the device, read from what Intune reports in
 * Graph v1.0 (which has no edition or Android management-mode field): Android device administrator
 * and Android Enterprise personally-owned work profile (managed by the Company Portal), iOS/iPadOS,
 * macOS and Windows are; Android Enterprise corporate-owned devices (managed by Android Device Policy),
 * HoloLens, Surface Hub and Windows 10 S are not.
 */
export function supportOf(
  d: Pick<Device, 'operatingSystem' | 'model' | 'managementAgent' | 'managedDeviceOwnerType'>,
): { supported: true; platform: string } | { supported: false; platform: string; reason: string } {
  const os = (d.operatingSystem ?? '').toLowerCase();
  const model = (d.model ?? '').toLowerCase();
  const no = (platform: string, reason: string) => ({ supported: false as const, platform, reason });
  if (os === 'android') {
    if (d.managementAgent === 'googleCloudDevicePolicyController')
      return no(
        'Android Enterprise corporate-owned',
        'TeamViewer does not support Android Enterprise corporate-owned devices (dedicated, fully managed or corporate-owned work profile).',
      );
    return {
      supported: true,
      platform: d.managedDeviceOwnerType === 'personal' ? 'Android (personally owned)' : 'Android device administrator',
    };
  }
  if (os === 'ios' || os === 'ipados') return { supported: true, platform: 'iOS/iPadOS' };
  if (os === 'macos') return { supported: true, platform: 'macOS' };
  if (os.startsWith('windows')) {
    if (/holographic/.test(os) || /hololens/.test(model))
      return no('Windows Holographic (HoloLens)', 'TeamViewer does not support Windows Holographic (HoloLens).');
    if (/windows team/.test(os) || /surface hub/.test(model))
      return no('Windows Team (Surface Hub)', 'TeamViewer does not support Windows Team (Surface Hub).');
    if (/\b10 s\b|\bs mode\b/.test(os)) return no('Windows 10 S', 'TeamViewer does not support Windows 10 S.');
    return { supported: true, platform: 'Windows' };
  }
  return no(d.operatingSystem || 'unknown', `TeamViewer remote assistance is not available for ${d.operatingSystem || 'this platform'}.`);
}

export const deviceSchema = z.object({
  id: z.string(),
  deviceName: z.string(),
  operatingSystem: z.string().nullable(),
  osVersion: z.string().nullable(),
  userName: z.string().nullable(),
  userPrincipalName: z.string().nullable(),
  platform: z.string(),
  supported: z.boolean().describe('A session can be requested for its user.'),
  reason: z.string().nullable().describe('Why not, when it cannot: the platform TeamViewer does not support, or no user.'),
});

const NO_USER = (name: string) => `${name} has no user to assist (a userless enrollment); use the TeamViewer portal.`;

/** The managed devices, each with whether a session can be requested for its user and, if not, why. */
export async function listDevices(): Promise<z.infer<typeof deviceSchema>[]> {
  const devices = await allManagedDevices(DEVICE_FIELDS);
  return devices
    .map((d) => {
      const support = supportOf(d);
      const reason = !support.supported ? support.reason : d.userId ? null : NO_USER(d.deviceName);
      return {
        id: d.id,
        deviceName: d.deviceName,
        operatingSystem: d.operatingSystem ?? null,
        osVersion: d.osVersion ?? null,
        userName: d.userDisplayName ?? null,
        userPrincipalName: d.userPrincipalName ?? null,
        platform: support.platform,
        supported: reason === null,
        reason,
      };
    })
    .sort((a, b) => a.deviceName.localeCompare(b.deviceName));
}

export const sessionSchema = z.object({
  id: z.string(),
  requestedBy: z.string(),
  requestedByName: z.string().nullable(),
  requestedAt: z.string(),
  deviceId: z.string(),
  deviceName: z.string().nullable(),
  platform: z.string().nullable(),
  userId: z.string().nullable(),
  userName: z.string().nullable(),
  outcome: z
    .enum(['requesting', 'open', 'closed', 'refused', 'failed'])
    .describe('requesting until TeamViewer answers (a request cut short is settled by the report sync).'),
  reason: z.string().nullable(),
  code: z.string().nullable().describe("TeamViewer's session code (s12-345-678)."),
  supporterLink: z.string().nullable().describe('Opens the session for the supporter.'),
  validUntil: z.string().nullable(),
  invitation: z.enum(['sent', 'failed', 'notConfigured']).nullable().describe("The email inviting the device's user."),
  closedAt: z.string().nullable(),
  closedBy: z.string().nullable(),
  connections: z
    .array(
      z.object({
        id: z.string(),
        supporter: z.string().nullable(),
        start: z.string(),
        end: z.string().nullable(),
        minutes: z.number().nullable(),
      }),
    )
    .describe("TeamViewer's connections to the session, from the report sync."),
});
export type SessionView = z.infer<typeof sessionSchema>;

const PARTITION = 'session';
const view = (r: SessionRow): SessionView => ({
  id: r.rowKey,
  requestedBy: r.requestedBy,
  requestedByName: r.requestedByName ?? null,
  requestedAt: r.requestedAt,
  deviceId: r.deviceId,
  deviceName: r.deviceName ?? null,
  platform: r.platform ?? null,
  userId: r.userId ?? null,
  userName: r.userName ?? null,
  outcome: r.outcome,
  reason: r.reason ?? null,
  code: r.code ?? null,
  supporterLink: r.supporterLink ?? null,
  validUntil: r.validUntil ?? null,
  invitation: r.invitation ?? null,
  closedAt: r.closedAt ?? null,
  closedBy: r.closedBy ?? null,
  connections: r.connections ? (JSON.parse(r.connections) as SessionView['connections']) : [],
});

interface TvSession {
  code: string;
  state: string;
  supporter_link?: string;
  end_customer_link?: string;
  valid_until?: string;
}

/**
 * Requests a session for the user of `deviceId`. An unsupported device, or one without a user, is
 * refused (422, recorded) before anything is created in TeamViewer.
 */
export async function requestSession(deviceId: string, principal: Principal, log: Logger): Promise<SessionView> {
  const now = clock.now();
  const row: SessionRow = {
    partitionKey: PARTITION,
    rowKey: `${newestFirst(now)}-${randomBytes(4).toString('hex')}`,
    requestedBy: startedBy(principal),
    requestedByName: principal.name,
    requestedAt: new Date(now).toISOString(),
    deviceId,
    outcome: 'failed',
  };
  const refuse = async (status: number, reason: string): Promise<never> => {
    await tables.sessions.insert({ ...row, outcome: 'refused', reason });
    throw new AppError(status, status === 404 ? 'Not Found' : 'Unprocessable Content', reason, { sessionId: row.rowKey });
  };
  const device = await readManagedDevice(deviceId, DEVICE_FIELDS);
  if (!device) return refuse(404, `Intune has no managed device ${deviceId}.`);
  const support = supportOf(device);
  Object.assign(row, { deviceName: device.deviceName, platform: support.platform });
  if (!support.supported) return refuse(422, support.reason);
  if (!device.userId) return refuse(422, NO_USER(device.deviceName ?? 'The device'));
  // Intune reports the device's user with the device: name, sign-in name and mail address.
  const email = device.emailAddress || device.userPrincipalName || '';
  const name = device.userDisplayName || email;
  Object.assign(row, { userId: device.userId, userName: name });
  const requester = principal.name ?? row.requestedBy;
  // Recorded before TeamViewer is asked: the session carries the record's id (custom_api), so a
  // request cut short between the two is found and settled by the report sync.
  await tables.sessions.insert({ ...row, outcome: 'requesting' });
  let session: TvSession;
  try {
    session = await teamViewerApi<TvSession>('POST', '/sessions', {
      log,
      body: {
        groupname: config().TEAMVIEWER_GROUP_NAME,
        description:
          `Intune remote assistance for ${device.deviceName ?? device.id} (${support.platform} ${device.osVersion ?? ''}`.trimEnd() +
          `), requested by ${requester}.`,
        end_customer: { name: name.slice(0, 100), email: email.slice(0, 254) },
        custom_api: row.rowKey,
      },
    });
  } catch (e) {
    await tables.sessions.upsert({ ...row, outcome: 'failed', reason: (e as Error).message });
    throw e;
  }
  Object.assign(row, { outcome: 'open', code: session.code, supporterLink: session.supporter_link, validUntil: session.valid_until });
  row.invitation = await invite(email, name, device, session, requester, log);
  await tables.sessions.upsert(row);
  log.info('Remote-assistance session requested', { sessionId: row.rowKey, deviceId, code: session.code, invitation: row.invitation });
  return view(row);
}

/** Emails the user the end-customer link; without REMOTE_ASSISTANCE_MAIL_SENDER the admin shares it. */
async function invite(
  email: string,
  name: string,
  d: Device,
  s: TvSession,
  requester: string,
  log: Logger,
): Promise<SessionRow['invitation']> {
  const sender = config().REMOTE_ASSISTANCE_MAIL_SENDER;
  if (!sender || !email || !s.end_customer_link) return 'notConfigured';
  try {
    await sendMail(
      sender,
      [email],
      'Remote assistance: your IT support would like to help',
      `<p>Hello ${escapeHtml(name)},</p><p>${escapeHtml(requester)} from IT support has started a remote-assistance session for your device ${escapeHtml(
        d.deviceName ?? '',
      )}. To let them help, open this link on the device and accept the request:</p><p><a href="${escapeHtml(s.end_customer_link)}">${escapeHtml(
        s.end_customer_link,
      )}</a></p><p>Session code: ${escapeHtml(s.code)}. The link works until ${escapeHtml(s.valid_until ?? 'the session is closed')}.</p>`,
    );
    return 'sent';
  } catch (e) {
    log.warn('Remote-assistance invitation email failed', { error: e });
    return 'failed';
  }
}

export interface SessionFilter {
  deviceId?: string;
  userId?: string;
  requestedBy?: string;
  outcome?: SessionRow['outcome'];
}

export async function listSessions(f: SessionFilter): Promise<SessionView[]> {
  const rows = await tables.sessions.list(`PartitionKey eq '${PARTITION}'`);
  return rows
    .map((r) => r.entity)
    .filter((r) => (!f.deviceId || r.deviceId === f.deviceId) && (!f.userId || r.userId === f.userId))
    .filter((r) => (!f.requestedBy || r.requestedBy === f.requestedBy) && (!f.outcome || r.outcome === f.outcome))
    .map(view);
}

async function row(id: string): Promise<SessionRow> {
  const got = await tables.sessions.get(PARTITION, id);
  if (!got) throw notFound(`No remote-assistance session ${id}.`);
  return got.entity;
}

export const getSession = async (id: string) => view(await row(id));

/** Closes the session in TeamViewer, then records who closed it; closing a closed one changes nothing. */
export async function closeSession(id: string, principal: Principal, log: Logger): Promise<SessionView> {
  const r = await row(id);
  if (r.outcome !== 'open' || !r.code) return view(r);
  await teamViewerApi('PUT', `/sessions/${encodeURIComponent(r.code)}`, { body: { state: 'closed' }, log });
  const closed = await tables.sessions.modify(PARTITION, id, (x) =>
    x && x.outcome === 'open' ? { ...x, outcome: 'closed', closedAt: clock.iso(), closedBy: startedBy(principal) } : x,
  );
  log.info('Remote-assistance session closed', { sessionId: id, code: r.code });
  return view(closed!);
}

/** The audit as CSV: one line per request, with its connections summed up. */
export async function sessionsCsv(f: SessionFilter): Promise<string> {
  const rows = (await listSessions(f)).map((s) => [
    s.requestedAt,
    s.requestedBy,
    s.requestedByName,
    s.deviceId,
    s.deviceName,
    s.platform,
    s.userName,
    s.outcome,
    s.reason,
    s.code,
    s.invitation,
    s.closedAt,
    s.closedBy,
    s.connections.length,
    s.connections[0]?.start,
    [...new Set(s.connections.map((c) => c.supporter).filter(Boolean))].join('; '),
    s.connections.reduce((n, c) => n + (c.minutes ?? 0), 0),
  ]);
  return csvFile(
    [
      'Requested at',
      'Requested by',
      'Requester name',
      'Device id',
      'Device',
      'Platform',
      'User',
      'Outcome',
      'Reason',
      'Session code',
      'Invitation',
      'Closed at',
      'Closed by',
      'Connections',
      'First connection',
      'Supporters',
      'Minutes connected',
    ],
    rows,
  );
}
