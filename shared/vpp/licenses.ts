import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { AppError, badRequest, notFound } from '../platform/errors';
import { pageQuery } from '../platform/http';
import { tokenHealth } from './health';
import { readSnapshot, tables, type LicenseRow, type TokenRow } from './model';
import { running } from './sync';

/** What admins read: tokens with health, licences per app, history and alerts. */

export async function listTokens() {
  const rows = await tables.tokens.list("PartitionKey eq 'token'");
  return rows.map(({ entity: t }) => ({
    id: t.rowKey,
    organizationName: t.organizationName ?? null,
    appleId: t.appleId ?? null,
    accountType: t.accountType ?? null,
    state: t.state,
    expirationDateTime: t.expirationDateTime ?? null,
    lastSyncDateTime: t.lastSyncDateTime ?? null,
    lastSyncStatus: t.lastSyncStatus,
    lastSnapshotAt: t.lastSnapshotAt ?? null,
    lastError: t.lastError ?? null,
    nextRetryAt: t.nextRetryAt ?? null,
    syncing: running(t),
    runId: running(t) ? t.runId : null,
    removed: t.removedAt ? { at: t.removedAt, reason: t.removedReason ?? '' } : null,
    ...tokenHealth(t),
  }));
}

/**
 * The connector's state for the overview, from the tokens' health (undefined while Intune has none):
 * the worst token's first reason of that severity with its fix, and as open alerts the apps low on licences.
 */
export async function vppSummary() {
  const tokens = (await listTokens()).filter((t) => !t.removed);
  if (!tokens.length) return undefined;
  const worst = tokens.find((t) => t.health === 'unhealthy') ?? tokens.find((t) => t.health === 'warning');
  const why = worst?.reasons.find((r) => r.severity === worst.health) ?? worst?.reasons[0];
  const synced = tokens.map((t) => t.lastSnapshotAt ?? t.lastSyncDateTime).filter((at): at is string => !!at);
  return {
    state: !worst ? 'active' : worst.health === 'unhealthy' ? 'error' : 'warning',
    detail: worst ? `Token ${worst.organizationName ?? worst.id}: ${why!.reason}` : `${tokens.length} token(s) healthy.`,
    fix: why?.fix ?? null,
    updatedAt: synced.sort().at(-1) ?? null,
    openAlerts: (await servedLicenses()).rows.filter((l) => l.low).length,
  } as const;
}

export const licenseQuery = pageQuery.extend({
  tokenId: z.string().optional(),
  kind: z.enum(['app', 'ebook']).optional(),
  sort: z.enum(['name', 'total', 'used', 'available']).default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
});

/** Which snapshot of each token a listing read: its next pages read the same ones. */
type Snapshots = [tokenId: string, runId: string, count: number][];
const cursor = z.object({ skip: z.number().int().min(0), snapshots: z.array(z.tuple([z.string(), z.string(), z.number()])) });

/**
 * The rows of each token's served snapshot. A snapshot's rows are written before it is served and
 * deleted only a sync after it was replaced, so a read shorter than the count it was served with
 * means two syncs finished while it ran: read again.
 */
async function servedLicenses(tokenId?: string): Promise<{ rows: LicenseRow[]; snapshots: Snapshots }> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const tokens: TokenRow[] = tokenId
      ? [(await tables.tokens.get('token', tokenId))?.entity].filter((t) => !!t)
      : (await tables.tokens.list("PartitionKey eq 'token'")).map((r) => r.entity);
    const snapshots: Snapshots = tokens
      .filter((t) => t.snapshotRunId && !t.removedAt)
      .map((t) => [t.rowKey, t.snapshotRunId!, t.snapshotCount ?? 0]);
    const rows = await readSnapshots(snapshots);
    if (rows) return { rows, snapshots };
  }
  throw new AppError(
    503,
    'Service Unavailable',
    'The licences changed several times while they were read; try again.',
    {},
    { 'Retry-After': '1' },
  );
}

