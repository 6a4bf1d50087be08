import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BlobStore } from '../platform/storage/blobs';
import type { Claimable } from '../platform/storage/claims';
import { EntityTable, type Entity } from '../platform/storage/tables';

/**
 * Compliance actions for noncompliance: notification templates, company branding, per-policy
 * action schedules, and per device and policy the noncompliance state with its action ledger.
 */

export const QUEUE_JOBS = 'cmp-jobs';
export const QUEUE_ACTIONS = 'cmp-actions';

export const DAY_MS = 24 * 60 * 60 * 1000;
export const MAX_DAYS = 365;

/** Management agents of compliance partners (Jamf and the like): Intune leaves their devices to the partner. */
export const PARTNER_AGENTS = new Set(['jamf']);

/* ---------- templates ---------- */

export const SUBJECT_MAX = 255; // Exchange's subject limit
export const BODY_MAX = 10_000;
export const NAME_MAX = 100;
export const LOCALES_MAX = 40;

/** Variables a subject or body may use, as `{{Name}}`, and what each becomes. */
export const VARIABLES = {
  UserName: "The user's display name",
  UserEmail: "The user's email address",
  DeviceName: 'The device name',
  DeviceId: 'The Intune device id',
  OSAndVersion: 'Operating system and version, e.g. iOS 17.4',
  PolicyName: 'The compliance policy the device does not meet',
  NoncompliantSince: 'When the device became noncompliant (UTC)',
  CompanyName: 'The company name from branding',
} as const;
export type VariableName = keyof typeof VARIABLES;

const VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Problems with the `{{…}}` variables in a text: unknown names and unbalanced braces. */
export function variableProblems(text: string): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(VARIABLE)) {
    if (!(m[1] in VARIABLES))
      problems.push(
        `unknown variable {{${m[1]}}}; use one of ${Object.keys(VARIABLES)
          .map((v) => `{{${v}}}`)
          .join(', ')}`,
      );
  }
  const rest = text.replace(VARIABLE, '');
  if (rest.includes('{{') || rest.includes('}}')) problems.push("unbalanced '{{' or '}}'; variables are written {{Name}}");
  return problems;
}

/** Replaces each variable with its value (already escaped by the caller when the target is HTML). */
export function fillVariables(text: string, values: Record<VariableName, string>): string {
  return text.replace(VARIABLE, (_, name: string) => values[name as VariableName] ?? '');
}

const withVariables = (max: number, what: string) =>
  z
    .string()
    .trim()
    .min(1, `the ${what} is empty`)
    .max(max, `the ${what} is longer than ${max} characters`)
    .superRefine((s, ctx) => {
      for (const p of variableProblems(s)) ctx.addIssue({ code: 'custom', message: p });
    });

export const localeSchema = z
  .string()
  .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/i, 'a language tag such as en-US or de-DE')
  .transform((s) => s.toLowerCase());

export const localizedMessage = z.object({
  locale: localeSchema,
  subject: withVariables(SUBJECT_MAX, 'subject'),
  body: withVariables(BODY_MAX, 'body'),
  isDefault: z.boolean().default(false),
});
export type LocalizedMessage = z.infer<typeof localizedMessage>;

export const brandingToggles = z.object({
  companyLogo: z.boolean().default(true),
  companyName: z.boolean().default(true),
  contactInformation: z.boolean().default(true),
  deviceDetails: z.boolean().default(true),
});

export const templateInput = z
  .object({
    name: z.string().trim().min(1, 'the name is empty').max(NAME_MAX, `the name is longer than ${NAME_MAX} characters`),
    branding: brandingToggles.prefault({}),
    messages: z
      .array(localizedMessage)
      .min(1, 'at least one localized message is needed')
      .max(LOCALES_MAX, `at most ${LOCALES_MAX} locales`),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.messages.forEach((m, i) => {
      if (seen.has(m.locale))
        ctx.addIssue({ code: 'custom', path: ['messages', i, 'locale'], message: `locale ${m.locale} appears twice` });
      seen.add(m.locale);
    });
    const defaults = t.messages.filter((m) => m.isDefault).length;
    if (defaults !== 1)
      ctx.addIssue({ code: 'custom', path: ['messages'], message: `exactly one message must have isDefault: true (found ${defaults})` });
  });
