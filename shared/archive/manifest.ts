import { defineConnector } from '../platform/manifest';

/**
 * The network archive: a TeleMessage-style provider account (connect, terms, connection test,
 * switch on and off) and the user mapping. The nightly import arrives with its storage and settings.
 */
export const archive = defineConnector({
  id: 'archive',
  name: 'O2 network archive',
  description: 'Nightly import of SMS and voice call records into users\u2019 mailboxes.',
  tables: ['archiveaccount', 'archivemapping'],
  queues: [],
  containers: [],
  settings: {},
  appRoles: [
    {
      value: 'Archive.Read',
      displayName: 'Read the network archive',
      description: 'Read the archive connection, mapping and import logs.',
    },
    {
      value: 'Archive.ReadWrite',
      displayName: 'Manage the network archive',
      description: 'Connect the archive provider, upload the user mapping, run and replay imports; includes Archive.Read.',
      includes: ['Archive.Read'],
    },
  ],
  graphPermissions: {
    'User.Read.All': 'check that each mapped or participant mailbox is a Microsoft 365 user',
    'Mail.ReadWrite': "create the archive folder in each participant's mailbox and import the items into it",
  },
});
