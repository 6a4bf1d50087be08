import { graph, GraphApiError, odataString } from '../graph/client';
import { isMissing } from '../graph/objects';
import { sendMail } from '../graph/mail';
import { clock } from '../platform/clock';
import { AppError, conflict } from '../platform/errors';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { createRun, discardRun, endRun, newRunId, partDone, runStarted, runTime as timeOfRun, setTotal, advance } from '../platform/runs';
import { queues } from '../platform/storage/queues';
import { newestFirst, type TableAction } from '../platform/storage/tables';
import { odata } from '@azure/data-tables';
import {
  QUEUE_SYNC,
  readSnapshot,
  REMOVED_KEEP_DAYS,
  tables,
  type HistoryRow,
  type LicenseRow,
  type SyncMessage,
  type TokenRow,
  type VppAlertRow,
} from './model';

/**
 * Syncing VPP licences. A plan (timer or admin call) reads the tokens and starts one sync per token;
 * each sync moves through start (Graph syncLicenses) and polls (until Intune's lastSyncStatus
 * settles), then reads the token's apps and eBooks page by page and stores them as a new snapshot.
 *
 * One sync runs per token at a time: the token row names it (`runId`), claimed with a conditional
 * write, and a request for a token already syncing joins that sync. A snapshot is written beside the
 * one readers are served and becomes theirs in one write to the token row when complete, so readers
 * never see two syncs mixed and a sync that fails or crashes leaves the previous snapshot served.
 * Keys derive from the sync, so a repeated message changes nothing.
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

const TOKEN_SELECT =
  'id,organizationName,appleId,countryOrRegion,vppTokenAccountType,state,expirationDateTime,lastSyncDateTime,lastSyncStatus';
const PAGE = 1000;
/** Polls of lastSyncStatus before a sync counts as failed. */
export const MAX_POLLS = 20;
/** Failed syncs of a token retried before the next scheduled sync. */
export const MAX_RETRIES = 5;
const DAY = 86_400_000;
const UNSYNCABLE: Partial<Record<TokenRow['state'], string>> = {
  expired: 'The token has expired; Apple no longer syncs it.',
  invalid: 'Apple reports the token as invalid.',
  assignedToExternalMDM: 'The token is assigned to another MDM.',
};
const GONE = 'Intune no longer has this token (deleted, or replaced by a new upload).';

// Syncs started before runs existed were named r<epoch ms>-<hex>.
const runTime = (runId: string) => {
  const legacy = /^r(\d+)/.exec(runId);
  return legacy ? Number(legacy[1]) : timeOfRun(runId);
};
const RUN_KIND = 'vpp.sync';
const tokenKey = (id: string) => ['token', id] as const;

/** How long a sync may take (every poll, and slack for queue retries) before it counts as dead and another may start. */
export function runLimitMs(): number {
  let polls = 0;
  for (let n = 1; n <= MAX_POLLS; n++) polls += Math.min(60, config().VPP_POLL_SECONDS * n);
  return (polls + 15 * 60) * 1000;
}

/** A sync of the token is under way (and its worker not presumed dead). */
export const running = (t: TokenRow | undefined): t is TokenRow & { runId: string } =>
  !!t?.runId && clock.now() - Date.parse(t.runStartedAt ?? '') < runLimitMs();

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
    removedAt: undefined,
    removedReason: undefined,
    updatedAt: clock.iso(),
  };
}

/** Claims the token for sync `runId` unless another sync is under way; returns the sync that holds it. */
async function claim(tokenId: string, runId: string): Promise<string | undefined> {
  let holder: string | undefined;
  let dead: string | undefined;
  await tables.tokens.modify(...tokenKey(tokenId), (row) => {
    if (!row || row.removedAt) return (holder = undefined);
    holder = running(row) ? row.runId : runId;
    if (holder !== runId || row.runId === runId) return undefined;
    // A sync that holds the token past the limit died; the next snapshot deletes what it wrote.
    dead = row.runId;
    const deadRuns = row.runId ? [row.deadRuns, row.runId].filter(Boolean).join(',') : row.deadRuns;
    return { ...row, runId, runStartedAt: clock.iso(), deadRuns, updatedAt: clock.iso() };
  });
  if (dead) await partDone(dead, tokenId, { failed: true, counters: { tokensAbandoned: 1 } });
  return holder;
}