export type TemplateInput = z.infer<typeof templateInput>;

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

export const LOGO_MAX_BYTES = 256 * 1024;
export const LOGO_TYPES = ['image/png', 'image/jpeg'] as const;

export const brandingInput = z
  .object({
    companyName: z.string().trim().max(100, 'the company name is longer than 100 characters').default(''),
    contact: z
      .object({
        name: z.string().trim().max(100).default(''),
        email: z.union([z.email('an email address'), z.literal('')]).default(''),
        phone: z.string().trim().max(40).default(''),
        website: z.union([z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }), z.literal('')]).default(''),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type Branding = z.infer<typeof brandingInput> & { logo: { contentType: string; bytes: number; updatedAt: string } | null };

export interface BrandingRow extends Entity {
  companyName: string;
  contact: string;
  logoType?: string;
  logoBytes?: number;
  logoUpdatedAt?: string;
  updatedAt: string;
}

/* ---------- schedules ---------- */

export const ACTION_TYPES = ['markNoncompliant', 'email', 'remoteLock', 'retire'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a GUID');
const days = z
  .number({ error: 'a whole number of days from 0 to 365' })
  .int('a whole number of days')
  .min(0, 'at least 0 days')
  .max(MAX_DAYS, `at most ${MAX_DAYS} days`);

export const actionInput = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('markNoncompliant'), days }).strict(),
    z
      .object({
        type: z.literal('email'),
        days,
        templateId: z.string().min(1, 'the template id'),
        additionalRecipientGroupIds: z.array(uuid).max(20, 'at most 20 groups').default([]),
      })
      .strict(),
    z.object({ type: z.literal('remoteLock'), days }).strict(),
    z.object({ type: z.literal('retire'), days }).strict(),
  ],
  { error: `type must be one of ${ACTION_TYPES.join(', ')}` },
);
export type ActionInput = z.infer<typeof actionInput>;

export const scheduleInput = z
  .object({ actions: z.array(actionInput).max(20, 'at most 20 actions') })
  .strict()
  .superRefine((s, ctx) => {
    const marks = s.actions.filter((a) => a.type === 'markNoncompliant').length;
    if (marks === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['actions'],
        message: "the 'markNoncompliant' action is required and cannot be removed; set its days (0 to 365) instead",
      });
    if (marks > 1) ctx.addIssue({ code: 'custom', path: ['actions'], message: "there can be only one 'markNoncompliant' action" });
    if (s.actions.filter((a) => a.type === 'retire').length > 1)
      ctx.addIssue({ code: 'custom', path: ['actions'], message: "there can be only one 'retire' action (a device is retired once)" });
    const seen = new Map<string, number>();
    s.actions.forEach((a, i) => {
      const id = actionId(a);
      if (seen.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['actions', i],
          message: `actions ${seen.get(id)} and ${i} are both ${a.type} on day ${a.days}; keep one`,
        });
      seen.set(id, i);
    });
  });

/** An action's identity within a schedule: its type and day, stable across edits of its details. */
export const actionId = (a: { type: ActionType; days: number }) => `${a.type}@${a.days}`;

/** Every policy has at least this: mark noncompliant immediately. */
export const DEFAULT_ACTIONS: ActionInput[] = [{ type: 'markNoncompliant', days: 0 }];

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

/** Scan runs, newest first, and the `lease` row that keeps scans from overlapping. */
export interface ScanRow extends Claimable {
  runId: string;
  startedAt?: string;
  finishedAt?: string;
  /** JSON of the per-policy plan results. */
  results?: string;
  error?: string;
  /** Lease row (claimed by the running scan): whether a scan was asked for meanwhile. */
  rerun?: boolean;
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
  z.object({ kind: z.literal('dispatch'), runId: z.string().min(1), partition: z.string().regex(/^due\|\d\d$/) }),
]);
export type JobMessage = z.infer<typeof jobMessage>;

export const actionMessage = z.object({
  policyId: z.string().min(1),
  deviceId: z.string().min(1),
  episode: z.string().min(1),
  action: z.string().min(1),
});
export type ActionMessage = z.infer<typeof actionMessage>;
