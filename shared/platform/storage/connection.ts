import { TableClient, TableServiceClient } from '@azure/data-tables';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/core-auth';
import { config, type StorageConnection } from '../config';

/**
 * Service clients for one storage account, from a connection string (Azurite, keys) or from an
 * identity (managed identity in Azure). Clients are cached: they hold connection pools.
 */
export interface StorageAccount {
  table(name: string): TableClient;
  queue(name: string): QueueClient;
  container(name: string): ContainerClient;
  tableService: TableServiceClient;
  queueService: QueueServiceClient;
  blobService: BlobServiceClient;
}

function credentialFor(clientId?: string): TokenCredential {
  // Loaded on demand: @azure/identity is large and only identity-based connections need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const identity = require('@azure/identity') as typeof import('@azure/identity');
  return clientId ? new identity.ManagedIdentityCredential({ clientId }) : new identity.DefaultAzureCredential();
}

export function openStorageAccount(conn: StorageConnection): StorageAccount {
  const tables = new Map<string, TableClient>();
  const queues = new Map<string, QueueClient>();
  const containers = new Map<string, ContainerClient>();
  let tableService: TableServiceClient;
  let queueService: QueueServiceClient;
  let blobService: BlobServiceClient;
  let newTable: (name: string) => TableClient;
  if (conn.kind === 'connectionString') {
    const cs = conn.connectionString;
    const insecure = /DefaultEndpointsProtocol=http;|Endpoint=http:|UseDevelopmentStorage=true/i.test(cs);
    tableService = TableServiceClient.fromConnectionString(cs, { allowInsecureConnection: insecure });
    queueService = QueueServiceClient.fromConnectionString(cs);
    blobService = BlobServiceClient.fromConnectionString(cs);
    newTable = (name) => TableClient.fromConnectionString(cs, name, { allowInsecureConnection: insecure });
  } else {
    const credential = credentialFor(conn.clientId);
    tableService = new TableServiceClient(conn.tableUri, credential);
    queueService = new QueueServiceClient(conn.queueUri, credential);
    blobService = new BlobServiceClient(conn.blobUri, credential);
    newTable = (name) => new TableClient(conn.tableUri, name, credential);
  }
  const cached = <T>(map: Map<string, T>, name: string, make: () => T) => {
    let c = map.get(name);
    if (!c) map.set(name, (c = make()));
    return c;
  };
  return {
    tableService,
    queueService,
    blobService,
    table: (name) => cached(tables, name, () => newTable(name)),
    queue: (name) => cached(queues, name, () => queueService.getQueueClient(name)),
    container: (name) => cached(containers, name, () => blobService.getContainerClient(name)),
  };
}

let account: StorageAccount | undefined;

/** The app's storage account (`AzureWebJobsStorage`). */
export function storage(): StorageAccount {
  return (account ??= openStorageAccount(config().storage));
}

export type StorageProbe = Record<'tables' | 'queues' | 'blobs', { ok: boolean; error?: string }>;

let lastProbe: { at: number; result: Promise<StorageProbe> } | undefined;

/**
 * The health endpoint's view of storage, reused for `maxAgeMs` so that frequent health checks
 * (load balancers, monitors) cost storage at most one probe per interval.
 */
export function storageHealth(maxAgeMs = 2000, now = Date.now()): Promise<StorageProbe> {
  if (!lastProbe || now - lastProbe.at > maxAgeMs) lastProbe = { at: now, result: probeStorage() };
  return lastProbe.result;
}

/** Checks that each service of the account answers. */
export async function probeStorage(acct: StorageAccount = storage()): Promise<StorageProbe> {
  const probe = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: (e as Error).message.split('\n')[0] };
    }
  };
  const [tables, queues, blobs] = await Promise.all([
    probe(() => acct.tableService.listTables().byPage({ maxPageSize: 1 }).next()),
    probe(() => acct.queueService.listQueues().byPage({ maxPageSize: 1 }).next()),
    probe(() => acct.blobService.listContainers().byPage({ maxPageSize: 1 }).next()),
  ]);
  return { tables, queues, blobs };
}
