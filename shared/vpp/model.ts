import { z } from 'zod';
import { EntityTable, type Entity } from '../platform/storage/tables';

/** Apple VPP: tokens, per-app licence snapshots and their history. */

export const QUEUE_SYNC = 'vpp-sync';

export type TokenState = 'unknown' | 'valid' | 'expired' | 'invalid' | 'assignedToExternalMDM';
export type SyncStatus = 'none' | 'inProgress' | 'completed' | 'failed';

/** A VPP token as Graph reports it, with how our syncs of it went. */
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
  /** When our last snapshot of this token's licences was taken. */
  lastSnapshotAt?: string;
  lastRunId?: string;
  lastAttemptAt?: string;
  lastError?: string;
  consecutiveFailures: number;
  nextRetryAt?: string;
  updatedAt: string;
}

export interface LicenseRow extends Entity {
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
  total: number;
  used: number;
  available: number;
  at: string;
  runId: string;
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

/** One message per token and step: start a sync, poll until Apple's sync settles, read the licences. */
export const syncMessage = z.object({
  tokenId: z.string().min(1),
  runId: z.string().min(1),
  step: z.enum(['start', 'poll']),
  poll: z.number().int().min(0).default(0),
});
export type SyncMessage = z.infer<typeof syncMessage>;

