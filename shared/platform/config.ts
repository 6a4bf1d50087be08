import { z } from 'zod';

/**
 * Every setting the app reads, in one schema. Settings are app settings in Azure (Key Vault
 * references for secrets) and `local.settings.json` / environment variables locally.
 * Each entry's description is what an operator reads when the setting is wrong.
 */

const uuid = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a GUID such as 00000000-0000-0000-0000-000000000000');
const httpsUrl = z.url({ protocol: /^https$/, error: 'an https:// URL' });
const anyUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const int = (min: number, max: number, dflt: number) =>
  z.coerce
    .number({ error: `a whole number from ${min} to ${max}` })
    .int(`a whole number from ${min} to ${max}`)
    .min(min, `at least ${min}`)
    .max(max, `at most ${max}`)
    .default(dflt);
const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** Names of the settings, as an operator sets them. */
export const settingsSchema = z.object({
  ENTRA_TENANT_ID: uuid.describe('The Microsoft Entra tenant this app serves.'),
  ENTRA_CLIENT_ID: uuid.describe(
    "The app registration's client id: audience of admin API tokens and the client that calls Microsoft Graph.",
  ),
  ENTRA_CLIENT_SECRET: z
    .string()
    .min(1, 'the client secret of the app registration (a Key Vault reference in Azure)')
    .describe('Client secret used for Microsoft Graph client-credentials tokens.'),
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
  GRAPH_MAX_RETRIES: int(0, 10, 6).describe('Retries of a throttled or failed Graph request before it fails.'),
  GRAPH_TIMEOUT_SECONDS: int(1, 600, 60).describe(
    'How long one Graph request may take, answer included, before it counts as failed like a 5xx.',
  ),
  HTTP_MAX_BODY_BYTES: int(1024, 4 * 1024 * 1024, 1024 * 1024).describe('Largest request body accepted by the HTTP functions.'),
  SESSION_IDLE_MINUTES: int(5, 1440, 60).describe('An admin browser session unused this long ends; the admin signs in again.'),
  SESSION_MAX_HOURS: int(1, 168, 12).describe('An admin browser session ends this long after sign-in, however active.'),
  CONSENT_WAIT_SECONDS: int(0, 3600, 600).describe(
    'After admin consent, how long to keep checking (with backoff) that Entra ID applied it before the connection counts as failed.',
  ),
  VPP_SYNC_SCHEDULE: z
    .string()
    .regex(/^\S+( \S+){5}$/, 'a six-field NCRONTAB schedule, e.g. "0 0 3 * * *" for 03:00 UTC daily')
    .describe('When the VPP licence sync runs (NCRONTAB, UTC).'),
  TEM_RECONCILE_SCHEDULE: z
    .string()
    .regex(/^\S+( \S+){5}$/, 'a six-field NCRONTAB schedule, e.g. "0 30 * * * *" for every hour at :30')
    .describe('When the TEM block records are compared with the block groups and differences repaired (NCRONTAB, UTC).'),
  COMPLIANCE_SCAN_SCHEDULE: z
    .string()
    .regex(/^\S+( \S+){5}$/, 'a six-field NCRONTAB schedule, e.g. "0 */15 * * * *" for every 15 minutes')
    .describe('When compliance detection runs: devices newly noncompliant or compliant again, due actions dispatched (NCRONTAB, UTC).'),
  COMPLIANCE_SENT_ITEMS_WAIT_SECONDS: int(0, 3600, 120).describe(
    "After an interrupted send, how long to keep looking in the sender's Sent Items (Exchange files the copy asynchronously) before sending again.",
  ),
  COMPLIANCE_MAIL_SENDER: z
    .email('a mailbox address of the tenant, e.g. it-compliance@contoso.com')
    .optional()
    .describe('Mailbox that sends noncompliance notifications; defaults to ALERT_MAIL_SENDER.'),
  VPP_POLL_SECONDS: int(0, 300, 15).describe("Seconds between checks of a VPP token's lastSyncStatus while Apple syncs it."),
  VPP_EXPIRY_WARNING_DAYS: int(1, 90, 7).describe('A VPP token expiring within this many days is a warning.'),
  VPP_SYNC_WARNING_DAYS: int(1, 30, 1).describe('A VPP token not synced for more than this many days is a warning.'),
  VPP_SYNC_UNHEALTHY_DAYS: int(1, 90, 3).describe('A VPP token not synced for this many days or more is unhealthy.'),
  VPP_LOW_LICENSE_PERCENT: int(0, 100, 10).describe('Alert when an app has fewer available licences than this share of its total.'),
  VPP_LOW_LICENSE_COUNT: int(0, 100000, 5).describe('Alert when an app has fewer available licences than this.'),
  VPP_ALERT_EMAIL: z.email('an email address').optional().describe('Where low-licence alerts are emailed (needs ALERT_MAIL_SENDER).'),
  ALERT_MAIL_SENDER: z
    .email('a mailbox address of the tenant, e.g. alerts@contoso.com')
    .optional()
    .describe('Mailbox that sends alert emails (Graph sendMail); without it alerts are only recorded.'),
});

