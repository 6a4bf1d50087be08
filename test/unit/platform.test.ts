import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_DEQUEUE_COUNT } from '../../shared/platform/app';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig, resolveStorageConnection, settingsSchema } from '../../shared/platform/config';
import { createLogger, redact } from '../../shared/platform/log';
import { open, seal } from '../../shared/platform/auth/secrets';
import { readJsonBody, isJson, errorResult } from '../../shared/platform/http';
import { AppError } from '../../shared/platform/errors';
import { authorize } from '../../shared/platform/auth/admin';
import { appCredential } from '../../shared/platform/auth/entra';
import { openApiPath } from '../../shared/platform/openapi';
import { localSettings } from '../../dev/settings';
import { ROOT } from '../helpers/env';

const base = localSettings(ROOT);

describe('configuration', () => {
  test('the local defaults load, with defaults filled in', () => {
    const cfg = loadConfig(base);
    expect(cfg.ADMIN_ALLOWED_TENANTS).toEqual([base.ENTRA_TENANT_ID]);
    expect(cfg.GRAPH_MAILBOX_CONCURRENCY).toBe(4);
    expect(cfg.storage.kind).toBe('connectionString');
  });

  test('every bad setting is named in one error', () => {
    const err = (() => {
      try {
        loadConfig({
          ...base,
          ENTRA_CLIENT_ID: 'nope',
          SECRETS_KEY: 'c2hvcnQ=',
          GRAPH_MAILBOX_CONCURRENCY: '9',
          ADMIN_ALLOWED_TENANTS: `${base.ENTRA_TENANT_ID}, bad`,
        });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toEqual([
      'ENTRA_CLIENT_ID is invalid: expected a GUID such as 00000000-0000-0000-0000-000000000000',
      'ADMIN_ALLOWED_TENANTS is invalid: expected a GUID such as 00000000-0000-0000-0000-000000000000',
      'SECRETS_KEY is invalid: expected 32 random bytes, base64-encoded (openssl rand -base64 32)',
      'GRAPH_MAILBOX_CONCURRENCY is invalid: expected at most 4',
    ]);
  });

  test('a Key Vault reference App Service could not resolve stops start-up naming the setting and the cause', () => {
    const reference = '@Microsoft.KeyVault(SecretUri=https://kv-contoso.vault.azure.net/secrets/secrets-key/)';
    const err = (() => {
      try {
        loadConfig({ ...base, SECRETS_KEY: reference, ENTRA_CLIENT_SECRET: reference.replace('secrets-key', 'entra-client-secret') });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.problems).toHaveLength(2);
    expect(err!.problems[0]).toMatch(/^ENTRA_CLIENT_SECRET: Key Vault reference not resolved: .*Key Vault Secrets User/);
    expect(err!.problems[1]).toMatch(/^SECRETS_KEY: Key Vault reference not resolved/);
  });

  test('the app registration has one credential: a client secret (with its expiry) or the managed identity, never neither or both', () => {
    const problems = (env: Record<string, string | undefined>) => {
      try {
        loadConfig(env);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    const mi = '6a1e0c39-2b7d-4f58-9c31-5e8d7f0a2b46';
    expect(problems({ ...base, ENTRA_CLIENT_SECRET: '' })).toEqual([
      expect.stringMatching(/^ENTRA_CLIENT_SECRET or ENTRA_MANAGED_IDENTITY_CLIENT_ID is missing/),
    ]);
    expect(problems({ ...base, ENTRA_MANAGED_IDENTITY_CLIENT_ID: mi })).toEqual([expect.stringMatching(/are both set: keep one/)]);
    expect(problems({ ...base, ENTRA_CLIENT_SECRET_EXPIRES: '31/12/2027' })).toEqual([
      expect.stringMatching(/^ENTRA_CLIENT_SECRET_EXPIRES is invalid: expected a date, YYYY-MM-DD/),
    ]);

    const now = Date.parse('2026-11-30T12:00:00Z');
    expect(appCredential(loadConfig({ ...base, ENTRA_CLIENT_SECRET: '', ENTRA_MANAGED_IDENTITY_CLIENT_ID: mi }), now)).toEqual({
      kind: 'managedIdentity',
      managedIdentityClientId: mi,
    });
    expect(appCredential(loadConfig({ ...base, ENTRA_CLIENT_SECRET_EXPIRES: '2026-12-07' }), now)).toEqual({
      kind: 'clientSecret',
      expiresOn: '2026-12-07',
      daysLeft: 6,
    });
    expect(appCredential(loadConfig({ ...base, ENTRA_CLIENT_SECRET_EXPIRES: '2026-11-01' }), now)).toMatchObject({ daysLeft: -30 });
    expect(appCredential(loadConfig(base), now)).toEqual({ kind: 'clientSecret', expiresOn: null, daysLeft: null });
  });

  test('storage connections resolve as the Functions host does: connection string or identity', () => {
    expect(resolveStorageConnection({ X: 'UseDevelopmentStorage=true' }, 'X')).toEqual({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
    });
    expect(resolveStorageConnection({ X__accountName: 'acct', X__clientId: 'cid' }, 'X')).toEqual({
      kind: 'identity',
      blobUri: 'https://acct.blob.core.windows.net',
      queueUri: 'https://acct.queue.core.windows.net',
      tableUri: 'https://acct.table.core.windows.net',
      clientId: 'cid',
    });
    expect(
      resolveStorageConnection({ X__blobServiceUri: 'https://b', X__queueServiceUri: 'https://q', X__tableServiceUri: 'https://t' }, 'X'),
    ).toMatchObject({ kind: 'identity', blobUri: 'https://b', queueUri: 'https://q', tableUri: 'https://t' });
    expect(resolveStorageConnection({ X__blobServiceUri: 'https://b' }, 'X')).toMatch(/X__accountName/);
    expect(resolveStorageConnection({ X: 'garbage' }, 'X')).toMatch(/connection string/);
    const identity = loadConfig({ ...base, AzureWebJobsStorage: undefined, AzureWebJobsStorage__accountName: 'prodacct' });
    expect(identity.storage).toMatchObject({ kind: 'identity', tableUri: 'https://prodacct.table.core.windows.net' });
  });
});

describe('logging redacts secrets', () => {
  test('by key and by value', () => {
    const out = redact({
      clientSecret: 's3cr3t',
      nested: { Authorization: 'Bearer abc.def.ghi', note: 'uses whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw here' },
      url: 'https://x?client_secret=abc&x=1',
      jwt: 'token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
      conn: 'AccountName=a;AccountKey=Zm9vYmFy;',
      ok: 'plain',
      count: 3,
    });
    expect(out).toEqual({
      clientSecret: '[redacted]',
      nested: { Authorization: '[redacted]', note: 'uses [redacted] here' },
      url: 'https://x?client_secret=[redacted]&x=1',
      jwt: 'token [redacted]',
      conn: 'AccountName=a;AccountKey=[redacted];',
      ok: 'plain',
      count: 3,
    });
  });

  test('identifiers, counts and times of secrets are not secrets: a VPP tokenId stays readable', () => {
    expect(
      redact({
        tokenId: 'c0ffee00-1111-4222-8333-444455556666',
        tokenIds: ['a', 'b'],
        secretCount: 2,
        tokenExpiresAt: '2027-01-01',
        accessToken: 'abc',
        refresh_token: 'def',
      }),
    ).toEqual({
      tokenId: 'c0ffee00-1111-4222-8333-444455556666',
      tokenIds: ['a', 'b'],
      secretCount: 2,
      tokenExpiresAt: '2027-01-01',
      accessToken: '[redacted]',
      refresh_token: '[redacted]',
    });
  });

  test('log lines are JSON with the message and fields', () => {
    const lines: string[] = [];
    createLogger({ fn: 'f' }, (_l, line) => lines.push(line))
      .child({ key: 'k' })
      .warn('hello', { token: 'abc', n: 1 });
    expect(JSON.parse(lines[0])).toEqual({ level: 'warn', msg: 'hello', fn: 'f', key: 'k', token: '[redacted]', n: 1 });
  });
});

test('sealed secrets open only with the same key and context', () => {
  const key = randomBytes(32);
  const sealed = seal('tv-refresh-token', 'teamviewer/tenant-1', key);
  expect(sealed).not.toContain('tv-refresh-token');
  expect(open(sealed, 'teamviewer/tenant-1', key)).toBe('tv-refresh-token');
  expect(() => open(sealed, 'teamviewer/tenant-2', key)).toThrow();
  expect(() => open(sealed, 'teamviewer/tenant-1', randomBytes(32))).toThrow();
});

describe('HTTP input', () => {
  test('JSON bodies: size, media type and syntax give 413, 415 and 400', () => {
    expect(readJsonBody(Buffer.from('{"a":1}'), 'application/json; charset=utf-8', 100)).toEqual({ a: 1 });
    expect(() => readJsonBody(Buffer.alloc(101, 32), 'application/json', 100)).toThrow(expect.objectContaining({ status: 413 }));
    expect(() => readJsonBody(Buffer.from('{}'), 'text/plain', 100)).toThrow(expect.objectContaining({ status: 415 }));
    expect(() => readJsonBody(Buffer.from('{oops'), 'application/json', 100)).toThrow(expect.objectContaining({ status: 400 }));
    expect(isJson('application/merge-patch+json')).toBe(true);
  });

  test('errors map to problem+json; unexpected ones hide internals', () => {
    expect(errorResult(new AppError(409, 'Conflict', 'Already there.'))).toEqual({
      status: 409,
      headers: { 'Content-Type': 'application/problem+json' },
      body: { type: 'about:blank', title: 'Conflict', status: 409, detail: 'Already there.' },
    });
    const hidden = errorResult(new Error('db password is hunter2'), 'inv-1');
    expect(hidden.status).toBe(500);
    expect(JSON.stringify(hidden.body)).not.toContain('hunter2');
    expect(JSON.stringify(hidden.body)).toContain('inv-1');
  });

  test('roles: Connectors.ReadWrite implies Connectors.Read, nothing else is implied', () => {
    const p = (roles: string[]) => ({ tenantId: 't', roles, via: 'bearer' as const });
    expect(() => authorize(p(['Connectors.ReadWrite']), 'Connectors.Read')).not.toThrow();
    expect(() => authorize(p(['Connectors.Read']), 'Connectors.ReadWrite')).toThrow(expect.objectContaining({ status: 403 }));
    expect(() => authorize(p(['RemoteAssistance.Update']), 'RemoteAssistance.Request')).toThrow(expect.objectContaining({ status: 403 }));
  });

  test('route templates become OpenAPI paths', () => {
    expect(openApiPath('admin/tem/providers/{id:guid}/events/{rest?}')).toBe('/api/admin/tem/providers/{id}/events/{rest}');
    expect(openApiPath('files/{*path}')).toBe('/api/files/{path}');
  });
});

test("the README's settings table lists exactly the settings the schema reads", () => {
  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
  const section = readme.split('## Settings')[1].split('\n## ')[0];
  const documented = [...section.matchAll(/^\| `([A-Za-z_]+)` \|/gm)].map((m) => m[1]).sort();
  expect(documented).toEqual(['AzureWebJobsStorage', ...Object.keys(settingsSchema.shape)].sort());
});

test("the queue layer knows the host's retry limit: the test host uses the same one", () => {
  const fixture = JSON.parse(readFileSync(resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'host.json'), 'utf8')) as {
    extensions: { queues: { maxDequeueCount: number } };
  };
  expect(MAX_DEQUEUE_COUNT).toBe(5);
  expect(fixture.extensions.queues.maxDequeueCount).toBe(MAX_DEQUEUE_COUNT);
});