export interface PlannedSync {
  /** The sync this request started (for tokens it did not join). */
  runId: string;
  tokens: string[];
  /** Per token: the sync that covers it; `joined` when it was already under way. */
  runs: { tokenId: string; runId: string; joined: boolean }[];
  /** Tokens Apple does not sync (expired, invalid, held by another MDM): not synced, and why. */
  skipped: { tokenId: string; reason: string }[];
}

/**
 * Reads the tokens from Graph and syncs each (or only `only`); a token already syncing is joined,
 * not synced twice; one Apple does not sync is refreshed and skipped (asked for alone: a 409 that
 * says why). Tokens Intune no longer has are marked removed.
 */
export async function planSync(startedBy: string, only?: string): Promise<PlannedSync> {
  const runId = newRunId();
  const found = await graph().all<GraphToken>('/deviceAppManagement/vppTokens', { $select: TOKEN_SELECT });
  const runs: PlannedSync['runs'] = [];
  const skipped: PlannedSync['skipped'] = [];
  let recorded = false;
  for (const t of only ? found.filter((x) => x.id === only) : found) {
    const why = UNSYNCABLE[t.state ?? 'unknown'];
    if (why) {
      await tables.tokens.modify(...tokenKey(t.id), (row) => fromGraph(t, row));
      if (only) throw conflict(`${why} Nothing was synced; the token's health says how to fix it.`);
      skipped.push({ tokenId: t.id, reason: why });
      continue;
    }
    // The run is recorded before any token's sync can report to it.
    if (!recorded) {
      await createRun({ kind: RUN_KIND, subject: only, startedBy }, { id: runId });
      recorded = true;
    }
    // The row exists before the start message is sent, and the message goes before the claim: a
    // worker that gets the message first, or after this process died, claims the token itself.
    const start = () =>
      queues.send(QUEUE_SYNC, 'vpp.sync', { tokenId: t.id, runId, step: 'start', poll: 0, retry: false } satisfies SyncMessage, {
        key: `${runId}:${t.id}:start`,
      });
    const sent = !running(await tables.tokens.modify(...tokenKey(t.id), (row) => fromGraph(t, row)));
    if (sent) await start();
    const holder = await claim(t.id, runId);
    if (!holder) continue; // removed meanwhile
    if (holder === runId && !sent) await start(); // the sync it saw ended meanwhile
    runs.push({ tokenId: t.id, runId: holder, joined: holder !== runId });
  }
  const known = (await tables.tokens.list("PartitionKey eq 'token'")).map((r) => r.entity);
  for (const row of known) {
    if (found.some((t) => t.id === row.rowKey) || (only && row.rowKey !== only)) continue;
    await removeToken(row.rowKey, GONE);
    if (!only && row.removedAt && clock.now() - Date.parse(row.removedAt) > REMOVED_KEEP_DAYS * DAY) await purgeToken(row.rowKey);
  }
  const started = runs.filter((r) => !r.joined).length;
  const joined = [...new Set(runs.filter((r) => r.joined).map((r) => r.runId))];
  const counters = { tokensSkipped: skipped.length, tokensJoined: runs.length - started };
  let follow = runId;
  if (started) {
    await advance(runId, { counters });
    await setTotal(runId, started);
  } else if (joined.length === 1 && !skipped.length) {
    // Every token was already syncing under one run: that is the run this request follows.
    if (recorded) await discardRun(runId);
    follow = joined[0];
  } else {
    if (!recorded) await createRun({ kind: RUN_KIND, subject: only, startedBy }, { id: runId });
    await endRun(runId, { counters });
  }
  return { runId: follow, tokens: runs.map((r) => r.tokenId), runs, skipped };
}

/**
 * Syncs the tokens Intune has that this app has never seen (a new deployment, a newly uploaded
 * token) now, rather than at the next scheduled sync. Returns the tokens it started.
 */
