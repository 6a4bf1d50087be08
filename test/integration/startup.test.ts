import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { localSettings } from '../../dev/settings';
import { ROOT } from '../helpers/env';

/** Start-up with bad settings fails fast, naming each bad setting and what it expects. */
const run = (env: Record<string, string | undefined>) =>
  new Promise<{ code: number | null; stderr: string; ms: number }>((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, [resolve(ROOT, 'dist/dev/host/cli.js')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: '0', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('exit', (code) => done({ code, stderr, ms: Date.now() - started }));
  });

test('a missing and an invalid setting stop start-up with one message naming both', async () => {
  const settings = localSettings(ROOT);
  const { code, stderr, ms } = await run({
    ...settings,
    ENTRA_TENANT_ID: undefined,
    GRAPH_BASE_URL: 'http://graph.example',
    GRAPH_MAX_RETRIES: 'many',
  });
  expect(code).toBe(1);
  expect(ms).toBeLessThan(15_000);
  expect(stderr).toMatch(/Invalid configuration/);
  expect(stderr).toMatch(/ENTRA_TENANT_ID is missing/);
  expect(stderr).toMatch(/GRAPH_BASE_URL is invalid: expected an https:\/\/ URL/);
  expect(stderr).toMatch(/GRAPH_MAX_RETRIES is invalid: expected a whole number from 0 to 10/);
  expect(stderr.match(/Invalid configuration/g)).toHaveLength(1);
});

test('a missing storage connection is named with the ways to set it', async () => {
  const { code, stderr } = await run({ ...localSettings(ROOT), AzureWebJobsStorage: undefined });
  expect(code).toBe(1);
  expect(stderr).toMatch(/AzureWebJobsStorage is missing or invalid: expected a connection string, or AzureWebJobsStorage__accountName/);
});

test('an unresolved Key Vault reference stops start-up naming the setting and the cause', async () => {
  const { code, stderr } = await run({
    ...localSettings(ROOT),
    ENTRA_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=https://kv-contoso.vault.azure.net/secrets/entra-client-secret/)',
  });
  expect(code).toBe(1);
  expect(stderr).toMatch(/ENTRA_CLIENT_SECRET: Key Vault reference not resolved/);
  expect(stderr).toMatch(/Key Vault Secrets User/);
});
