import { lastImportFailures } from './archive/importer';
import { countFailedActions } from './compliance/ledger';
import { listConnectorStatus, type ConnectorId, type ConnectorState } from './connectors';
import { countOpenBlocks } from './tem/providers';
import { vppSummary } from './vpp/licenses';

interface Live {
  state?: ConnectorState;
  detail?: string;
  fix?: string | null;
  updatedAt?: string | null;
  openAlerts: number;
}

/**
 * What each connector knows now, over what it last reported: its open alerts (TEM: blocks in force;
 * compliance: failed actions; VPP: apps low on licences, with the state read from the tokens' health;
 * archive: items the last import failed). Remote assistance raises no alerts.
 */
const LIVE: Record<ConnectorId, (() => Promise<Live | undefined>) | null> = {
  tem: async () => ({ openAlerts: await countOpenBlocks() }),
  compliance: async () => ({ openAlerts: await countFailedActions() }),
  vpp: vppSummary,
  archive: async () => ({ openAlerts: await lastImportFailures() }),
  'remote-assistance': null,
};

/** The admin console's overview: each connector's state with its reason and fix, last activity and open alerts. */
export async function connectorOverview() {
  return Promise.all(
    (await listConnectorStatus()).map(async (c) => {
      const live = await LIVE[c.id]?.();
      const configured = (live?.state ?? c.state) !== 'notConfigured';
      return { ...c, ...live, openAlerts: configured ? (live?.openAlerts ?? null) : null };
    }),
  );
}
