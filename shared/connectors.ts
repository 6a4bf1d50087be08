import { catalog, type ConnectorId } from './manifests';
import { EntityTable, type Entity } from './platform/storage/tables';

/** The app's connectors (from their manifests) and the state each reports, for the tenant status page. */
export const CONNECTORS = catalog.connectors as readonly { id: ConnectorId; name: string; description: string }[];
export type { ConnectorId };
export type ConnectorState = 'notConfigured' | 'active' | 'disabled' | 'warning' | 'error';

export interface ConnectorStatusRow extends Entity {
  state: ConnectorState;
  detail?: string;
  updatedAt: string;
}

const PARTITION = 'connector';
export const connectorStatusTable = new EntityTable<ConnectorStatusRow>('connectors');

/** Each connector's state; one that has never reported is `notConfigured`. */
export async function listConnectorStatus() {
  const rows = new Map((await connectorStatusTable.list(`PartitionKey eq '${PARTITION}'`)).map((r) => [r.entity.rowKey, r.entity]));
  return CONNECTORS.map((c) => {
    const row = rows.get(c.id);
    return {
      ...c,
      state: row?.state ?? 'notConfigured',
      detail: row?.detail ?? null,
      updatedAt: row?.updatedAt ?? null,
    };
  });
}

export async function reportConnectorStatus(id: ConnectorId, state: ConnectorState, detail?: string): Promise<void> {
  await connectorStatusTable.upsert({ partitionKey: PARTITION, rowKey: id, state, detail, updatedAt: new Date().toISOString() });
}
