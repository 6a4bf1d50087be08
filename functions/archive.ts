import { z } from 'zod';
import { accountInput, accountSchema, acceptTerms, getAccount, putAccount, setEnabled, testConnection } from '../shared/archive/account';
import { deleteMapping, getMapping, listMapping, mappingRowSchema, mappingSchema, putMapping } from '../shared/archive/mapping';
import { httpFunction, queueFunction, timerFunction } from '../shared/platform/app';
import { unsupportedMediaType } from '../shared/platform/errors';
import { pageBody, pageOf, pageQuery } from '../shared/platform/http';
import { accepted, acceptedRun, startedBy } from '../shared/platform/runs';
import {
  failures,
  failuresCsv,
  importEnabled,
  importMessage,
  purgeImports,
  QUEUE_IMPORT,
  QUEUE_TALLY,
  requestImport,
  requestReplay,
  runImportStep,
} from '../shared/archive/importer';

/** The network archive: the provider account (connect, terms, test, on and off) and the user mapping. */
const tags = ['archive'];
const read = 'Archive.Read' as const;
const write = 'Archive.ReadWrite' as const;
const noAccount = { description: 'No provider account is registered yet.' };

httpFunction('archiveAccount', {
  method: 'GET',
  route: 'admin/archive/account',
  auth: read,
  doc: {
    summary: 'The archive provider account: network, URL, sign-in kind (never the secret), terms, connection test, on or off',
    tags,
    responses: { 200: { description: 'The account.', schema: accountSchema }, 404: noAccount },
  },
  handler: async () => ({ status: 200, body: await getAccount() }),
});

httpFunction('archiveAccountPut', {
  method: 'PUT',
  route: 'admin/archive/account',
  auth: write,
  body: accountInput,
  doc: {
    summary: 'Register the provider account, or replace its details (username and password, or an API key)',
    description: 'The secret is sealed at rest and never answered. New details switch the import off until a connection test passes.',
    tags,
    responses: { 200: { description: 'Registered.', schema: accountSchema }, 400: { description: 'Invalid; nothing changed.' } },
  },
  handler: async ({ body, principal }) => ({ status: 200, body: await putAccount(body, startedBy(principal)) }),
});

httpFunction('archiveTerms', {
  method: 'POST',
  route: 'admin/archive/terms',
  auth: write,
  body: z.object({ accept: z.literal(true, 'send {"accept": true} to accept the terms of service') }).strict(),
  doc: {
    summary: 'Accept the terms of service of the archive connector (who and when are recorded)',
    tags,
    responses: { 200: { description: 'Accepted.', schema: accountSchema }, 404: noAccount },
  },
  handler: async ({ principal }) => ({ status: 200, body: await acceptTerms(startedBy(principal)) }),
});

httpFunction('archiveAccountTest', {
  method: 'POST',
  route: 'admin/archive/account/test',
  auth: write,
  doc: {
    summary: 'Test the connection: sign in to the provider with the stored details; the outcome is recorded',
    tags,
    responses: { 200: { description: 'Tested: connection.state says how it went.', schema: accountSchema }, 404: noAccount },
  },
  handler: async ({ principal }) => ({ status: 200, body: await testConnection(startedBy(principal)) }),
});

httpFunction('archiveAccountPatch', {
  method: 'PATCH',
  route: 'admin/archive/account',
  auth: write,
  body: z.object({ enabled: z.boolean() }).strict(),
  doc: {
    summary: 'Switch the import on (terms accepted and a passing connection test first) or off',
    tags,
    responses: {
      200: { description: 'Switched.', schema: accountSchema },
      404: noAccount,
      409: { description: 'Terms not accepted, or no passing connection test.' },
    },
  },
  handler: async ({ body, principal }) => ({ status: 200, body: await setEnabled(body.enabled, startedBy(principal)) }),
});

httpFunction('archiveMapping', {
  method: 'GET',
  route: 'admin/archive/mapping',
  auth: read,
  doc: {
    summary: 'The custom user mapping in use: version, rows, who uploaded it and when',
    tags,
    responses: { 200: { description: 'The mapping.', schema: mappingSchema } },
  },
  handler: async () => ({ status: 200, body: await getMapping() }),
});

httpFunction('archiveMappingRows', {
  method: 'GET',
  route: 'admin/archive/mapping/rows',
  auth: read,
  query: pageQuery,
  doc: {
    summary: 'The rows of the mapping in use: mobile number, mailbox and the Microsoft 365 user it resolved to',
    tags,
    responses: { 200: { description: 'One page of rows; nextLink while there are more.', schema: pageOf(mappingRowSchema) } },
  },
  handler: async ({ query, url }) => ({ status: 200, body: pageBody(await listMapping(query.top, query.continuationToken), url) }),
});

httpFunction('archiveMappingPut', {
  method: 'PUT',
  route: 'admin/archive/mapping',
  auth: write,
  rawBody: true,
  doc: {
    summary: 'Upload the custom user mapping (text/csv, header "External User ID,Microsoft 365 User Mailbox")',
    description:
      'Checked whole before it replaces the mapping in use: each number in international form without "+", once; each mailbox a Microsoft 365 user of the tenant. A bad file changes nothing and the 400 lists every problem by line (errors[].field = "line N").',
    tags,
    responses: {
      200: { description: 'In use.', schema: mappingSchema },
      400: { description: 'The file has problems (listed in errors); nothing changed.' },
      415: { description: 'Not text/csv.' },
    },
  },
  handler: async ({ rawBody, headers, principal }) => {
    const type = (headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'text/csv') throw unsupportedMediaType(`Send the mapping as text/csv (got ${type ? `'${type}'` : 'no Content-Type'}).`);
    return { status: 200, body: await putMapping(rawBody, startedBy(principal)) };
  },
});

