import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { allManagedDevices, listManagedDevices, readManagedDevice, type ManagedDevice, type Read } from '../graph/objects';
import { clock } from '../platform/clock';
import { badRequest, notFound } from '../platform/errors';
import { normalizePhone, tables, type BlockRow, type LineRow } from './model';

/**
 * Corporate lines: managed devices that are company-owned and have a phone number. A scheduled sync
 * reads them from Intune; admins can add or remove lines by hand. Personal devices are recorded too,
 * only so that a signal for one can be ignored with that reason.
 */
const L = 'line';

const FIELDS = ['deviceName', 'phoneNumber', 'operatingSystem', 'userPrincipalName', 'azureADDeviceId', 'managedDeviceOwnerType'] as const;
type LineDevice = Read<ManagedDevice, (typeof FIELDS)[number]>;

function toLine(d: LineDevice, number: string, source: LineRow['source']): LineRow {
  return {
    partitionKey: L,
    rowKey: number,
    managedDeviceId: d.id,
    azureADDeviceId: d.azureADDeviceId ?? undefined,
    deviceName: d.deviceName ?? undefined,
    operatingSystem: d.operatingSystem ?? undefined,
    userPrincipalName: d.userPrincipalName ?? undefined,
    ownership: d.managedDeviceOwnerType === 'company' ? 'company' : d.managedDeviceOwnerType === 'personal' ? 'personal' : 'unknown',
    source,
    updatedAt: clock.iso(),
  };
}

/** Reads every managed device with a phone number; removes synced lines that are gone. */
export async function syncLines(): Promise<{ lines: number; corporate: number; removed: number }> {
  const seen = new Set<string>();
  const rows: LineRow[] = [];
  for await (const d of listManagedDevices(FIELDS)) {
    const number = d.phoneNumber ? normalizePhone(d.phoneNumber) : undefined;
    if (!number || seen.has(number)) continue;
    seen.add(number);
    rows.push(toLine(d, number, 'sync'));
  }
  const manual = new Set((await tables.lines.list(`PartitionKey eq '${L}' and source eq 'manual'`)).map((r) => r.entity.rowKey));
  await tables.lines.writeMany(rows.filter((r) => !manual.has(r.rowKey)).map((entity) => ({ kind: 'upsert' as const, entity })));
  const stale = (await tables.lines.list(`PartitionKey eq '${L}' and source eq 'sync'`)).filter((r) => !seen.has(r.entity.rowKey));
  await tables.lines.writeMany(stale.map((r) => ({ kind: 'delete' as const, partitionKey: L, rowKey: r.entity.rowKey })));
  return { lines: rows.length, corporate: rows.filter((r) => r.ownership === 'company').length, removed: stale.length };
}

/** Why a device cannot have a corporate line, or undefined when it can. */
const notCorporate = (d: LineDevice) =>
  d.managedDeviceOwnerType === 'company'
    ? undefined
    : `Device '${d.deviceName ?? d.id}' is ${d.managedDeviceOwnerType ?? 'of unknown ownership'}; only company-owned devices can have corporate lines.`;

/** Every managed device, and whether a line can be added for it (the reason a request would be refused when not). */
export async function listLineDevices() {
  return (await allManagedDevices(FIELDS))
    .map((d) => ({
      id: d.id,
      deviceName: d.deviceName ?? d.id,
      userPrincipalName: d.userPrincipalName ?? null,
      phoneNumber: (d.phoneNumber && normalizePhone(d.phoneNumber)) || null,
      eligible: !notCorporate(d),
      reason: notCorporate(d) ?? null,
    }))
    .sort((a, b) => a.deviceName.localeCompare(b.deviceName));
}

export const lineDeviceSchema = z.object({
  id: z.string(),
  deviceName: z.string(),
  userPrincipalName: z.string().nullable(),
  phoneNumber: z.string().nullable().describe('The number Intune reports, in E.164 form.'),
  eligible: z.boolean().describe('Company-owned: a line can be added for it.'),
  reason: z.string().nullable().describe('Why a line cannot be added, as POST /api/admin/tem/lines would answer.'),
});

export const addLineBody = z.object({ phoneNumber: z.string(), managedDeviceId: z.string().min(1) });

/** Adds a line by hand for a company-owned managed device (e.g. a SIM Intune does not report). */
export async function addLine(body: z.infer<typeof addLineBody>) {
  const number = normalizePhone(body.phoneNumber);
  if (!number) throw badRequest('phoneNumber must be in E.164 form, e.g. +447700900123.');
  const device = await readManagedDevice(body.managedDeviceId, FIELDS);
  if (!device) throw badRequest(`No managed device '${body.managedDeviceId}' in Intune.`);
  const refused = notCorporate(device);
  if (refused) throw badRequest(refused);
  const row = toLine(device, number, 'manual');
  await tables.lines.upsert(row);
  return lineView(
    row,
    (await tables.blocks.list(odata`active eq true and line eq ${number}`)).map((b) => b.entity),
  );
}

export async function removeLine(phoneNumber: string): Promise<void> {
  const number = normalizePhone(phoneNumber);
  if (!number || !(await tables.lines.get(L, number))) throw notFound(`No line ${phoneNumber}.`);
  await tables.lines.delete(L, number);
}

export async function findLine(number: string): Promise<LineRow | undefined> {
  return (await tables.lines.get(L, number))?.entity;
}

const lineView = (l: LineRow, active: BlockRow[]) => ({
  phoneNumber: l.rowKey,
  managedDeviceId: l.managedDeviceId,
  deviceName: l.deviceName ?? null,
  operatingSystem: l.operatingSystem ?? null,
  userPrincipalName: l.userPrincipalName ?? null,
  ownership: l.ownership,
  monitored: l.ownership === 'company',
  source: l.source,
  blocks: active
    .filter((b) => b.line === l.rowKey)
    .map((b) => ({ providerId: b.partitionKey, kind: b.kind, since: b.since ?? b.updatedAt })),
});

export const lineSchema = z.object({
  phoneNumber: z.string(),
  managedDeviceId: z.string(),
  deviceName: z.string().nullable(),
  operatingSystem: z.string().nullable(),
  userPrincipalName: z.string().nullable(),
  ownership: z.enum(['company', 'personal', 'unknown']),
  monitored: z.boolean().describe('Only company-owned lines are acted on.'),
  source: z.enum(['sync', 'manual']),
  blocks: z.array(z.object({ providerId: z.string(), kind: z.enum(['data', 'roaming']), since: z.string() })),
});

export async function listLines() {
  const [lines, blocks] = await Promise.all([tables.lines.list(`PartitionKey eq '${L}'`), tables.blocks.list('active eq true')]);
  const active = blocks.map((b) => b.entity);
  return lines.map(({ entity: l }) => lineView(l, active));
}
