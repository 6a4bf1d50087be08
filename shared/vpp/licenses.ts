import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { AppError, notFound } from '../platform/errors';
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
    removed: t.removedAt ? { at: t.removedAt, reason: t.removedReason ?? '' } : null,
    ...tokenHealth(t),
  }));
}

export const licenseQuery = z.object({
  tokenId: z.string().optional(),
  kind: z.enum(['app', 'ebook']).optional(),
  sort: z.enum(['name', 'total', 'used', 'available']).default('name'),
  order: z.enum(['asc', 'desc']).default('asc'),
  top: z.coerce.number().int().min(1).max(1000).default(100),
  skip: z.coerce.number().int().min(0).default(0),
});

/**
 * The rows of each token's served snapshot. A snapshot's rows are written before it is served and
 * deleted only a sync after it was replaced, so a read shorter than the count it was served with
 * means two syncs finished while it ran: read again.
 */
async function servedLicenses(tokenId?: string): Promise<LicenseRow[]> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const tokens: TokenRow[] = tokenId
      ? [(await tables.tokens.get('token', tokenId))?.entity].filter((t) => !!t)
      : (await tables.tokens.list("PartitionKey eq 'token'")).map((r) => r.entity);
    const served = tokens.filter((t) => t.snapshotRunId && !t.removedAt);
    const parts = await Promise.all(served.map((t) => readSnapshot(t.rowKey, t.snapshotRunId!)));
    if (parts.every((rows, i) => rows.length === served[i].snapshotCount)) return parts.flat();
  }
  throw new AppError(
    503,
    'Service Unavailable',
    'The licences changed several times while they were read; try again.',
    {},
    { 'Retry-After': '1' },
  );
}

export async function listLicenses(q: z.infer<typeof licenseQuery>) {
  const rows = (await servedLicenses(q.tokenId))
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
  return { count: rows.length, value: rows.slice(q.skip, q.skip + q.top) };
}

export async function licenseHistory(tokenId: string, appId: string) {
  // One partition per token; an app's rows are `<appId>|<newest first>`.
  const rows = await tables.history.list(odata`PartitionKey eq ${tokenId} and RowKey ge ${`${appId}|`} and RowKey lt ${`${appId}|~`}`);
  if (!rows.length) throw notFound(`No licences of '${appId}' under token '${tokenId}'.`);
  return rows.map(({ entity: h }) => ({ at: h.at, change: h.change ?? 'changed', total: h.total, used: h.used, available: h.available }));
}

export async function listAlerts(top: number) {
  return (await tables.alerts.list("PartitionKey eq 'alert'", top)).map(({ entity: { partitionKey: _p, rowKey: _r, ...a } }) => a);
}
