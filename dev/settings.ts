import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Local settings, as `func start` reads them: local.settings.sample.json (the embedded defaults:
 * Azurite and the sandbox tenant), overridden by local.settings.json when present.
 */
export function localSettings(root = process.cwd()): Record<string, string> {
  const read = (name: string) => {
    const path = join(root, name);
    return existsSync(path) ? ((JSON.parse(readFileSync(path, 'utf8')) as { Values?: Record<string, string> }).Values ?? {}) : {};
  };
  return { ...read('local.settings.sample.json'), ...read('local.settings.json') };
}

/** An Azurite connection string for the well-known dev account on the given ports. */
export function azuriteConnectionString(ports: { blob: number; queue: number; table: number }, host = '127.0.0.1'): string {
  const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
  return `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://${host}:${ports.blob}/devstoreaccount1;QueueEndpoint=http://${host}:${ports.queue}/devstoreaccount1;TableEndpoint=http://${host}:${ports.table}/devstoreaccount1;`;
}

export function azuritePorts(connectionString: string): { blob: number; queue: number; table: number } {
  const port = (name: string, dflt: number) =>
    Number(new RegExp(`${name}Endpoint=https?://[^:/;]+:(\\d+)`).exec(connectionString)?.[1] ?? dflt);
  return { blob: port('Blob', 10000), queue: port('Queue', 10001), table: port('Table', 10002) };
}
