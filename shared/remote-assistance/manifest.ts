import { z } from 'zod';
import { defineConnector } from '../platform/manifest';
import { httpsUrl, perWindow, schedule } from '../platform/settings';

/**
 * Remote assistance through TeamViewer: the connection (licence terms, OAuth with TeamViewer, tokens
 * refreshed single-flight), sessions for the users of supported devices, and their audit. The two
 * roles are Intune's two permissions: "update remote assistance" and "request remote assistance".
 */
export const remoteAssistance = defineConnector({
  id: 'remote-assistance',
  name: 'Remote assistance (TeamViewer)',
  description: 'TeamViewer connection and remote-assistance sessions for supported devices.',
  setup: "Accept TeamViewer's terms, then Connect (Remote assistance > TeamViewer connection).",
  tables: ['raconnection', 'rasessions'],
  queues: [],
  containers: [],
  settings: {
    REMOTE_ASSISTANCE_REPORT_SCHEDULE: schedule('"0 15 * * * *" for hourly at :15').describe(
      "When TeamViewer's connection reports are joined to the sessions (NCRONTAB, UTC).",
    ),
    TEAMVIEWER_API_URL: httpsUrl
      .default('https://webapi.teamviewer.com/api/v1')
      .describe("TeamViewer's Web API base URL (token endpoint, sessions, reports)."),
    TEAMVIEWER_AUTHORIZE_URL: httpsUrl
      .default('https://login.teamviewer.com/oauth2/authorize')
      .describe("TeamViewer's OAuth authorize page, where the admin signs in to TeamViewer to connect it."),
    TEAMVIEWER_CLIENT_ID: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Client id of the TeamViewer app (an "App" in the TeamViewer Management Console); without it the connector cannot connect.',
      ),
    TEAMVIEWER_CLIENT_SECRET: z
      .string()
      .min(1)
      .optional()
      .describe('Client secret of that TeamViewer app (a Key Vault reference in Azure).'),
    TEAMVIEWER_GROUP_NAME: z
      .string()
      .min(1)
      .max(100)
      .default('Intune remote assistance')
      .describe('The TeamViewer group sessions are created in (TeamViewer creates it on first use).'),
    REMOTE_ASSISTANCE_MAIL_SENDER: z
      .email('a mailbox address of the tenant, e.g. it-support@contoso.com')
      .optional()
      .describe("Mailbox that emails a device's user the invitation to a session; without it the admin shares the link."),
    TEAMVIEWER_REQUESTS: perWindow('7200/86400').describe(
      'TeamViewer Web API calls allowed per window by the licence (Business 7200/86400, Premium 14400/86400, Corporate 36000/86400, Free 300/3600); the app never goes beyond.',
    ),
  },
  appRoles: [
    {
      value: 'RemoteAssistance.Request',
      displayName: 'Request remote assistance',
      description: 'Start a remote-assistance session for the user of any supported device, and read the sessions.',
    },
    {
      value: 'RemoteAssistance.Update',
      displayName: 'Update remote assistance',
      description: 'Change the TeamViewer connector: accept its licence terms, connect and disconnect TeamViewer.',
    },
  ],
  graphPermissions: {
    'DeviceManagementManagedDevices.Read.All': "read the device a session is requested for, with its user's name and mail address",
    'Mail.Send': 'email the device user the invitation to the session',
  },
});