export async function syncNewTokens(): Promise<string[]> {
  const found = await graph().all<GraphToken>('/deviceAppManagement/vppTokens', { $select: 'id' });
  const known = new Set((await tables.tokens.list("PartitionKey eq 'token'")).map((r) => r.entity.rowKey));
  const started: string[] = [];
  for (const t of found.filter((x) => !known.has(x.id))) {
    try {
      started.push(...(await planSync('schedule', t.id)).tokens);
    } catch (e) {
      // A token Apple does not sync (409) is now known, and its health says why.
      if (!(e instanceof AppError && e.status === 409)) throw e;
    }
  }
  return started;
}

/** One step of one token's sync. Business failures are recorded and retried with backoff, not thrown. */
export async function syncStep(msg: SyncMessage, log: Logger): Promise<void> {
  const ctx = { tokenId: msg.tokenId, runId: msg.runId, step: msg.step };
  const row = (await tables.tokens.get(...tokenKey(msg.tokenId)))?.entity;
  if (!row || row.removedAt) return log.info('Sync of a token Intune no longer has dropped', ctx);
  if (row.runId !== msg.runId) {
    if (msg.step !== 'start') return log.info('Step of a finished or superseded sync dropped', ctx);
    if (msg.retry && row.retryRunId !== msg.runId) return log.info('Retry dropped: the token has synced since it failed', ctx);
    const holder = await claim(msg.tokenId, msg.runId);
    if (holder !== msg.runId) return log.info('The token is already syncing; this request joined that sync', { ...ctx, holder });
  }
  const token = row.runId === msg.runId ? row : (await tables.tokens.get(...tokenKey(msg.tokenId)))!.entity;
  try {
    if (msg.step === 'start') {
      await runStarted(msg.runId);
      const why = UNSYNCABLE[token.state];
      if (why) return await skip(msg, why, log);
      try {
        await graph().post(`/deviceAppManagement/vppTokens/${encodeURIComponent(msg.tokenId)}/syncLicenses`);
      } catch (e) {
        // Intune runs one sync per token; one already under way (started in the portal, say) is waited on.
        if (!(e instanceof GraphApiError && e.graphStatus === 409)) throw e;
        log.info('Intune is already syncing this token with Apple; waiting for that sync', ctx);
      }
      await ownRun(msg, (t) => ({ ...t, lastAttemptAt: clock.iso(), lastSyncStatus: 'inProgress' }));
      await queues.send(
        QUEUE_SYNC,
        'vpp.sync',
        { ...msg, step: 'poll', poll: 1 },
        { key: `${msg.runId}:${msg.tokenId}:poll1`, delaySeconds: config().VPP_POLL_SECONDS },
      );
      return;
    }
    const found = await graph().get<GraphToken>(`/deviceAppManagement/vppTokens/${encodeURIComponent(msg.tokenId)}`, {
      $select: TOKEN_SELECT,
    });
    const fresh = await ownRun(msg, (t) => fromGraph(found, t));
    if (!fresh) return log.info('Step of a superseded sync dropped', ctx);
    if (fresh.lastSyncStatus === 'failed')
      return await failed(fresh, msg, 'Intune reports that the licence sync with Apple failed.', true, log);
    if (fresh.lastSyncStatus !== 'completed') {
      if (msg.poll >= MAX_POLLS)
        return await failed(fresh, msg, `Apple's licence sync did not finish after ${MAX_POLLS} checks.`, true, log);
      const next = msg.poll + 1;
      await queues.send(
        QUEUE_SYNC,
        'vpp.sync',
        { ...msg, poll: next },
        { key: `${msg.runId}:${msg.tokenId}:poll${next}`, delaySeconds: Math.min(60, config().VPP_POLL_SECONDS * next) },
      );
      return;
    }
    await snapshot(fresh, msg, log);
  } catch (e) {
    if (!(e instanceof GraphApiError)) throw e; // storage trouble: let the queue retry the step
    if (isMissing(e)) {
      log.info('Intune no longer has the token; marked removed', ctx);
      await removeToken(msg.tokenId, `${GONE} Intune answered 404 during a sync on ${clock.iso()}.`);
      return await partDone(msg.runId, msg.tokenId, { failed: true, counters: { tokensRemoved: 1 } });
    }
    await failed(token, msg, `Microsoft Graph answered ${e.summary}`, true, log);
  }
}