httpFunction('archiveMappingDelete', {
  method: 'DELETE',
  route: 'admin/archive/mapping',
  auth: write,
  doc: {
    summary: 'Stop using a custom mapping: participants are mapped by their email address only',
    tags,
    responses: { 204: { description: 'Removed.' } },
  },
  handler: async ({ principal }) => {
    await deleteMapping(startedBy(principal));
    return { status: 204 };
  },
});

/* ---------- the import ---------- */

const instant = z.iso.datetime({ offset: true });
const importInput = z
  .object({
    from: instant.optional().describe('A backfill: the start of the window (with to).'),
    to: instant.optional().describe('A backfill: the end of the window, exclusive.'),
  })
  .strict()
  .refine((w) => (w.from === undefined) === (w.to === undefined), { message: 'send from and to together, or neither', path: ['to'] })
  .refine((w) => !w.from || !w.to || Date.parse(w.from) < Date.parse(w.to), { message: 'from must be before to', path: ['to'] })
  .refine((w) => !w.from || !w.to || Date.parse(w.to) - Date.parse(w.from) <= 31 * 86_400_000, {
    message: 'a backfill covers at most 31 days',
    path: ['to'],
  });

httpFunction('archiveImport', {
  method: 'POST',
  route: 'admin/archive/import',
  auth: write,
  body: importInput,
  doc: {
    summary: 'Import now: from the last completed import to now (as the timer does), or a backfill of {from, to}',
    description:
      'Answers the run to follow (Location). Its counters are those of Purview\u2019s admin log: itemsAvailableFromSource, itemsAvailableForImport (one copy per participant), imported, partiallyImported, skipped (duplicates), failed; imported + partiallyImported + skipped + failed = itemsAvailableForImport. One import runs at a time; a request while one is queued joins it.',
    tags,
    responses: {
      202: { description: 'Queued, or joined an import not yet started.', schema: acceptedRun.extend({ joined: z.boolean() }) },
      400: { description: 'A bad window.' },
      409: { description: 'No provider account, or no passing connection test.' },
    },
  },
  handler: async ({ body, principal }) => {
    const { id, joined } = await requestImport(startedBy(principal), body.from && body.to ? { from: body.from, to: body.to } : undefined);
    return accepted(id, { joined });
  },
});

const failure = z.object({
  itemId: z.string(),
  sourceUser: z.string().nullable().describe('The participant\u2019s mobile number.'),
  mailbox: z.string().nullable().describe('The Microsoft 365 mailbox, when the participant was mapped.'),
  reason: z.string(),
});

httpFunction('archiveImportFailures', {
  method: 'GET',
  route: 'admin/archive/import/{id}/failures',
  auth: read,
  params: z.object({ id: z.string().min(1).max(64) }),
  doc: {
    summary: 'The failed copies of an import: item id, source user, Microsoft 365 user, reason',
    tags,
    responses: { 200: { description: 'The failed copies.', schema: z.object({ value: z.array(failure) }) } },
  },
  handler: async ({ params }) => ({ status: 200, body: { value: await failures(params.id) } }),
});

httpFunction('archiveImportFailuresCsv', {
  method: 'GET',
  route: 'admin/archive/import/{id}/failures.csv',
  auth: read,
  params: z.object({ id: z.string().min(1).max(64) }),
  doc: {
    summary: 'The failed copies of an import as a CSV file, with the columns of Purview\u2019s admin log',
    tags,
    responses: {
      200: { description: 'Item id, Source User ID, M365 User ID, Failure Reason.', schema: z.string(), contentType: 'text/csv' },
    },
  },
  handler: async ({ params }) => ({
    status: 200,
    headers: {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="archive-failures-${params.id}.csv"`,
    },
    body: await failuresCsv(params.id),
  }),
});

httpFunction('archiveImportReplay', {
  method: 'POST',
  route: 'admin/archive/import/{id}/replay',
  auth: write,
  params: z.object({ id: z.string().min(1).max(64) }),
  doc: {
    summary: 'Import again the items an import failed on (after raising a mailbox limit or fixing the mapping), from their staged copies',
    description:
      'A new run (subject replay:<id>): copies that landed meanwhile count as skipped, the rest are imported or fail again with their reason.',
    tags,
    responses: {
      202: { description: 'Queued.', schema: acceptedRun.extend({ joined: z.boolean() }) },
      404: { description: 'No such run.' },
      409: { description: 'Not an archive import, still running, or nothing failed.' },
    },
  },
  handler: async ({ params, principal }) => {
    const { id, joined } = await requestReplay(startedBy(principal), params.id);
    return accepted(id, { joined });
  },
});

timerFunction('archiveNightlyImport', {
  schedule: '%ARCHIVE_IMPORT_SCHEDULE%',
  handler: async ({ log }) => {
    log.info('Expired archive records and staged copies purged', await purgeImports());
    if (!(await importEnabled())) return log.info('Archive import is switched off; nothing imported');
    log.info('Archive import queued', await requestImport(startedBy()));
  },
});

queueFunction('archiveImportWorker', {
  queue: QUEUE_IMPORT,
  schema: importMessage,
  handler: async ({ data }, delivery) => runImportStep(data, delivery),
});

queueFunction('archiveTallyWorker', {
  queue: QUEUE_TALLY,
  schema: importMessage,
  handler: async ({ data }, delivery) => runImportStep(data, delivery),
});
