/**
 * The Microsoft Graph application permissions the app needs, least privilege, and why. The Entra
 * set-up script grants exactly these, the README lists them, and the sandbox tenant grants the app
 * only these, so a call needing anything else fails in the tests.
 */
export const GRAPH_PERMISSIONS = {
  'DeviceManagementManagedDevices.Read.All':
    'TEM: read managed devices, their ownership and phone numbers; confirm consent. Compliance: read compliance state, management agent and device actions',
  'DeviceManagementManagedDevices.PrivilegedOperations.All': 'Compliance: remotely lock a device that stays noncompliant',
  'DeviceManagementConfiguration.ReadWrite.All':
    'TEM: create the iOS and Android restriction profiles and assign them to groups; VPP: read tokens and start their licence sync; Compliance: read compliance policies and their per-device statuses',
  'DeviceManagementApps.Read.All': 'VPP: read VPP apps and eBooks with their licence counts',
  'Group.Create': 'TEM: create the restriction groups',
  'GroupMember.ReadWrite.All': 'TEM: find the restriction groups and add or remove devices',
  'Device.ReadWrite.All': 'TEM: Graph requires it (with GroupMember.ReadWrite.All) to add a device to a group; also reads devices',
  'User.Read.All': "Compliance: the user's mail address and preferred language for notifications",
  'Mail.Send': 'TEM and VPP: alert emails from ALERT_MAIL_SENDER; Compliance: notifications from COMPLIANCE_MAIL_SENDER',
  'Mail.Read':
    "Compliance: after an interrupted send, look in the sender's Sent Items for the notification (by its extended property, which Mail.ReadBasic.All cannot see) before sending it again; scope it to that one mailbox with Exchange RBAC for Applications",
} as const;

export type GraphPermission = keyof typeof GRAPH_PERMISSIONS;
