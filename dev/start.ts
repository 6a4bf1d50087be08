import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startAzurite } from './azurite';
import { startSandbox } from './sandbox/server';
import { azuritePorts, localSettings } from './settings';
import { ensureCertificate } from './sandbox/tls';
import { waitUntilHealthy } from './ready';

/**
 * `npm start`: Azurite, the sandbox tenant and the app, on their local defaults
 * (local.settings.sample.json, overridden by local.settings.json).
 */
async function main() {
  const settings = localSettings();
  const cert = await ensureCertificate();
  const usesAzurite = /devstoreaccount1/.test(settings.AzureWebJobsStorage ?? '');
  const azurite = usesAzurite ? await startAzurite(azuritePorts(settings.AzureWebJobsStorage)) : undefined;
  const sandboxPort = Number(new URL(settings.ENTRA_AUTHORITY_HOST ?? 'https://localhost:7072').port || 7072);
  const usesSandbox = /localhost|127\.0\.0\.1/.test(settings.ENTRA_AUTHORITY_HOST ?? '');
  const sandbox = usesSandbox
    ? await startSandbox({ port: sandboxPort, log: process.env.SANDBOX_LOG ? (l) => console.log(`[sandbox] ${l}`) : undefined })
    : undefined;

  const host = spawn(process.execPath, [join(__dirname, 'host', 'cli.js')], {
    stdio: 'inherit',
    env: { ...process.env, ...settings, NODE_EXTRA_CA_CERTS: cert.certPath },
  });
  const stop = async (code: number) => {
    host.kill('SIGTERM');
    await Promise.all([sandbox?.stop(), azurite?.stop()]);
    process.exit(code);
  };
  host.once('exit', (code) => void stop(code ?? 1));
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  const app = settings.PUBLIC_BASE_URL ?? 'http://localhost:7071';
  const health = await waitUntilHealthy(`${app}/api/health`, 60_000);
  if (!health.ok) {
    console.error(`The app did not answer ${app}/api/health with 200 within 60 s (last: ${health.last}); see its log above.`);
    return stop(1);
  }
  console.log(
    [
      '',
      'Ready:',
      `  Admin console     ${app}/api/console   (sign in as a demo admin, e.g. megan@contoso-demo.example)`,
      `  App health        ${app}/api/health`,
      `  App OpenAPI       ${app}/api/openapi.json`,
      `  Admin sign-in     ${app}/api/auth/signin`,
      sandbox ? `  Sandbox demo      ${sandbox.controlUrl}/_sandbox/demo   (tenant, client ids and secrets)` : '',
      sandbox ? `  Entra authority   ${sandbox.origin}/${settings.ENTRA_TENANT_ID}` : '',
      sandbox ? `  Graph             ${sandbox.origin}/v1.0` : '',
      azurite
        ? `  Azurite           blob ${azurite.ports.blob}, queue ${azurite.ports.queue}, table ${azurite.ports.table} (in memory)`
        : '',
      '',
      'Press Ctrl+C to stop.',
    ]
      .filter((l) => l !== '')
      .join('\n'),
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
