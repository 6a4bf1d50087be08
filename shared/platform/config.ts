import { z } from 'zod';
import { catalog, type SettingsShape } from '../manifests';

/**
 * Every setting the app reads, in one schema. Settings are app settings in Azure (Key Vault
 * references for secrets) and `local.settings.json` / environment variables locally.
 * Each entry's description is what an operator reads when the setting is wrong.
 */

/** Names of the settings, as an operator sets them: the platform's and every connector's (their manifests). */
export const settingsSchema = z.object(catalog.settings as SettingsShape);

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

const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const raw: Record<string, string> = {};
  const unresolved = new Set<string>();
  for (const key of Object.keys(settingsSchema.shape)) {
    const v = env[key];
    if (v === undefined || v === '') continue;
    raw[key] = v;
    // App Service hands a Key Vault reference it could not resolve to the app as the literal text.
    if (KEY_VAULT_REFERENCE.test(v)) {
      unresolved.add(key);
      problems.push(
        `${key}: Key Vault reference not resolved: the app received the reference itself, not the secret. The function app's identity needs the "Key Vault Secrets User" role on the vault (it can take minutes to apply after provisioning) and the secret must exist; then restart the app.`,
      );
    }
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]);
      if (unresolved.has(key)) continue;
      const expects = issue.code === 'invalid_type' && raw[key] === undefined ? 'is missing' : `is invalid: expected ${issue.message}`;
      const what = (settingsSchema.shape as Record<string, z.ZodType>)[key]?.description;
      problems.push(`${key} ${expects}${issue.code === 'invalid_type' && what ? ` (${what})` : ''}`);
    }
  }
  // One credential for the app registration, so it is plain which one Graph tokens come from.
  if (!raw.ENTRA_CLIENT_SECRET === !raw.ENTRA_MANAGED_IDENTITY_CLIENT_ID)
    problems.push(
      raw.ENTRA_CLIENT_SECRET
        ? 'ENTRA_CLIENT_SECRET and ENTRA_MANAGED_IDENTITY_CLIENT_ID are both set: keep one (the managed identity in Azure, the secret for local runs).'
        : 'ENTRA_CLIENT_SECRET or ENTRA_MANAGED_IDENTITY_CLIENT_ID is missing: the app needs one to get Microsoft Graph tokens (the secret for local runs, the managed identity in Azure).',
    );
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
