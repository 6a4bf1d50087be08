import { defineConnector } from '../platform/manifest';

/** Listed so admins see it coming; its storage, settings and permissions arrive with the connector. */
export const archive = defineConnector({
  id: 'archive',
  name: 'O2 network archive',
  description: 'Nightly import of SMS and voice call records into users\u2019 mailboxes.',
  tables: [],
  queues: [],
  containers: [],
  settings: {},
  appRoles: [],
  graphPermissions: {},
});
