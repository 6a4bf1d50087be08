import { EntityTable, type Entity } from './platform/storage/tables';

/** The app's connectors and the state each reports, for the tenant status page. */
export const CONNECTORS = [
  {
    id: 'tem',
    name: 'Telecom expense management',
    description: 'Blocks cellular data or roaming on corporate lines when the TEM provider reports a threshold.',
  },
  {
    id: 'compliance',
    name: 'Compliance actions for noncompliance',
    description: 'Notification templates and per-policy action schedules, run on devices that stay noncompliant.',
  },
  {
    id: 'vpp',
    name: 'Apple VPP licences',
    description: 'Daily and on-demand sync of VPP tokens and per-app licence counts, with connector health.',
  },
  { id: 'archive', name: 'O2 network archive', description: 'Nightly import of SMS and voice call records into users\u2019 mailboxes.' },
  {
    id: 'remote-assistance',
    name: 'Remote assistance (TeamViewer)',
    description: 'TeamViewer connection and remote-assistance sessions for supported devices.',
  },
] as const;

export type ConnectorId = (typeof CONNECTORS)[number]['id'];
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
