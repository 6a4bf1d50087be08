import { defineConnector } from '../platform/manifest';

/** Listed with its two permissions; its storage, settings and Graph permissions arrive with the connector. */
export const remoteAssistance = defineConnector({
  id: 'remote-assistance',
  name: 'Remote assistance (TeamViewer)',
  description: 'TeamViewer connection and remote-assistance sessions for supported devices.',
  tables: [],
  queues: [],
  containers: [],
  settings: {},
  appRoles: [
    {
      value: 'RemoteAssistance.Request',
      displayName: 'Request remote assistance',
      description: 'Request remote-assistance sessions for supported devices.',
    },
    {
      value: 'RemoteAssistance.Manage',
      displayName: 'Update remote assistance',
      description: 'Connect and configure the remote-assistance partner (TeamViewer).',
    },
  ],
  graphPermissions: {},
});
