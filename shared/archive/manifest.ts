import { z } from 'zod';
import { defineConnector } from '../platform/manifest';
import { schedule } from '../platform/settings';

/**
 * The network archive: a TeleMessage-style provider account (connect, terms, connection test,
 * switch on and off), the user mapping, and the nightly import into participants' mailboxes.
 */
export const archive = defineConnector({
  id: 'archive',
  name: 'O2 network archive',
  description: 'Nightly import of SMS and voice call records into users\u2019 mailboxes.',
  setup:
    'Register the provider account (Network archive > Provider account), accept the terms, test the connection and switch the import on.',
  tables: ['archiveaccount', 'archivemapping', 'archiveitems'],
  queues: ['archive-import', 'archive-tally'],
  containers: ['archive-staging'],
  settings: {
    ARCHIVE_IMPORT_SCHEDULE: schedule('"0 0 1 * * *" for 01:00 UTC daily').describe(
      'When the nightly archive import runs (NCRONTAB, UTC): it covers the time since the last completed import.',
    ),
    ARCHIVE_FOLDER_NAME: z
      .string()
      .min(1)
      .max(255)
      .default('O2 SMS and Voice Network Archiver')
      .describe("The folder each participant's mailbox receives the archived items in."),
  },
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
