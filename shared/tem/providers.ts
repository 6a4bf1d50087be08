import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { open, seal } from '../platform/auth/secrets';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { notFound } from '../platform/errors';
import { createRun, discardRun, setTotal } from '../platform/runs';
import { queues } from '../platform/storage/queues';
import { newSecret, normalizeSecret } from '../platform/webhooks';
import { reportConnectorStatus } from '../connectors';
import {
  KINDS,
  LEDGER_ACTIONS,
  LEDGER_STATUSES,
  normalizePhone,
  QUEUE_JOBS,
  tables,
  type ConnectionAttempt,
  type LedgerRow,
  type ProviderRow,
} from './model';
import { pageQuery } from '../platform/http';

/** TEM providers: registration, webhook secrets with rotation, the service switch. */

interface StoredSecret {
  secret: string;
  createdAt: string;
  expiresAt?: string;
}

export const createProviderBody = z.object({
  name: z.string().trim().min(1).max(100),
  alertEmail: z.email().optional(),
  /** A secret the provider issued, if it insists on its own; otherwise one is generated. */
  secret: z.string().optional(),
});
export const patchProviderBody = z
  .object({
    enabled: z.boolean().optional(),
    name: z.string().trim().min(1).max(100).optional(),
    alertEmail: z.email().nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'send at least one of enabled, name, alertEmail');
export const rotateSecretBody = z.object({
  /** Hours the previous secret keeps verifying, so the provider can switch without losing events. */
  overlapHours: z.number().int().min(0).max(168).default(24),
  secret: z.string().optional(),
});

const P = 'provider';
const context = (id: string) => `tem/provider/${id}`;

function readSecrets(row: ProviderRow): StoredSecret[] {
  return JSON.parse(open(row.secrets, context(row.rowKey))) as StoredSecret[];
}
function writeSecrets(id: string, list: StoredSecret[]): string {
  return seal(JSON.stringify(list), context(id));
}

export function providerUrls(id: string) {
  const base = config().PUBLIC_BASE_URL.replace(/\/$/, '');
  return { webhookUrl: `${base}/api/tem/providers/${id}/events`, connectUrl: `${base}/api/tem/providers/${id}/connect` };
}

// The webhook reads its provider on every delivery; a short cache keeps that path to one storage
// write. Changes made here clear it at once; other instances see them within PROVIDER_CACHE_MS.
const PROVIDER_CACHE_MS = 10_000;
const providerCache = new Map<string, { row: ProviderRow; at: number }>();

/** Rows of earlier releases wrote the connection as 'Active'; every state is camelCase now. */
const upgrade = (row: ProviderRow): ProviderRow => ((row.connection as string) === 'Active' ? { ...row, connection: 'active' } : row);

/** The provider, or undefined. */
export async function findProvider(id: string): Promise<ProviderRow | undefined> {
  const row = (await tables.providers.get(P, id))?.entity;
  return row && upgrade(row);
}

export async function cachedProvider(id: string): Promise<ProviderRow | undefined> {
  const hit = providerCache.get(id);
  if (hit && clock.now() - hit.at < PROVIDER_CACHE_MS) return hit.row;
  const row = await findProvider(id);
  if (row) providerCache.set(id, { row, at: clock.now() });
  else providerCache.delete(id);
  return row;
}

export function connectionAttempts(row: ProviderRow): ConnectionAttempt[] {
  return row.attempts ? (JSON.parse(row.attempts) as ConnectionAttempt[]) : [];
}

export async function getProvider(id: string): Promise<{ entity: ProviderRow; etag: string }> {
  const row = await tables.providers.get(P, id);
  if (!row) throw notFound(`No TEM provider '${id}'.`);
  return { ...row, entity: upgrade(row.entity) };
}

/**
 * Read-modify-write of a provider row with optimistic concurrency, retried when another writer
 * (a worker recording a signal, a switch-off step) got there first.
 */
export async function updateProvider(id: string, change: (row: ProviderRow) => ProviderRow): Promise<ProviderRow> {
  const next = await tables.providers.modify(P, id, (row) => {
    if (!row) throw notFound(`No TEM provider '${id}'.`);
    return change(upgrade(row));
  });
  providerCache.delete(id);
  return next!;
}

export async function createProvider(body: z.infer<typeof createProviderBody>) {
  const id = randomUUID();
  const secret = body.secret ? normalizeSecret(body.secret) : newSecret();
  const now = clock.iso();
  await tables.providers.insert({
    partitionKey: P,
    rowKey: id,
    name: body.name,
    enabled: true,
    connection: 'notConnected',
    secrets: writeSecrets(id, [{ secret, createdAt: now }]),
    alertEmail: body.alertEmail,
    revert: 'idle',
    reverted: 0,
    createdAt: now,
  });
  return { id, secret, ...providerUrls(id) };
}

/** Secrets that verify now: the current one and retired ones still in their overlap window. */
export function activeSecrets(row: ProviderRow): string[] {
  const now = clock.now();
  return readSecrets(row)
    .filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now)
    .map((s) => s.secret);
}

