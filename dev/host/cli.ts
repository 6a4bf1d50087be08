import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startHost } from './host';

/** `node dist/dev/host/cli.js [entry]`: runs the app's functions on http://localhost:7071. */
async function main() {
  const pkg = JSON.parse(readFileSync(resolve('package.json'), 'utf8')) as { main: string };
  const entry = process.argv[2] ?? pkg.main;
  const port = Number(process.env.FUNCTIONS_HTTPWORKER_PORT ?? process.env.PORT ?? 7071);
  // LOCAL_HOST_TRIGGERS=http serves the HTTP functions only (no timers, no queue listeners).
  const triggers = (process.env.LOCAL_HOST_TRIGGERS ?? 'all') !== 'http';
  const host = await startHost({ entry, port, host: process.env.HOST_BIND ?? '127.0.0.1', triggers });
  console.log(`Functions host listening on ${host.url}/api/`);
  for (const f of host.functions) {
    const t = f.trigger;
    if (t.type === 'httpTrigger') console.log(`  ${f.name}: [${(t.methods ?? ['ANY']).join(',')}] ${host.url}/api/${t.route ?? f.name}`);
    else console.log(`  ${f.name}: ${t.type} ${t.schedule ?? t.queueName ?? ''}`);
  }
  const shutdown = async () => {
    await host.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

main().catch((e: Error) => {
  console.error(e.name === 'ConfigError' ? e.message : `Host failed to start: ${e.stack ?? e.message}`);
  process.exit(1);
});