export type Settings = z.infer<typeof settingsSchema>;

/** How the app reaches a storage account: a connection string, or an identity with service URIs. */
export type StorageConnection =
  | { kind: 'connectionString'; connectionString: string }
  | { kind: 'identity'; blobUri: string; queueUri: string; tableUri: string; clientId?: string };

export interface Config extends Omit<Settings, 'ADMIN_ALLOWED_TENANTS'> {
  ADMIN_ALLOWED_TENANTS: string[];
  storage: StorageConnection;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration; fix these settings and start again:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Resolves a storage connection the way the Functions host does: `<name>` is a connection string;
 * otherwise `<name>__accountName`, `<name>__blobServiceUri` / `__queueServiceUri` / `__tableServiceUri`
 * (or `<name>__serviceUri` for blob) select identity-based access, with `<name>__clientId` for a
 * user-assigned managed identity.
 */
export function resolveStorageConnection(env: Record<string, string | undefined>, name: string): StorageConnection | string {
  const get = (suffix: string) => env[`${name}__${suffix}`] ?? env[`${name}:${suffix}`];
  const cs = env[name];
  if (cs) {
    if (!/AccountName=|UseDevelopmentStorage=true|BlobEndpoint=/i.test(cs)) {
      return `${name}: a storage connection string (AccountName=...;AccountKey=... or UseDevelopmentStorage=true)`;
    }
    return { kind: 'connectionString', connectionString: cs };
  }
  const account = get('accountName');
  const blobUri = get('blobServiceUri') ?? get('serviceUri') ?? (account && `https://${account}.blob.core.windows.net`);
  const queueUri = get('queueServiceUri') ?? (account && `https://${account}.queue.core.windows.net`);
  const tableUri = get('tableServiceUri') ?? (account && `https://${account}.table.core.windows.net`);
  if (!blobUri || !queueUri || !tableUri) {
    return `${name}: a connection string, or ${name}__accountName (or ${name}__blobServiceUri, __queueServiceUri and __tableServiceUri) for identity-based access`;
  }
  return { kind: 'identity', blobUri, queueUri, tableUri, clientId: get('clientId') };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const raw: Record<string, string> = {};
  for (const key of Object.keys(settingsSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]);
      const expects = issue.code === 'invalid_type' && raw[key] === undefined ? 'is missing' : `is invalid: expected ${issue.message}`;
      const what = (settingsSchema.shape as Record<string, z.ZodType>)[key]?.description;
      problems.push(`${key} ${expects}${issue.code === 'invalid_type' && what ? ` (${what})` : ''}`);
    }
  }
  const storage = resolveStorageConnection(env, 'AzureWebJobsStorage');
  if (typeof storage === 'string')
    problems.push(`${storage.split(':')[0]} is missing or invalid: expected${storage.slice(storage.indexOf(':') + 1)}`);
  if (problems.length || !parsed.success || typeof storage === 'string') throw new ConfigError(problems);
  const s = parsed.data;
  return { ...s, ADMIN_ALLOWED_TENANTS: s.ADMIN_ALLOWED_TENANTS ?? [s.ENTRA_TENANT_ID], storage };
}

let loaded: Config | undefined;

/** The app's configuration, read and checked once per process. */
export function config(): Config {
  return (loaded ??= loadConfig());
}

/** For tests and tools that must load a different environment in the same process. */
export function resetConfig(): void {
  loaded = undefined;
}
