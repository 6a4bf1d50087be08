import { odata } from '@azure/data-tables';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { listUsers } from '../graph/objects';
import { clock } from '../platform/clock';
import { badRequest } from '../platform/errors';
import { newRunId } from '../platform/runs';
import { MAPPING_META, mappingPartition, tables, type MappingRow } from './model';

/**
 * The custom user mapping: a CSV of `External User ID,Microsoft 365 User Mailbox` (a mobile number
 * in international form without '+', and a mailbox). An upload is checked whole, against the
 * tenant's users, before it replaces the mapping in use: a bad file changes nothing and says, row by
 * row, what to fix. Each upload is a new version; readers switch to it in one write.
 */

type Mapped = Pick<MappingRow, 'rowKey' | 'mailbox' | 'userId'>;

export const HEADER = ['External User ID', 'Microsoft 365 User Mailbox'] as const;
export const MAX_ROWS = 50_000;
const MOBILE = /^[1-9]\d{7,14}$/;
const EMAIL = z.email();

export const mappingSchema = z.object({
  version: z.string().nullable().describe('Null: no custom mapping; participants are mapped by their email address only.'),
  rows: z.number(),
  uploadedAt: z.string().nullable(),
  uploadedBy: z.string().nullable(),
});
export const mappingRowSchema = z.object({ externalUserId: z.string(), mailbox: z.string(), userId: z.string() });

/** The tenant's users by lower-cased mail and user principal name. */
export async function directory(): Promise<Map<string, string>> {
  const byAddress = new Map<string, string>();
  for await (const u of listUsers(['mail', 'userPrincipalName'] as const))
    for (const a of [u.mail, u.userPrincipalName]) if (a) byAddress.set(a.toLowerCase(), u.id);
  return byAddress;
}

/** Checks an uploaded CSV whole; throws a 400 listing every problem, or returns the rows. */
export async function checkMapping(csv: Buffer): Promise<Mapped[]> {
  let records: string[][];
  try {
    records = parse(csv, { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true });
  } catch (e) {
    throw badRequest(`The file is not readable as CSV: ${(e as Error).message}. Nothing changed.`);
  }
  const [header, ...rows] = records;
  if (!header || header.length !== 2 || header.some((h, i) => h.toLowerCase() !== HEADER[i].toLowerCase()))
    throw badRequest(`The first line must be the header '${HEADER.join(',')}'; got '${(header ?? []).join(',')}'. Nothing changed.`);
  if (!rows.length) throw badRequest('The file has a header and no rows; to stop using a custom mapping, DELETE it. Nothing changed.');
  if (rows.length > MAX_ROWS) throw badRequest(`The file has ${rows.length} rows; at most ${MAX_ROWS}. Nothing changed.`);
  const users = await directory();
  const problems: { field: string; message: string }[] = [];
  const seen = new Map<string, number>();
  const out: Mapped[] = [];
  rows.forEach((r, i) => {
    const line = i + 2;
    const at = (message: string) => problems.push({ field: `line ${line}`, message });
    if (r.length !== 2) return at(`expected 2 columns, got ${r.length}`);
    const [mobile, mailbox] = r;
    if (!MOBILE.test(mobile)) return at(`'${mobile}' is not a mobile number in international form without '+' (e.g. 447700900123)`);
    const first = seen.get(mobile);
    if (first) return at(`number ${mobile} appears again (first on line ${first}); keep one row per number`);
    seen.set(mobile, line);
    if (!EMAIL.safeParse(mailbox).success) return at(`'${mailbox}' is not a mailbox address`);
    const userId = users.get(mailbox.toLowerCase());
    if (!userId) return at(`no Microsoft 365 user has the mailbox '${mailbox}'`);
    out.push({ rowKey: mobile, mailbox: mailbox.toLowerCase(), userId });
  });
  if (problems.length)
    throw badRequest(
      `The mapping file has ${problems.length} problem${problems.length > 1 ? 's' : ''} in ${rows.length} rows; nothing changed. ${problems
        .slice(0, 3)
        .map((p) => `${p.field}: ${p.message}`)
        .join('; ')}${problems.length > 3 ? '; …' : ''}`,
      problems,
    );
  return out;
}

/** Replaces the mapping in use with a checked file. */
export async function putMapping(csv: Buffer, by: string) {
  const rows = await checkMapping(csv);
  const version = newRunId();
  await tables.mapping.writeMany(
    rows.map((r) => ({ kind: 'upsert' as const, entity: { ...r, partitionKey: mappingPartition(version) } })),
    4,
  );
  const now = clock.iso();
  const before = await tables.mappingMeta.modify(...MAPPING_META, (m) => ({
    ...(m ?? { partitionKey: MAPPING_META[0], rowKey: MAPPING_META[1] }),
    version,
    rows: rows.length,
    uploadedAt: now,
    uploadedBy: by,
  }));
  await dropOtherVersions(before?.version);
  return getMapping();
}

/** Stops using a custom mapping. */
export async function deleteMapping(by: string) {
  const now = clock.iso();
  await tables.mappingMeta.modify(...MAPPING_META, (m) => ({
    ...(m ?? { partitionKey: MAPPING_META[0], rowKey: MAPPING_META[1] }),
    version: undefined,
    rows: 0,
    uploadedAt: now,
    uploadedBy: by,
  }));
  await dropOtherVersions(undefined);
}

/** Deletes the rows of every version but `keep` (replaced ones, and any a crash left behind). */
async function dropOtherVersions(keep: string | undefined): Promise<void> {
  const current = keep ?? '';
  const filter = odata`PartitionKey ge ${'v|'} and PartitionKey lt ${'v|~'}`;
  const doomed = (await tables.mapping.list(filter)).filter((r) => r.entity.partitionKey !== mappingPartition(current));
  await tables.mapping.writeMany(
    doomed.map((r) => ({ kind: 'delete' as const, partitionKey: r.entity.partitionKey, rowKey: r.entity.rowKey })),
    4,
  );
}

export async function getMapping(): Promise<z.infer<typeof mappingSchema>> {
  const m = (await tables.mappingMeta.get(...MAPPING_META))?.entity;
  return {
    version: m?.version ?? null,
    rows: m?.version ? (m.rows ?? 0) : 0,
    uploadedAt: m?.uploadedAt ?? null,
    uploadedBy: m?.uploadedBy ?? null,
  };
}

/** One page of the mapping in use. */
export async function listMapping(top: number, token?: string) {
  const { version } = await getMapping();
  if (!version) return { value: [] };
  const { rows, next } = await tables.mapping.page(odata`PartitionKey eq ${mappingPartition(version)}`, top, token);
  return { value: rows.map(({ entity: r }) => ({ externalUserId: r.rowKey, mailbox: r.mailbox, userId: r.userId })), next };
}
