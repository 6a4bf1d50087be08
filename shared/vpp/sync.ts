import { graph, GraphApiError, odataString } from '../graph/client';
import { sendMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { queues } from '../platform/storage/queues';
import { newestFirst, type TableAction } from '../platform/storage/tables';
import { odata } from '@azure/data-tables';
import { reportConnectorStatus } from '../connectors';
import { QUEUE_SYNC, tables, type HistoryRow, type LicenseRow, type SyncMessage, type TokenRow, type VppAlertRow } from './model';

/**
 * Syncing VPP licences. A plan step (timer or admin call) reads the tokens and queues one message
 * per token; each token then moves through start (Graph syncLicenses) and polls (until Intune's
 * lastSyncStatus settles), and finally its apps and eBooks are read page by page and stored as a
 * snapshot. Nothing of a token is written until every page was read, so a failed sync keeps the
 * last good snapshot. Keys derive from the run, so a repeated message changes nothing.
 */

interface GraphToken {
  id: string;
  organizationName?: string | null;
  appleId?: string | null;
  countryOrRegion?: string | null;
  vppTokenAccountType?: string;
  state?: TokenRow['state'];
  expirationDateTime?: string | null;
  lastSyncDateTime?: string | null;
  lastSyncStatus?: TokenRow['lastSyncStatus'];
}

const TOKEN_SELECT = 'id,organizationName,appleId,countryOrRegion,vppTokenAccountType,state,expirationDateTime,lastSyncDateTime,lastSyncStatus';
const PAGE = 1000;
/** Polls of lastSyncStatus before a sync counts as failed. */
export const MAX_POLLS = 20;
/** Failed syncs of a token retried before the next scheduled sync. */
export const MAX_RETRIES = 5;
const UNSYNCABLE: Partial<Record<TokenRow['state'], string>> = {
  expired: 'The token has expired; Apple no longer syncs it.',
  invalid: 'Apple reports the token as invalid.',
  assignedToExternalMDM: 'The token is assigned to another MDM.',
};

const runTime = (runId: string) => Number(/^r(\d+)/.exec(runId)?.[1] ?? clock.now());

function fromGraph(t: GraphToken, previous?: TokenRow): TokenRow {
  return {
    ...(previous ?? { consecutiveFailures: 0 }),
    partitionKey: 'token',
    rowKey: t.id,
    organizationName: t.organizationName ?? undefined,
    appleId: t.appleId ?? undefined,
    countryOrRegion: t.countryOrRegion ?? undefined,
    accountType: t.vppTokenAccountType,
    state: t.state ?? 'unknown',
    expirationDateTime: t.expirationDateTime ?? undefined,
    lastSyncDateTime: t.lastSyncDateTime ?? undefined,
    lastSyncStatus: t.lastSyncStatus ?? 'none',
    updatedAt: clock.iso(),
  } as TokenRow;
}

/** Reads the tokens from Graph and queues a sync for each (or for `only`). Returns the run id and tokens queued. */
export async function planSync(only?: string): Promise<{ runId: string; tokens: string[] }> {
  const runId = `r${clock.now()}`;
  const found = await graph().all<GraphToken>('/deviceAppManagement/vppTokens', { $select: TOKEN_SELECT });
  const targets = only ? found.filter((t) => t.id === only) : found;
  for (const t of targets) {
    const previous = (await tables.tokens.get('token', t.id))?.entity;
    await tables.tokens.upsert(fromGraph(t, previous));
    await queues.send(QUEUE_SYNC, 'vpp.sync', { tokenId: t.id, runId, step: 'start', poll: 0 } satisfies SyncMessage, { key: `${runId}:${t.id}:start` });
  }
  const gone = (await tables.tokens.list("PartitionKey eq 'token'")).filter((r) => !found.some((t) => t.id === r.entity.rowKey));
  if (!only) for (const r of gone) await tables.tokens.delete('token', r.entity.rowKey);
  return { runId, tokens: targets.map((t) => t.id) };
}

/** One step of one token's sync. Business failures are recorded and retried with backoff, not thrown. */
export async function syncStep(msg: SyncMessage, log: Logger): Promise<void> {
  const row = await tables.tokens.get('token', msg.tokenId);
  if (!row) return log.warn('Sync for an unknown token dropped', { tokenId: msg.tokenId });
  const token = row.entity;
  if (token.lastRunId === msg.runId && token.lastSnapshotAt) return; // this run already finished
  try {
    if (msg.step === 'start') {
      const why = UNSYNCABLE[token.state];
      if (why) return await failed(token, msg, `${why} Not synced.`, false, log);
      await graph().post(`/deviceAppManagement/vppTokens/${encodeURIComponent(msg.tokenId)}/syncLicenses`);
      await tables.tokens.upsert({ ...token, lastAttemptAt: clock.iso(), lastSyncStatus: 'inProgress' }, 'merge');
      await queues.send(QUEUE_SYNC, 'vpp.sync', { ...msg, step: 'poll', poll: 1 }, { key: `${msg.runId}:${msg.tokenId}:poll1`, delaySeconds: config().VPP_POLL_SECONDS });
      return;
    }
    const fresh = fromGraph(await graph().get<GraphToken>(`/deviceAppManagement/vppTokens/${encodeURIComponent(msg.tokenId)}`, { $select: TOKEN_SELECT }), token);
    await tables.tokens.upsert(fresh);
    if (fresh.lastSyncStatus === 'failed') return await failed(fresh, msg, 'Intune reports that the licence sync with Apple failed.', true, log);
    if (fresh.lastSyncStatus !== 'completed') {
      if (msg.poll >= MAX_POLLS) return await failed(fresh, msg, `Apple's licence sync did not finish after ${MAX_POLLS} checks.`, true, log);
      const next = msg.poll + 1;
      await queues.send(QUEUE_SYNC, 'vpp.sync', { ...msg, poll: next }, { key: `${msg.runId}:${msg.tokenId}:poll${next}`, delaySeconds: Math.min(60, config().VPP_POLL_SECONDS * next) });
      return;
    }
    await snapshot(fresh, msg.runId, log);
  } catch (e) {
    if (!(e instanceof GraphApiError)) throw e; // storage trouble: let the queue retry the step
    await failed(token, msg, `Microsoft Graph answered ${e.status} ${e.code}: ${e.message}`, true, log);
  }
}

async function failed(token: TokenRow, msg: SyncMessage, error: string, retry: boolean, log: Logger): Promise<void> {
  const failures = token.consecutiveFailures + 1;
  const canRetry = retry && failures <= MAX_RETRIES;
  // Backoff: 1, 2, 4, 8, 16 minutes (scaled by VPP_POLL_SECONDS so tests run it quickly).
  const delaySeconds = Math.min(6 * 3600, 2 ** (failures - 1) * 4 * config().VPP_POLL_SECONDS);
  await tables.tokens.upsert({ ...token, lastError: error, lastAttemptAt: clock.iso(), consecutiveFailures: failures, nextRetryAt: canRetry ? new Date(clock.now() + delaySeconds * 1000).toISOString() : undefined, updatedAt: clock.iso() });
  log.warn('VPP token sync failed', { tokenId: token.rowKey, error, failures, retryInSeconds: canRetry ? delaySeconds : null });
  if (canRetry) {
    const runId = `${msg.runId}-retry${failures}`;
    await queues.send(QUEUE_SYNC, 'vpp.sync', { tokenId: token.rowKey, runId, step: 'start', poll: 0 } satisfies SyncMessage, { key: `${runId}:${token.rowKey}:start`, delaySeconds });
  }
  await reportConnectorStatus('vpp', 'warning', `Token ${token.organizationName ?? token.rowKey}: ${error}`);
}

interface Counted {
  id: string;
  displayName?: string;
  bundleId?: string;
  totalLicenseCount?: number;
  usedLicenseCount?: number;
}

/** Reads every VPP app and eBook of the token, then stores the snapshot, history and alerts. */
async function snapshot(token: TokenRow, runId: string, log: Logger): Promise<void> {
  const g = graph();
  const appFilter = token.appleId && token.organizationName ? `vppTokenAppleId eq ${odataString(token.appleId)} and vppTokenOrganizationName eq ${odataString(token.organizationName)}` : undefined;
  const [apps, ebooks] = await Promise.all([
    appFilter ? g.all<Counted>('/deviceAppManagement/mobileApps/graph.iosVppApp', { $filter: appFilter, $select: 'id,displayName,bundleId,totalLicenseCount,usedLicenseCount', $top: PAGE }) : Promise.resolve([]),
    g.all<Counted>('/deviceAppManagement/managedEBooks/graph.iosVppEBook', { $filter: `vppTokenId eq ${token.rowKey}`, $select: 'id,displayName,totalLicenseCount,usedLicenseCount', $top: PAGE }),
  ]);
  const cfg = config();
  const at = new Date(runTime(runId)).toISOString();
  const existing = new Map((await tables.licenses.list(odata`PartitionKey eq ${token.rowKey}`)).map((r) => [r.entity.rowKey, r.entity]));
  const licenses: TableAction<LicenseRow>[] = [];
  const history: HistoryRow[] = [];
  const alerts: VppAlertRow[] = [];
  const seen = new Set<string>();
  for (const [kind, items] of [['app', apps], ['ebook', ebooks]] as const) {
    for (const item of items) {
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      const total = item.totalLicenseCount ?? 0;
      const used = item.usedLicenseCount ?? 0;
      const available = total - used;
      const before = existing.get(item.id);
      const low = total > 0 && (available < cfg.VPP_LOW_LICENSE_COUNT || available * 100 < total * cfg.VPP_LOW_LICENSE_PERCENT);
      const name = item.displayName ?? item.bundleId ?? item.id;
      licenses.push({ kind: 'upsert', entity: { partitionKey: token.rowKey, rowKey: item.id, kind, name, bundleId: item.bundleId ?? undefined, total, used, available, syncedAt: at, runId, low } });
      if (!before || before.total !== total || before.used !== used) history.push({ partitionKey: token.rowKey, rowKey: `${item.id}|${newestFirst(runTime(runId))}`, total, used, available, at, runId });
      if (low && !before?.low) {
        alerts.push({ partitionKey: 'alert', rowKey: `${newestFirst(runTime(runId))}-${token.rowKey}-${item.id}`, at, tokenId: token.rowKey, appId: item.id, name, available, total, message: `${name} has ${available} of ${total} licences available (token ${token.organizationName ?? token.rowKey}).`, email: 'notConfigured' });
      }
    }
  }
  for (const id of existing.keys()) if (!seen.has(id)) licenses.push({ kind: 'delete', partitionKey: token.rowKey, rowKey: id });
  await tables.history.writeMany(history.map((entity) => ({ kind: 'upsert' as const, entity })));
  for (const a of alerts) await raiseAlert(a, log);
  await tables.licenses.writeMany(licenses);
  await tables.tokens.upsert({ ...token, lastSnapshotAt: clock.iso(), lastRunId: runId, lastError: undefined, consecutiveFailures: 0, nextRetryAt: undefined, updatedAt: clock.iso() });
  log.info('VPP token synced', { tokenId: token.rowKey, apps: apps.length, ebooks: ebooks.length, changed: history.length, alerts: alerts.length });
}

async function raiseAlert(alert: VppAlertRow, log: Logger): Promise<void> {
  if (await tables.alerts.get(alert.partitionKey, alert.rowKey)) return;
  const cfg = config();
  let email: VppAlertRow['email'] = 'notConfigured';
  if (cfg.VPP_ALERT_EMAIL && cfg.ALERT_MAIL_SENDER) {
    try {
      await sendMail(cfg.ALERT_MAIL_SENDER, [cfg.VPP_ALERT_EMAIL], `VPP licences low: ${alert.name}`, `<p>${alert.message}</p>`);
      email = 'sent';
    } catch (e) {
      log.warn('VPP alert email failed', { error: e });
      email = 'failed';
    }
  }
  await tables.alerts.upsert({ ...alert, email });
}
