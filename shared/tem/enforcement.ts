import { graph, GraphApiError, odataString } from '../graph/client';
import { isMissing } from '../graph/objects';
import { CreateLedger } from '../graph/idempotent';
import { clock } from '../platform/clock';
import { tables, type Kind, type SetupRow } from './model';

/**
 * How a block reaches a device: one Entra security group per kind (data, roaming), each assigned an
 * iOS and an Android device configuration profile with the restrictions. Blocking adds the line's
 * device to the group; reverting removes it. Everything here is idempotent.
 *
 * Graph v1.0 has no device-wide "block all cellular data" setting for iOS or Android. The data
 * profiles use the closest real settings: on iOS, data roaming, the personal hotspot and per-app
 * cellular changes are blocked; on Android, data roaming and Wi-Fi tethering. See README (TEM).
 */
export const PROFILE_SETTINGS: Record<Kind, { ios: Record<string, unknown>; android: Record<string, unknown> }> = {
  roaming: {
    ios: { cellularBlockDataRoaming: true, cellularBlockGlobalBackgroundFetchWhileRoaming: true, cellularBlockVoiceRoaming: true },
    android: { cellularBlockDataRoaming: true, cellularBlockVoiceRoaming: true },
  },
  data: {
    ios: {
      cellularBlockDataRoaming: true,
      cellularBlockPersonalHotspot: true,
      cellularBlockPerAppDataModification: true,
      cellularBlockGlobalBackgroundFetchWhileRoaming: true,
    },
    android: { cellularBlockDataRoaming: true, cellularBlockWiFiTethering: true },
  },
};

const names = (kind: Kind) => ({
  group: { displayName: `TEM: block ${kind === 'data' ? 'cellular data' : 'roaming'}`, mailNickname: `tem-block-${kind}` },
  ios: `TEM: block ${kind === 'data' ? 'cellular data' : 'roaming'} (iOS)`,
  android: `TEM: block ${kind === 'data' ? 'cellular data' : 'roaming'} (Android)`,
});

const ledger = new CreateLedger();

async function ensureGroup(kind: Kind): Promise<string> {
  const n = names(kind).group;
  const g = graph();
  const { id } = await ledger.createOnce('tem', `group-${kind}`, {
    find: async () =>
      (await g.all<{ id: string }>('/groups', { $filter: `mailNickname eq ${odataString(n.mailNickname)}`, $select: 'id' }))[0],
    create: () =>
      g.post<{ id: string }>('/groups', {
        '@odata.type': '#microsoft.graph.group',
        ...n,
        description:
          'Devices whose lines crossed a telecom expense threshold. Managed by the TEM connector; do not edit membership by hand.',
        mailEnabled: false,
        securityEnabled: true,
      }),
    idOf: (x) => x.id,
  });
  return id;
}

async function ensureProfile(kind: Kind, platform: 'ios' | 'android', groupId: string): Promise<string> {
  const displayName = names(kind)[platform];
  const type = platform === 'ios' ? '#microsoft.graph.iosGeneralDeviceConfiguration' : '#microsoft.graph.androidGeneralDeviceConfiguration';
  const g = graph();
  const { id } = await ledger.createOnce('tem', `profile-${platform}-${kind}`, {
    find: async () =>
      (await g.all<{ id: string }>('/deviceManagement/deviceConfigurations', { $filter: `displayName eq ${odataString(displayName)}` }))[0],
    create: () =>
      g.post<{ id: string }>('/deviceManagement/deviceConfigurations', {
        '@odata.type': type,
        displayName,
        description: 'Applied by the TEM connector to devices over a threshold.',
        ...PROFILE_SETTINGS[kind][platform],
      }),
    idOf: (x) => x.id,
  });
  const assignments = await g.all<{ target?: { groupId?: string } }>(`/deviceManagement/deviceConfigurations/${id}/assignments`);
  if (!assignments.some((a) => a.target?.groupId === groupId)) {
    await g.post(`/deviceManagement/deviceConfigurations/${id}/assignments`, {
      '@odata.type': '#microsoft.graph.deviceConfigurationAssignment',
      target: { '@odata.type': '#microsoft.graph.groupAssignmentTarget', groupId },
    });
  }
  return id;
}

/** The group (and its assigned profiles) that enforces `kind`, created on first use. */
export async function ensureEnforcement(kind: Kind): Promise<SetupRow> {
  const existing = await tables.setup.get('setup', kind);
  if (existing) return existing.entity;
  const groupId = await ensureGroup(kind);
  const [iosProfileId, androidProfileId] = await Promise.all([
    ensureProfile(kind, 'ios', groupId),
    ensureProfile(kind, 'android', groupId),
  ]);
  const row: SetupRow = { partitionKey: 'setup', rowKey: kind, groupId, iosProfileId, androidProfileId, updatedAt: clock.iso() };
  await tables.setup.upsert(row);
  return row;
}

/** The Entra directory object id of a managed device (group members are directory objects). */
export async function directoryObjectId(azureADDeviceId: string): Promise<string | undefined> {
  const found = await graph().all<{ id: string }>('/devices', { $filter: `deviceId eq ${odataString(azureADDeviceId)}`, $select: 'id' });
  return found[0]?.id;
}

export async function addMember(groupId: string, objectId: string): Promise<void> {
  try {
    await graph().post(`/groups/${groupId}/members/$ref`, { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${objectId}` });
  } catch (e) {
    // Already a member: an earlier attempt got there first.
    if (e instanceof GraphApiError && e.graphStatus === 400 && /already exist/i.test(e.graphMessage)) return;
    throw e;
  }
}

export async function removeMember(groupId: string, objectId: string): Promise<void> {
  try {
    await graph().delete(`/groups/${groupId}/members/${objectId}/$ref`);
  } catch (e) {
    // Not a member any more: an earlier attempt removed it.
    if (isMissing(e)) return;
    throw e;
  }
}