export async function rotateSecret(id: string, body: z.infer<typeof rotateSecretBody>) {
  const now = clock.now();
  const secret = body.secret ? normalizeSecret(body.secret) : newSecret();
  let kept: { expiresAt: string }[] = [];
  await updateProvider(id, (row) => {
    const list = readSecrets(row)
      .filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now)
      .map((s) => ({ ...s, expiresAt: s.expiresAt ?? new Date(now + body.overlapHours * 3600_000).toISOString() }))
      .filter((s) => Date.parse(s.expiresAt) > now);
    kept = list;
    return { ...row, secrets: writeSecrets(id, [{ secret, createdAt: new Date(now).toISOString() }, ...list]) };
  });
  return { id, secret, previousSecretsValidUntil: kept.map((s) => s.expiresAt) };
}

/**
 * Switches the service off (every active block is reverted by queued jobs, signals are then recorded
 * and ignored) or on again. Changing name or alert address needs no job.
 */
export async function patchProvider(id: string, body: z.infer<typeof patchProviderBody>, by: string) {
  let switchingOff = false;
  let switchingOn = false;
  // A switch-off is a run; it is recorded before the provider names it, and dropped if none starts.
  const runId = body.enabled === false ? await createRun({ kind: 'tem.switchOff', subject: id, startedBy: by }) : undefined;
  const update = updateProvider(id, (row) => {
    if (body.name !== undefined) row.name = body.name;
    if (body.alertEmail !== undefined) row.alertEmail = body.alertEmail ?? undefined;
    switchingOff = body.enabled === false && row.enabled;
    switchingOn = body.enabled === true && !row.enabled;
    if (switchingOff)
      Object.assign(row, {
        enabled: false,
        revert: 'reverting',
        revertStartedAt: clock.iso(),
        revertFinishedAt: undefined,
        revertRunId: runId,
        reverted: 0,
      });
    // Switched on again: the last switch-off is over and its figures go with it.
    if (switchingOn)
      Object.assign(row, { enabled: true, revert: 'idle', revertStartedAt: undefined, revertFinishedAt: undefined, reverted: 0 });
    return row;
  });
  const next = await update.catch(async (e: unknown) => {
    if (runId) await discardRun(runId);
    throw e;
  });
  if (runId && !switchingOff) await discardRun(runId);
  if (switchingOff) {
    await setTotal(runId!, await countOpenBlocks(id), { ends: false }); // revertStep ends it
    await queues.send(QUEUE_JOBS, 'tem.job', { job: 'revert', providerId: id }, { key: `revert:${id}:${next.revertStartedAt}` });
  }
  if (switchingOff || switchingOn)
    await reportConnectorStatus('tem', switchingOn ? 'active' : 'disabled', `${next.name} switched ${switchingOn ? 'on' : 'off'}`);
  // A switch-off asked for again while one runs answers that run.
  const run = next.revert === 'reverting' && body.enabled === false ? next.revertRunId : undefined;
  return { provider: await describeProvider(id), runId: run };
}