/** Changes the token row while sync `msg.runId` still holds it; undefined when it no longer does. */
async function ownRun(msg: SyncMessage, change: (t: TokenRow) => TokenRow): Promise<TokenRow | undefined> {
  let ours = false;
  const row = await tables.tokens.modify(...tokenKey(msg.tokenId), (t) => {
    ours = t?.runId === msg.runId;
    return ours ? change(t!) : undefined;
  });
  return ours ? row : undefined;
}

/** Ends the sync as failed; a failure worth retrying queues a retry with backoff. */
/** Ends the sync without syncing: Apple does not sync this token (its health says why), which is no failure. */
async function skip(msg: SyncMessage, why: string, log: Logger): Promise<void> {
  const now = clock.iso();
  await ownRun(msg, (t) => ({
    ...t,
    runId: undefined,
    runStartedAt: undefined,
    retryRunId: undefined,
    nextRetryAt: undefined,
    lastAttemptAt: now,
    updatedAt: now,
  }));
  await partDone(msg.runId, msg.tokenId, { counters: { tokensSkipped: 1 } });
  log.info('VPP token not synced', { tokenId: msg.tokenId, runId: msg.runId, reason: why });
}

async function failed(token: TokenRow, msg: SyncMessage, error: string, retry: boolean, log: Logger): Promise<void> {
  const now = clock.iso();
  let failures = 0;
  let delaySeconds = 0;
  let retryRunId: string | undefined;
  const ended = await ownRun(msg, (t) => {
    failures = t.consecutiveFailures + 1;
    // Backoff: 1, 2, 4, 8, 16 minutes (scaled by VPP_POLL_SECONDS so tests run it quickly).
    delaySeconds = Math.min(6 * 3600, 2 ** (failures - 1) * 4 * config().VPP_POLL_SECONDS);
    retryRunId = retry && failures <= MAX_RETRIES ? `${msg.runId.replace(/-retry\d+$/, '')}-retry${failures}` : undefined;
    return {
      ...t,
      runId: undefined,
      runStartedAt: undefined,
      retryRunId,
      lastError: error,
      lastAttemptAt: now,
      consecutiveFailures: failures,
      nextRetryAt: retryRunId ? new Date(clock.now() + delaySeconds * 1000).toISOString() : undefined,
      updatedAt: now,
    };
  });
  if (!ended) return log.info('Failure of a superseded sync ignored', { tokenId: msg.tokenId, runId: msg.runId, error });
  log.warn('VPP token sync failed', { tokenId: token.rowKey, error, failures, retryInSeconds: retryRunId ? delaySeconds : null });
  await partDone(msg.runId, msg.tokenId, { failed: true, counters: { tokensFailed: 1, retriesScheduled: retryRunId ? 1 : 0 } });
  if (retryRunId) {
    await createRun(
      { kind: RUN_KIND, subject: token.rowKey, startedBy: `retry:${msg.runId}`, total: 1 },
      { id: retryRunId, state: 'queued' },
    );
    await queues.send(
      QUEUE_SYNC,
      'vpp.sync',
      { tokenId: token.rowKey, runId: retryRunId, step: 'start', poll: 0, retry: true } satisfies SyncMessage,
      { key: `${retryRunId}:${token.rowKey}:start`, delaySeconds },
    );
  }
}

interface Counted {
  id: string;
  displayName?: string;
  bundleId?: string;
  totalLicenseCount?: number;
  usedLicenseCount?: number;
}

/**
 * Reads every VPP app and eBook of the token, deletes the snapshots no reader can still be using,
 * writes the new snapshot beside the served one with history (added, changed, removed against the
 * served snapshot) and alerts, then serves it.
 */
