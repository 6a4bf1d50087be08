import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { notFound } from '../platform/errors';
import { tokenHealth } from './health';
import { tables } from './model';

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

export async function listLicenses(q: z.infer<typeof licenseQuery>) {
  const filters = [q.tokenId && odata`PartitionKey eq ${q.tokenId}`, q.kind && odata`kind eq ${q.kind}`].filter(Boolean).join(' and ');
  const rows = (await tables.licenses.list(filters || undefined)).map(({ entity: l }) => ({
    tokenId: l.partitionKey,
    id: l.rowKey,
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
  if (!rows.length && !(await tables.licenses.get(tokenId, appId))) throw notFound(`No licences of '${appId}' under token '${tokenId}'.`);
  return rows.map(({ entity: h }) => ({ at: h.at, total: h.total, used: h.used, available: h.available }));
}

export async function listAlerts(top: number) {
  return (await tables.alerts.list("PartitionKey eq 'alert'", top)).map(({ entity: { partitionKey: _p, rowKey: _r, ...a } }) => a);
}
