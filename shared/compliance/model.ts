import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BlobStore } from '../platform/storage/blobs';
import type { Claimable } from '../platform/storage/claims';
import type { ActionType, brandingToggles, LocalizedMessage } from './inputs';
import { EntityTable, type Entity } from '../platform/storage/tables';

/**
 * Compliance actions for noncompliance: notification templates, company branding, per-policy
 * action schedules, and per device and policy the noncompliance state with its action ledger.
 */

export const QUEUE_JOBS = 'cmp-jobs';
export const QUEUE_ACTIONS = 'cmp-actions';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Management agents of compliance partners (Jamf and the like): Intune leaves their devices to the partner. */
export const PARTNER_AGENTS = new Set(['jamf']);

/* ---------- templates ---------- */

export interface TemplateRow extends Entity {
  name: string;
  /** JSON of the branding toggles. */
  branding: string;
  /** JSON of the localized messages (bounded by the limits above, well under 64 KiB per property). */
  messages: string;
  createdAt: string;
  updatedAt: string;
}

export interface Template {
  id: string;
  name: string;
  branding: z.infer<typeof brandingToggles>;
  messages: LocalizedMessage[];
  defaultLocale: string;
  createdAt: string;
  updatedAt: string;
}

/* ---------- branding ---------- */

export interface BrandingRow extends Entity {
  companyName: string;
  contact: string;
  logoType?: string;
  logoBytes?: number;
  logoUpdatedAt?: string;
  updatedAt: string;
}

/* ---------- schedules ---------- */

export interface ScheduleRow extends Entity {
  actions: string;
  updatedAt: string;
}

/* ---------- device state and ledger ---------- */

/**
 * Partitions per policy for device rows, and of the due index. Azure serves each partition from one
 * server (about 2,000 entities/s), so planning spreads its batches over many; a shard still gets
 * full 100-row transactions from about 6,400 noncompliant devices per policy up.
 */
export const SHARDS = 64;
export const shardOf = (deviceId: string) => createHash('sha1').update(deviceId.toLowerCase()).digest().readUInt16BE(0) % SHARDS;
export const shardKey = (n: number) => String(n).padStart(2, '0');

/** Device rows live in partition `<policyId>|<shard>`: `s|<deviceId>` (state) and `a|<deviceId>|<episode>|<actionId>` (ledger). */
export const devicePartition = (policyId: string, deviceId: string) => `${policyId}|${shardKey(shardOf(deviceId))}`;
export const stateKey = (deviceId: string) => `s|${deviceId}`;
export const ledgerKey = (deviceId: string, episode: string, action: string) => `a|${deviceId}|${episode}|${action}`;
export const ledgerPrefix = (deviceId: string) => `a|${deviceId}|`;

export type DeviceStatus = 'noncompliant' | 'compliant' | 'noLongerManaged';

/** A managed device as a scan reads it from Intune. */
export interface ObservedDevice {
  deviceId: string;
  deviceName: string;
  userId?: string;
  userPrincipalName?: string;
  operatingSystem?: string;
  osVersion?: string;
  managementAgent?: string;
}

export interface StateRow extends Entity, ObservedDevice {
  policyId: string;
  policyName: string;
  status: DeviceStatus;
  /** When the current (or last) noncompliance started; also the episode id of its ledger rows. */
  since?: string;
  /** End of the grace period: when the mark-noncompliant action falls due. */
  graceUntil?: string;
  markedAt?: string;
  /** Action ids planned in this episode (comma-separated), so a schedule edit plans only what is new. */
  planned?: string;
  /** Why no actions run for this device, e.g. partner-managed. */
  skipped?: string;
  resolvedAt?: string;
  lastSeenAt: string;
}

export type LedgerStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled' | 'skipped';
export const TERMINAL: ReadonlySet<LedgerStatus> = new Set(['done', 'failed', 'cancelled', 'skipped']);

export interface LedgerRow extends Claimable {
  policyId: string;
  deviceId: string;
  episode: string;
  action: string;
  type: ActionType;
  days: number;
  dueAt: string;
  status: LedgerStatus;
  reason?: string;
  /** Graph's error code and message when the action failed. */
  error?: string;
  attempts: number;
  /** Set just before the Graph call with an effect, so a retaken run checks before repeating it. */
  effectStartedAt?: string;
  /** The same moment in real time (ms): how long Exchange has had to file a sent mail. */
  effectStartedMs?: number;
  /** When Graph answered the effect with an error (ms): it had landed, if at all, by then. */
  effectAnsweredMs?: number;
  /** remoteLock and retire: the newest such result on the device before ours (to recognise ours). */
  actionBaseline?: string;
  /** email: who it went to. */
  sentTo?: string;
  updatedAt: string;
  finishedAt?: string;
}

/** Due index: partition = shard, row key = `<dueAt>|<policyId>|<deviceId>|<episode>|<actionId>`, so "due by now" is a range. */
export interface DueRow extends Entity {
  policyId: string;
  deviceId: string;
  episode: string;
  action: string;
}
export const duePartition = (deviceId: string) => `due|${shardKey(shardOf(deviceId))}`;
export const allDuePartitions = () => Array.from({ length: SHARDS }, (_, i) => `due|${shardKey(i)}`);
export const dueKey = (dueAt: string, policyId: string, deviceId: string, episode: string, action: string) =>
  `${dueAt}|${policyId}|${deviceId}|${episode}|${action}`;

/** Partition of the scans table with one row per policy: when a scan last finished planning it. */
export const SCANNED = 'policy';

/** Per policy, the last scan that planned it (SCANNED). The scans themselves are runs (platform/runs.ts). */
export interface ScanRow extends Entity {
  runId: string;
  finishedAt?: string;
}

export const tables = {
  scans: new EntityTable<ScanRow>('cmpscans'),
  templates: new EntityTable<TemplateRow>('cmptemplates'),
  branding: new EntityTable<BrandingRow>('cmpbranding'),
  schedules: new EntityTable<ScheduleRow>('cmpschedules'),
  devices: new EntityTable<StateRow | LedgerRow>('cmpdevices'),
  /** The same table typed for its ledger rows (the runner claims them). */
  ledger: new EntityTable<LedgerRow>('cmpdevices'),
  due: new EntityTable<DueRow>('cmpdue'),
};
export const logoStore = new BlobStore('cmp-branding');

/* ---------- queue messages ---------- */

export const jobMessage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scan'), runId: z.string().min(1) }),
  z.object({
    kind: z.literal('dispatch'),
    runId: z.string().min(1),
    partition: z.string().regex(/^due\|\d\d$/),
    /** Actions this partition's earlier messages of the run dispatched. */
    sent: z.number().int().min(0).optional(),
  }),
]);
export type JobMessage = z.infer<typeof jobMessage>;

export const actionMessage = z.object({
  policyId: z.string().min(1),
  deviceId: z.string().min(1),
  episode: z.string().min(1),
  action: z.string().min(1),
});
export type ActionMessage = z.infer<typeof actionMessage>;
