import { z } from 'zod';
import { defineManifest } from './manifest';
import { anyUrl, csv, httpsUrl, int, perWindow, uuid } from './settings';

/** The platform's own part: storage for connector status, Graph creates, sign-in and sessions, runs; its settings and roles. */
export const platform = defineManifest({
  id: 'platform',
  tables: ['connectors', 'graphcreates', 'oauthstates', 'sessions', 'runs', 'appalerts'],
  queues: [],
  containers: [],
  settings: {
    ENTRA_TENANT_ID: uuid.describe('The Microsoft Entra tenant this app serves.'),
    ENTRA_CLIENT_ID: uuid.describe(
      "The app registration's client id: audience of admin API tokens and the client that calls Microsoft Graph.",
    ),
    ENTRA_CLIENT_SECRET: z
      .string()
      .min(1, 'the client secret of the app registration')
      .optional()
      .describe(
        'Client secret of the app registration, for local runs (node infra/entra/setup.js --secret); in Azure the app uses ENTRA_MANAGED_IDENTITY_CLIENT_ID instead.',
      ),
    ENTRA_CLIENT_SECRET_EXPIRES: z.iso
      .date('a date, YYYY-MM-DD')
      .optional()
      .describe(
        'When ENTRA_CLIENT_SECRET expires (setup.js prints it); health shows the days left, and 30 and 7 days before it an alert is logged and emailed to ALERT_EMAIL.',
      ),
    ENTRA_MANAGED_IDENTITY_CLIENT_ID: uuid
      .optional()
      .describe(
        "Client id of the function app's user-assigned managed identity, which the app registration trusts (a federated identity credential): its token is the app's client assertion, so no secret is needed (set by Bicep).",
      ),
    ENTRA_AUTHORITY_HOST: httpsUrl
      .default('https://login.microsoftonline.com')
      .describe('Entra ID authority host (token issuer, JWKS, consent).'),
    GRAPH_BASE_URL: httpsUrl.default('https://graph.microsoft.com').describe('Microsoft Graph host; the app calls <host>/v1.0.'),
    ADMIN_ALLOWED_TENANTS: csv
      .pipe(z.array(uuid))
      .optional()
      .describe('Comma-separated tenant ids whose admin tokens are accepted; defaults to ENTRA_TENANT_ID.'),
    PUBLIC_BASE_URL: anyUrl.describe(
      'Public base URL of this app (https://<app>.azurewebsites.net), used in webhook and OAuth redirect URLs.',
    ),
    SECRETS_KEY: z
      .string()
      .refine((s) => Buffer.from(s, 'base64').length === 32, '32 random bytes, base64-encoded (openssl rand -base64 32)')
      .describe('Key that encrypts connector secrets stored in Table Storage (a Key Vault reference in Azure).'),
    GRAPH_MAX_CONCURRENCY: int(1, 64, 8).describe('Most Graph requests in flight at once from one instance.'),
    GRAPH_MAILBOX_CONCURRENCY: int(1, 4, 4).describe('Most Graph requests in flight at once per mailbox (Outlook allows 4).'),
    GRAPH_MAILBOX_REQUESTS: perWindow('10000/600').describe(
      "Graph requests per mailbox per window (Outlook's limit: 10000 per 600 s); requests wait for room instead of being throttled.",
    ),
    GRAPH_MAILBOX_UPLOAD_MB: perWindow('150/300').describe(
      "Megabytes of request bodies per mailbox per window (Outlook's limit: 150 per 300 s), paced the same way.",
    ),
    GRAPH_MAX_RETRIES: int(0, 10, 6).describe('Retries of a throttled or failed Graph request before it fails.'),
    GRAPH_TIMEOUT_SECONDS: int(1, 600, 60).describe(
      'How long one Graph request may take, answer included, before it counts as failed like a 5xx.',
    ),
    HTTP_MAX_BODY_BYTES: int(1024, 4 * 1024 * 1024, 1024 * 1024).describe('Largest request body accepted by the HTTP functions.'),
    RUN_KEEP_DAYS: int(1, 3650, 90).describe(
      'How long a finished run (and the records of its work, such as an archive import\u2019s items) is kept.',
    ),
    SESSION_IDLE_MINUTES: int(5, 1440, 60).describe('An admin browser session unused this long ends; the admin signs in again.'),
    SESSION_MAX_HOURS: int(1, 168, 12).describe('An admin browser session ends this long after sign-in, however active.'),
    ALERT_EMAIL: z
      .email('an email address, e.g. it-admins@contoso.com')
      .optional()
      .describe("Where the app's own alerts (its client secret about to expire) are emailed; needs ALERT_MAIL_SENDER."),
    ALERT_MAIL_SENDER: z
      .email('a mailbox address of the tenant, e.g. alerts@contoso.com')
      .optional()
      .describe('Mailbox that sends alert emails (Graph sendMail); without it alerts are only recorded.'),
  },
  appRoles: [
    { value: 'Connectors.Read', displayName: 'Read connectors', description: 'Read connector state, reports and ledgers.' },
    {
      value: 'Connectors.ReadWrite',
      displayName: 'Manage connectors',
      description: 'Configure connectors; includes Connectors.Read.',
      includes: ['Connectors.Read'],
    },
  ],
  graphPermissions: {},
});
