import { clock } from './platform/clock';
import { catalog, type ConnectorId } from './manifests';
import { EntityTable, type Entity } from './platform/storage/tables';

/** The app's connectors (from their manifests) and the state each reports, for the tenant status page. */
export const CONNECTORS = catalog.connectors as readonly { id: ConnectorId; name: string; description: string; setup: string }[];
export type { ConnectorId };
export type ConnectorState = 'notConfigured' | 'active' | 'disabled' | 'warning' | 'error';

export interface ConnectorStatusRow extends Entity {
  state: ConnectorState;
  detail?: string;
  /** What the admin does about a warning or an error. */
  fix?: string;
  updatedAt: string;
}

const PARTITION = 'connector';
export const connectorStatusTable = new EntityTable<ConnectorStatusRow>('connectors');

/** Each connector's last reported state; one that has never reported is `notConfigured`, fixed by its set-up. */
export async function listConnectorStatus() {
  const rows = new Map((await connectorStatusTable.list(`PartitionKey eq '${PARTITION}'`)).map((r) => [r.entity.rowKey, r.entity]));
  return CONNECTORS.map(({ setup, ...c }) => {
    const row = rows.get(c.id);
    return {
      ...c,
      state: row?.state ?? 'notConfigured',
      detail: row?.detail ?? null,
      fix: row ? (row.fix ?? null) : setup,
      updatedAt: row?.updatedAt ?? null,
    };
  });
}

/** Records a connector's state; a warning or an error says what to do about it in `fix`. */
export async function reportConnectorStatus(id: ConnectorId, state: ConnectorState, detail?: string, fix?: string): Promise<void> {
  await connectorStatusTable.upsert({ partitionKey: PARTITION, rowKey: id, state, detail, fix, updatedAt: clock.iso() });
}