/** The rows of these snapshots, or undefined when one of them is no longer whole. */
async function readSnapshots(snapshots: Snapshots): Promise<LicenseRow[] | undefined> {
  const parts = await Promise.all(snapshots.map(([tokenId, runId]) => readSnapshot(tokenId, runId)));
  return parts.every((rows, i) => rows.length === snapshots[i][2]) ? parts.flat() : undefined;
}

/**
 * One page of licences, sorted. Later pages read the snapshots the first page read (a snapshot is
 * kept until the sync after the one that replaced it), so paging never mixes two syncs.
 */
export async function listLicenses(q: z.infer<typeof licenseQuery>) {
  let skip = 0;
  let read: { rows: LicenseRow[]; snapshots: Snapshots };
  if (q.continuationToken) {
    const at = decodeCursor(q.continuationToken);
    const rows = await readSnapshots(at.snapshots);
    if (!rows) throw badRequest('The licences were synced twice since the first page was read; start again without continuationToken.');
    read = { rows, snapshots: at.snapshots };
    skip = at.skip;
  } else read = await servedLicenses(q.tokenId);
  const rows = read.rows
    .filter((l) => !q.kind || l.kind === q.kind)
    .map((l) => ({
      tokenId: l.partitionKey,
      id: l.appId,
      kind: l.kind,
      name: l.name,
      bundleId: l.bundleId ?? null,
      total: l.total,
      used: l.used,
      available: l.available,
      low: l.low,
      syncedAt: l.syncedAt,
    }));
  const dir = q.order === 'asc' ? 1 : -1;
  rows.sort((a, b) => {
    const x = a[q.sort];
    const y = b[q.sort];
    return (typeof x === 'string' ? x.localeCompare(String(y)) : Number(x) - Number(y)) * dir || a.id.localeCompare(b.id);
  });
  const end = skip + q.top;
  const next = end < rows.length ? Buffer.from(JSON.stringify({ skip: end, snapshots: read.snapshots })).toString('base64url') : undefined;
  return { count: rows.length, value: rows.slice(skip, end), next };
}

function decodeCursor(token: string): z.infer<typeof cursor> {
  try {
    return cursor.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw badRequest('The continuationToken is not one this list gave; start again without it.');
  }
}

export const licenseSchema = z.object({
  tokenId: z.string(),
  id: z.string(),
  kind: z.enum(['app', 'ebook']),
  name: z.string(),
  bundleId: z.string().nullable(),
  total: z.number(),
  used: z.number(),
  available: z.number(),
  low: z.boolean().describe('Fewer available than VPP_LOW_LICENSE_COUNT or VPP_LOW_LICENSE_PERCENT.'),
  syncedAt: z.string(),
});
export const historySchema = z.object({
  at: z.string(),
  change: z.enum(['added', 'changed', 'removed']),
  total: z.number(),
  used: z.number(),
  available: z.number(),
});
export const alertSchema = z.object({
  at: z.string(),
  tokenId: z.string(),
  appId: z.string(),
  name: z.string(),
  available: z.number(),
  total: z.number(),
  message: z.string(),
  email: z.enum(['notConfigured', 'sent', 'failed']),
});

export async function licenseHistory(tokenId: string, appId: string) {
  // One partition per token; an app's rows are `<appId>|<newest first>`.
  const rows = await tables.history.list(odata`PartitionKey eq ${tokenId} and RowKey ge ${`${appId}|`} and RowKey lt ${`${appId}|~`}`);
  if (!rows.length) throw notFound(`No licences of '${appId}' under token '${tokenId}'.`);
  return rows.map(({ entity: h }) => ({ at: h.at, change: h.change ?? 'changed', total: h.total, used: h.used, available: h.available }));
}

/** One page of low-licence alerts, newest first. */
export async function listAlerts(top: number, token?: string) {
  const { rows, next } = await tables.alerts.page("PartitionKey eq 'alert'", top, token);
  return { value: rows.map(({ entity: { partitionKey: _p, rowKey: _r, ...a } }) => a), next };
}
