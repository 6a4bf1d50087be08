import { catalog, type ContainerName, type QueueBaseName, type TableName } from '../../manifests';

/**
 * Every table, queue and blob container the app uses, as the manifests declare them. Storage code
 * only accepts these names, and the infrastructure creates exactly these (infra/connectors.json,
 * compared with the manifests by a test).
 */
export const TABLES = catalog.tables as readonly TableName[];
export const QUEUES = catalog.queues as readonly QueueBaseName[];
export const CONTAINERS = catalog.containers as readonly ContainerName[];

export type { ContainerName, TableName };
/** A queue, or its poison queue (where the host moves messages that keep failing). */
export type QueueName = QueueBaseName | `${QueueBaseName}-poison`;
