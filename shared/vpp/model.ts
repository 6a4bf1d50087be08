import { z } from 'zod';
import { odata } from '@azure/data-tables';
import { EntityTable, type Entity } from '../platform/storage/tables';

/** Apple VPP: tokens, per-app licence snapshots and their history. */

export const QUEUE_SYNC = 'vpp-sync';
/** How long a token Intune no longer has stays listed (as removed) with its history. */
export const REMOVED_KEEP_DAYS = 30;

export type TokenState = 'unknown' | 'valid' | 'expired' | 'invalid' | 'assignedToExternalMDM';
export type SyncStatus = 'none' | 'inProgress' | 'completed' | 'failed';

/**
 * A VPP token as Graph reports it, with how our syncs of it went. One sync runs per token at a
 * time (`runId`); the licences readers see are the snapshot `snapshotRunId` names.
 */
export interface TokenRow extends Entity {
  organizationName?: string;
  appleId?: string;
  countryOrRegion?: string;
  accountType?: string;
  state: TokenState;
  expirationDateTime?: string;
  /** Graph's lastSyncDateTime: when Apple's licences last reached Intune. */
  lastSyncDateTime?: string;
  lastSyncStatus: SyncStatus;
  /** The sync under way and when it began; a request for the token meanwhile joins it. */
  runId?: string;
  runStartedAt?: string;
  /** The retry a failed sync queued; moot once another sync of the token has run. */
  retryRunId?: string;
  /** The snapshot served to readers: the sync that wrote it, how many rows it has, when. */
  snapshotRunId?: string;
  snapshotCount?: number;
  lastSnapshotAt?: string;
  /** The snapshot it replaced, kept for readers that began with it; deleted by the next sync. */
  previousSnapshotRunId?: string;
  /** Syncs presumed dead when another took the token over: their partial rows are deleted by the next snapshot. */
  deadRuns?: string;
  /** Written by releases that kept one snapshot under bare app keys; those rows go at the next snapshot. */
  lastRunId?: string;
  lastAttemptAt?: string;
  lastError?: string;
  consecutiveFailures: number;
  nextRetryAt?: string;
  /** Set when Intune no longer has the token: its licences are no longer served. */
  removedAt?: string;
  removedReason?: string;
  updatedAt: string;
}

/** One app or eBook in one snapshot. Partition: the token; row key: `<runId>|<appId>`. */
export interface LicenseRow extends Entity {
  appId: string;
  kind: 'app' | 'ebook';
  name: string;
  bundleId?: string;
  total: number;
  used: number;
  available: number;
  syncedAt: string;
  runId: string;
  /** Set while the app is under the low-availability threshold, so the alert fires once per dip. */
  low: boolean;
}

/** Partition: the token; row key: `<appId>|<newest first>`, one row per change of counts. */
export interface HistoryRow extends Entity {
  /** `removed`: the app left the token (or the token left Intune); its counts are then 0. */
  change?: 'added' | 'changed' | 'removed';
  total: number;
  used: number;
  available: number;
  at: string;
  /** The sync that saw the change; none for the entries written when the token left Intune. */
  runId?: string;
}

export interface VppAlertRow extends Entity {
  at: string;
  tokenId: string;
  appId: string;
  name: string;
  available: number;
  total: number;
  message: string;
  email: 'notConfigured' | 'sent' | 'failed';
}

export const tables = {
  tokens: new EntityTable<TokenRow>('vpptokens'),
  licenses: new EntityTable<LicenseRow>('vpplicenses'),
  history: new EntityTable<HistoryRow>('vpphistory'),
  alerts: new EntityTable<VppAlertRow>('vppalerts'),
};

/** The rows of one snapshot of a token. */
export const readSnapshot = (tokenId: string, runId: string) =>
  tables.licenses
    .list(odata`PartitionKey eq ${tokenId} and RowKey ge ${`${runId}|`} and RowKey lt ${`${runId}|~`}`)
    .then((rows) => rows.map((r) => r.entity));

/**
 * One message per token and step: start a sync, poll until Apple's sync settles, read the licences.
 * `retry`: the start of a retry a failed sync queued.
 */
export const syncMessage = z.object({
  tokenId: z.string().min(1),
  runId: z.string().min(1),
  step: z.enum(['start', 'poll']),
  poll: z.number().int().min(0).default(0),
  retry: z.boolean().default(false),
});
export type SyncMessage = z.infer<typeof syncMessage>;
