import { z } from 'zod';
import type { Claimable } from '../platform/storage/claims';
import { EntityTable, type Entity } from '../platform/storage/tables';

/** Telecom expense management: what is stored and what providers send. */

export const KINDS = ['data', 'roaming'] as const;
export type Kind = (typeof KINDS)[number];

export const QUEUE_EVENTS = 'tem-events';
export const QUEUE_JOBS = 'tem-jobs';
/** Webhook ids are remembered this long: senders retry for about three days. */
export const WEBHOOK_ID_RETENTION_MS = 5 * 24 * 3600 * 1000;
/** A worker's claim on an event; a claim older than this belongs to a worker that died. */
export const EVENT_CLAIM_MS = 2 * 60 * 1000;
export const WEBHOOK_MAX_BYTES = 64 * 1024;
/** Blocks reverted per switch-off job message; the job re-enqueues itself until none are left. */
export const REVERT_BATCH = 25;

export type Connection = 'notConnected' | 'pendingConsent' | 'active' | 'failed';
export type RevertState = 'idle' | 'reverting' | 'done';

/** One try at connecting a provider: who started it (object id), when, and how it ended. */
export interface ConnectionAttempt {
  at: string;
  by: string | null;
  outcome: 'connected' | 'failed';
  detail?: string;
}

export interface ProviderRow extends Entity {
  name: string;
  enabled: boolean;
  connection: Connection;
  connectionDetail?: string;
  /** JSON: ConnectionAttempt[], newest first. */
  attempts?: string;
  lastConnectionAt?: string;
  lastSignalAt?: string;
  /** Sealed JSON: [{ secret, createdAt, expiresAt? }]; an expiresAt marks a retired secret in its overlap window. */
  secrets: string;
  alertEmail?: string;
  revert: RevertState;
  revertStartedAt?: string;
  revertFinishedAt?: string;
  /** The run (platform/runs.ts) of the current or last switch-off. */
  revertRunId?: string;
  reverted: number;
  createdAt: string;
}

export interface LineRow extends Entity {
  managedDeviceId: string;
  azureADDeviceId?: string;
  deviceName?: string;
  operatingSystem?: string;
  userPrincipalName?: string;
  ownership: 'company' | 'personal' | 'unknown';
  source: 'sync' | 'manual';
  updatedAt: string;
}

/**
 * The decided state of one provider's block on one line and kind (see blocks.ts): decided first,
 * then brought to Graph by device.
 */
export interface BlockRow extends Entity {
  active: boolean;
  line: string;
  kind: Kind;
  managedDeviceId: string;
  directoryObjectId?: string;
  /** Time and webhook-id of the newest event recorded for this line and kind, applied or not: older events never overwrite it. */
  lastEventAt: string;
  lastEventId: string;
  /** Counts the changes of `active`, so convergence can tell whether the records moved under it. */
  rev?: number;
  /** The decided state may not have reached Graph yet. */
  pending?: boolean;
  /** When `active` last changed. */
  since?: string;
  updatedAt: string;
}

/**
 * requested is written before the Graph calls and replaced by the outcome, so an interrupted action
 * shows; repaired is a difference the reconciliation found between the records and the groups.
 */
export const LEDGER_STATUSES = ['requested', 'applied', 'failed', 'reverted', 'ignored', 'repaired'] as const;
export type LedgerStatus = (typeof LEDGER_STATUSES)[number];
export const LEDGER_ACTIONS = ['block', 'unblock', 'none'] as const;
export interface LedgerRow extends Entity {
  at: string;
  eventAt?: string;
  eventId?: string;
  eventType?: string;
  action: (typeof LEDGER_ACTIONS)[number];
  kind?: Kind;
  line?: string;
  deviceName?: string;
  status: LedgerStatus;
  reason?: string;
  error?: string;
}

export interface AlertRow extends Entity {
  at: string;
  eventId: string;
  line: string;
  kind: Kind;
  message: string;
  usageMb?: number;
  capMb?: number;
  country?: string;
  email: 'notConfigured' | 'pending' | 'sent' | 'failed';
  emailError?: string;
}

/** One per webhook-id: claimed by the worker that applies the event, kept for the retention period. */
export interface WebhookRow extends Claimable {
  state: 'processing' | 'processed';
  expiresAt: number;
}

export interface SetupRow extends Entity {
  groupId: string;
  iosProfileId: string;
  androidProfileId: string;
  updatedAt: string;
}

export const tables = {
  providers: new EntityTable<ProviderRow>('temproviders'),
  lines: new EntityTable<LineRow>('temlines'),
  blocks: new EntityTable<BlockRow>('temblocks'),
  ledger: new EntityTable<LedgerRow>('temledger'),
  alerts: new EntityTable<AlertRow>('temalerts'),
  webhooks: new EntityTable<WebhookRow>('temwebhooks'),
  setup: new EntityTable<SetupRow>('temsetup'),
};

/** E.164 as providers and Intune write it: `+` and digits; `00` becomes `+`; spaces, dots, dashes and brackets go. */
export function normalizePhone(raw: string): string | undefined {
  let s = raw.trim().replace(/[\s().-]/g, '');
  if (s.startsWith('00')) s = `+${s.slice(2)}`;
  return /^\+[1-9]\d{6,14}$/.test(s) ? s : undefined;
}

const phone = z.string().transform((s, ctx) => {
  const n = normalizePhone(s);
  if (!n) ctx.addIssue({ code: 'custom', message: 'a phone number in E.164 form, e.g. +447700900123' });
  return n ?? s;
});
const isoTime = z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time, e.g. 2026-11-21T10:00:00Z' });

/** The webhook payload: Standard Webhooks' recommended {type, timestamp, data}. */
export const eventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('usage.threshold_exceeded'),
    timestamp: isoTime,
    data: z.object({
      phoneNumber: phone,
      kind: z.enum(KINDS),
      usageMb: z.number().nonnegative().optional(),
      capMb: z.number().nonnegative().optional(),
      country: z
        .string()
        .regex(/^[A-Z]{2}$/, 'an ISO 3166 alpha-2 country code')
        .optional(),
      cycleStart: z.iso.date().optional(),
      cycleEnd: z.iso.date().optional(),
    }),
  }),
  z.object({
    type: z.literal('usage.threshold_cleared'),
    timestamp: isoTime,
    data: z.object({ phoneNumber: phone, kind: z.enum(KINDS) }),
  }),
  z.object({
    type: z.literal('billing_cycle.reset'),
    timestamp: isoTime,
    data: z.object({ phoneNumber: phone.optional(), cycleStart: z.iso.date().optional() }),
  }),
]);
export type TemEvent = z.infer<typeof eventSchema>;

/** Queue messages of the TEM connector. */
export const eventMessage = z.object({ providerId: z.string(), webhookId: z.string(), event: eventSchema });
export const jobMessage = z.discriminatedUnion('job', [
  z.object({ job: z.literal('setup'), providerId: z.string() }),
  z.object({ job: z.literal('syncLines'), runId: z.string().optional() }),
  z.object({ job: z.literal('revert'), providerId: z.string() }),
  z.object({ job: z.literal('reconcile'), runId: z.string().optional() }),
  z.object({
    job: z.literal('confirmConsent'),
    providerId: z.string(),
    admin: z.string().optional(),
    startedAt: z.number(),
    attempt: z.number().int().min(1),
  }),
]);
export type JobMessage = z.infer<typeof jobMessage>;
