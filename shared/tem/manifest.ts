import { defineConnector } from '../platform/manifest';
import { int, schedule } from '../platform/settings';

export const tem = defineConnector({
  id: 'tem',
  name: 'Telecom expense management',
  description: 'Blocks cellular data or roaming on corporate lines when the TEM provider reports a threshold.',
  setup:
    'Register the provider (Telecom expense > Register a provider), give the provider its webhook URL and secret, then press Connect and grant admin consent.',
  tables: ['temproviders', 'temlines', 'temblocks', 'temledger', 'temalerts', 'temwebhooks', 'temsetup'],
  queues: ['tem-events', 'tem-jobs'],
  containers: [],
  settings: {
    TEM_RECONCILE_SCHEDULE: schedule('"0 30 * * * *" for every hour at :30').describe(
      'When the TEM block records are compared with the block groups and differences repaired (NCRONTAB, UTC).',
    ),
    CONSENT_WAIT_SECONDS: int(0, 3600, 600).describe(
      'After admin consent, how long to keep checking (with backoff) that Entra ID applied it before the connection counts as failed.',
    ),
  },
  appRoles: [],
  graphPermissions: {
    'DeviceManagementManagedDevices.Read.All': 'read managed devices, their ownership and phone numbers; confirm consent',
    'DeviceManagementConfiguration.ReadWrite.All': 'create the iOS and Android restriction profiles and assign them to groups',
    'Group.Create': 'create the restriction groups',
    'GroupMember.ReadWrite.All': 'find the restriction groups and add or remove devices',
    'Device.ReadWrite.All': 'Graph requires it (with GroupMember.ReadWrite.All) to add a device to a group; also reads devices',
    'Mail.Send': 'alert emails from ALERT_MAIL_SENDER',
  },
});