async function snapshot(token: TokenRow, msg: SyncMessage, log: Logger): Promise<void> {
  const g = graph();
  const { runId } = msg;
  const appFilter =
    token.appleId && token.organizationName
      ? `vppTokenAppleId eq ${odataString(token.appleId)} and vppTokenOrganizationName eq ${odataString(token.organizationName)}`
      : undefined;
  const [apps, ebooks] = await Promise.all([
    appFilter
      ? g.all<Counted>('/deviceAppManagement/mobileApps/graph.iosVppApp', {
          $filter: appFilter,
          $select: 'id,displayName,bundleId,totalLicenseCount,usedLicenseCount',
          $top: PAGE,
        })
      : Promise.resolve([]),
    g.all<Counted>('/deviceAppManagement/managedEBooks/graph.iosVppEBook', {
      $filter: `vppTokenId eq ${token.rowKey}`,
      $select: 'id,displayName,totalLicenseCount,usedLicenseCount',
      $top: PAGE,
    }),
  ]);
  const cfg = config();
  const at = new Date(runTime(runId)).toISOString();
  // What no reader can be using any more goes first: the snapshot before the served one, and the
  // rows of dead syncs. Until the switch below they stay named on the token row, so a crash here
  // leaves them to the retry.
  const keep = new Set([runId, token.snapshotRunId]);
  if (token.lastRunId) await deleteSnapshots(token.rowKey, (r) => !keep.has(r));
  else
    await deleteSnapshots(
      token.rowKey,
      [token.previousSnapshotRunId, ...(token.deadRuns?.split(',') ?? [])].filter((r): r is string => !!r && !keep.has(r)),
    );
  const served = token.snapshotRunId ? await readSnapshot(token.rowKey, token.snapshotRunId) : [];
  const before = new Map(served.map((l) => [l.appId, l]));
  const rows: LicenseRow[] = [];
  const history: HistoryRow[] = [];
  const alerts: VppAlertRow[] = [];
  const historyKey = (appId: string) => `${appId}|${newestFirst(runTime(runId))}`;
  const seen = new Set<string>();
  for (const [kind, items] of [
    ['app', apps],
    ['ebook', ebooks],
  ] as const) {
    for (const item of items) {
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      const total = item.totalLicenseCount ?? 0;
      const used = item.usedLicenseCount ?? 0;
      const available = total - used;
      const was = before.get(item.id);
      const low = total > 0 && (available < cfg.VPP_LOW_LICENSE_COUNT || available * 100 < total * cfg.VPP_LOW_LICENSE_PERCENT);
      const name = item.displayName ?? item.bundleId ?? item.id;
      rows.push({
        partitionKey: token.rowKey,
        rowKey: `${runId}|${item.id}`,
        appId: item.id,
        kind,
        name,
        bundleId: item.bundleId ?? undefined,
        total,
        used,
        available,
        syncedAt: at,
        runId,
        low,
      });
      if (!was || was.total !== total || was.used !== used)
        history.push({
          partitionKey: token.rowKey,
          rowKey: historyKey(item.id),
          change: was ? 'changed' : 'added',
          total,
          used,
          available,
          at,
          runId,
        });
      if (low && !was?.low) {
        alerts.push({
          partitionKey: 'alert',
          rowKey: `${newestFirst(runTime(runId))}-${token.rowKey}-${item.id}`,
          at,
          tokenId: token.rowKey,
          appId: item.id,
          name,
          available,
          total,
          message: `${name} has ${available} of ${total} licences available (token ${token.organizationName ?? token.rowKey}).`,
          email: 'notConfigured',
        });
      }
    }
  }
  for (const l of served)
    if (!seen.has(l.appId))
      history.push({
        partitionKey: token.rowKey,
        rowKey: historyKey(l.appId),
        change: 'removed',
        total: 0,
        used: 0,
        available: 0,
        at,
        runId,
      });
  await tables.history.writeMany(
    history.map((entity) => ({ kind: 'upsert' as const, entity })),
    4,
  );
  for (const a of alerts) await raiseAlert(a, log);
  await tables.licenses.writeMany(
    rows.map((entity) => ({ kind: 'upsert' as const, entity })),
    4,
  );
  const now = clock.iso();
  const switched = await ownRun(msg, (t) => ({
    ...t,
    snapshotRunId: runId,
    snapshotCount: rows.length,
    lastSnapshotAt: now,
    previousSnapshotRunId: t.snapshotRunId,
    deadRuns: undefined,
    lastRunId: undefined,
    runId: undefined,
    runStartedAt: undefined,
    retryRunId: undefined,
    lastError: undefined,
    consecutiveFailures: 0,
    nextRetryAt: undefined,
    updatedAt: now,
  }));
  if (!switched) return log.info('Snapshot of a superseded sync not served', { tokenId: token.rowKey, runId });
  await partDone(runId, token.rowKey, {
    counters: { tokensSynced: 1, apps: apps.length, ebooks: ebooks.length, changes: history.length, alerts: alerts.length },
  });
  log.info('VPP token synced', {
    tokenId: token.rowKey,
    apps: apps.length,
    ebooks: ebooks.length,
    changed: history.length,
    alerts: alerts.length,
  });
}