/** Blocks in force or being applied: a provider's, or every provider's (the overview's open alerts). */
const openBlocks = (id?: string) =>
  id ? odata`PartitionKey eq ${id} and (active eq true or pending eq true)` : 'active eq true or pending eq true';
export const countOpenBlocks = async (id?: string) => (await tables.blocks.list(openBlocks(id))).length;

export async function describeProvider(id: string) {
  const { entity } = await getProvider(id);
  const [open, lines] = await Promise.all([
    tables.blocks.list(openBlocks(id)),
    tables.lines.list(`PartitionKey eq 'line' and ownership eq 'company'`),
  ]);
  return {
    id,
    name: entity.name,
    enabled: entity.enabled,
    connection: entity.connection,
    connectionDetail: entity.connectionDetail ?? null,
    lastConnectionAt: entity.lastConnectionAt ?? null,
    connectionAttempts: connectionAttempts(entity),
    lastSignalAt: entity.lastSignalAt ?? null,
    alertEmail: entity.alertEmail ?? null,
    corporateLines: lines.length,
    activeBlocks: open.filter((b) => b.entity.active).length,
    pendingChanges: open.filter((b) => b.entity.pending).length,
    switchOff: {
      state: entity.revert,
      startedAt: entity.revertStartedAt ?? null,
      finishedAt: entity.revertFinishedAt ?? null,
      reverted: entity.reverted,
      runId: entity.revert === 'idle' ? null : (entity.revertRunId ?? null),
      // Blocks left to revert: only a switch-off has any.
      remaining: entity.revert === 'reverting' ? open.length : 0,
    },
    ...providerUrls(id),
  };
}

/** Writes one ledger row (a decision, an action or its outcome) of a provider. */
export async function writeLedger(
  providerId: string,
  rowKey: string,
  row: Omit<LedgerRow, 'partitionKey' | 'rowKey' | 'at'>,
): Promise<void> {
  await tables.ledger.upsert({ partitionKey: providerId, rowKey, at: clock.iso(), ...row } as LedgerRow);
}

/** A page of the ledger, with the rows' own fields to filter on. */
export const ledgerQuery = pageQuery.extend({
  status: z.enum(LEDGER_STATUSES).optional(),
  action: z.enum(LEDGER_ACTIONS).optional(),
  kind: z.enum(KINDS).optional(),
  line: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const n = s === undefined ? undefined : normalizePhone(s);
      if (s !== undefined && !n) ctx.addIssue({ code: 'custom', message: 'a phone number in E.164 form, e.g. +447700900123' });
      return n;
    }),
});
export type LedgerFilter = Partial<Omit<z.infer<typeof ledgerQuery>, 'top' | 'continuationToken'>>;

/** One page of a provider's ledger (filtered) or alerts, newest first, without storage keys. */
export async function providerLog(id: string, log: 'ledger' | 'alerts', top: number, token?: string, only: LedgerFilter = {}) {
  await getProvider(id);
  const filter = [
    odata`PartitionKey eq ${id}`,
    only.status && odata`status eq ${only.status}`,
    only.action && odata`action eq ${only.action}`,
    only.kind && odata`kind eq ${only.kind}`,
    only.line && odata`line eq ${only.line}`,
  ]
    .filter(Boolean)
    .join(' and ');
  const { rows, next } = await (log === 'ledger' ? tables.ledger : tables.alerts).page(filter, top, token);
  return { value: rows.map(({ entity: { partitionKey: _p, rowKey: _r, ...rest } }) => rest), next };
}

export async function listProviders() {
  const rows = await tables.providers.list(`PartitionKey eq '${P}'`);
  return Promise.all(rows.map((r) => describeProvider(r.entity.rowKey)));
}