/**
 * Deletes licence rows of a token: those of the snapshots listed (each read by its key range), or of
 * every snapshot `which` accepts (the whole partition read).
 */
async function deleteSnapshots(tokenId: string, which: string[] | ((runId: string) => boolean)): Promise<void> {
  const rows =
    typeof which === 'function'
      ? (await tables.licenses.list(odata`PartitionKey eq ${tokenId}`)).map((r) => r.entity).filter((l) => which(l.runId))
      : (await Promise.all(which.map((r) => readSnapshot(tokenId, r)))).flat();
  await tables.licenses.writeMany(
    rows.map((l) => ({ kind: 'delete' as const, partitionKey: tokenId, rowKey: l.rowKey })),
    4,
  );
}

/**
 * Marks a token Intune no longer has as removed (its licences are no longer served), ends the
 * history of each app of its last snapshot with a `removed` entry, and deletes its licence rows.
 * Safe to repeat: a crash midway is finished by the next plan.
 */
async function removeToken(tokenId: string, reason: string): Promise<void> {
  const now = clock.iso();
  const row = await tables.tokens.modify(...tokenKey(tokenId), (t) =>
    t && !t.removedAt
      ? {
          ...t,
          removedAt: now,
          removedReason: reason,
          runId: undefined,
          runStartedAt: undefined,
          retryRunId: undefined,
          nextRetryAt: undefined,
          updatedAt: now,
        }
      : undefined,
  );
  if (!row?.removedAt) return;
  if (row.snapshotRunId) {
    const at = row.removedAt;
    const last = await readSnapshot(tokenId, row.snapshotRunId);
    await tables.history.writeMany(
      last.map((l) => ({
        kind: 'upsert' as const,
        entity: {
          partitionKey: tokenId,
          rowKey: `${l.appId}|${newestFirst(Date.parse(at))}`,
          change: 'removed' as const,
          total: 0,
          used: 0,
          available: 0,
          at,
        },
      })),
      4,
    );
  }
  await deleteSnapshots(tokenId, () => true);
  await tables.tokens.modify(...tokenKey(tokenId), (t) =>
    t?.removedAt && (t.snapshotRunId || t.previousSnapshotRunId || t.deadRuns || t.lastRunId)
      ? {
          ...t,
          snapshotRunId: undefined,
          snapshotCount: undefined,
          previousSnapshotRunId: undefined,
          deadRuns: undefined,
          lastRunId: undefined,
        }
      : undefined,
  );
}

/** Deletes what is left of a removed token: its history and its row. */
async function purgeToken(tokenId: string): Promise<void> {
  const history: TableAction<HistoryRow>[] = [];
  for await (const { entity } of tables.history.query(odata`PartitionKey eq ${tokenId}`))
    history.push({ kind: 'delete', partitionKey: tokenId, rowKey: entity.rowKey });
  await tables.history.writeMany(history, 4);
  await deleteSnapshots(tokenId, () => true);
  await tables.tokens.delete(...tokenKey(tokenId));
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
