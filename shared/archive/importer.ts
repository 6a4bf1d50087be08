import { setTimeout as sleep } from 'node:timers/promises';
import { odata } from '@azure/data-tables';
import { z } from 'zod';
import { reportConnectorStatus } from '../connectors';
import { graph, GraphApiError } from '../graph/client';
import { attachFile, createImported, ensureMailFolder, findImported, importCost, listAttachmentNames, sentWithItem } from '../graph/mail';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import { AppError, conflict } from '../platform/errors';
import { csvFile } from '../platform/http';
import type { Logger } from '../platform/log';
import { forEachLimit } from '../platform/pool';
import { endRun, getRun, inQueuedRun, listRuns, queueRun, RUN_WAIT_SECONDS, setOutcome, setProgress, setTotal } from '../platform/runs';
import { queues, type Delivery } from '../platform/storage/queues';
import { sourceOf } from './account';
import { importKey, participants, resolve, toMail, type Directory } from './convert';
import { directory as tenantUsers } from './mapping';
import { ACCOUNT_KEY, CHECKPOINT_KEY, MAPPING_META, mappingPartition, sourceItem, tables, type CopyOutcome } from './model';
import { openStaged, stagedItem, stageItem, staging } from './staging';

/**
 * The import: one run (platform/runs.ts) per window of time. A plan step reads the provider's items
 * a page at a time and queues one message per item; each item is staged, converted and imported
 * into every mapped participant's mailbox (one copy each, found again by its import key); a tally
 * step counts the item records until all are done, then ends the run with Purview's counters and,
 * for a scheduled or on-demand run, moves the checkpoint to the window's end. A run that fails
 * leaves the checkpoint where it was, so the next run covers the missed window too.
 */

export const QUEUE_IMPORT = 'archive-import';
/** Tallies have their own queue: on the import queue they would wait behind every item's message, and a run would show no progress until its last items. */
export const QUEUE_TALLY = 'archive-tally';
const LIMIT_MS = 30 * 60 * 1000;
const TALLY_SECONDS = 3;
/** With this few items left, the tally watches them for a while (reading each every NEAR_END_POLL_MS), then looks again every second. */
const NEAR_END_ITEMS = 20;
const NEAR_END_WAIT_MS = 10_000;
const NEAR_END_POLL_MS = 200;
/** A mailbox that will not have room for a copy within this long defers the item instead of waiting. */
const DEFER_AFTER_MS = 4000;
const KIND = 'archive.import';

export const importMessage = z.discriminatedUnion('step', [
  z.object({
    step: z.literal('plan'),
    runId: z.string(),
    /** A backfill's window; a scheduled or on-demand run plans from the checkpoint to now. */
    window: z.object({ from: z.iso.datetime(), to: z.iso.datetime() }).optional(),
    backfill: z.boolean(),
    cursor: z.string().optional(),
    /** A replay: the failed items of this run, from their staged copies. */
    replayOf: z.string().optional(),
  }),
  z.object({ step: z.literal('item'), runId: z.string(), item: sourceItem }),
  z.object({ step: z.literal('tally'), runId: z.string() }),
]);
export type ImportMessage = z.infer<typeof importMessage>;

const send = (m: ImportMessage, key: string, delaySeconds?: number) =>
  queues.send(m.step === 'tally' ? QUEUE_TALLY : QUEUE_IMPORT, `archive.${m.step}`, m, { key, delaySeconds });
const runPartition = (runId: string) => `run|${runId}`;
/** A run's marks (copies it is making, participants it logged as unmapped), apart from its item records. */
const markPartition = (runId: string) => `mark|${runId}`;

/** Asks for an import: of a given window (a backfill), or from the checkpoint to now. */
export async function requestImport(by: string, window?: { from: string; to: string }): Promise<{ id: string; joined: boolean }> {
  const account = (await tables.account.get(...ACCOUNT_KEY))?.entity;
  if (!account) throw conflict('Register the provider account first (PUT /api/admin/archive/account).');
  if (account.connection !== 'connected') throw conflict('Test the connection first (POST /api/admin/archive/account/test); it must pass.');
  // A request joins a queued run of the same window only (the scheduled window is "to now").
  const subject = window ? `backfill:${window.from}/${window.to}` : undefined;
  return queueRun({ kind: KIND, startedBy: by, limitMs: LIMIT_MS, subject }, (runId) =>
    send({ step: 'plan', runId, window, backfill: !!window }, `${runId}|plan`),
  );
}

/** Imports again the items a run failed to import (after a fix: a mapping, a mailbox limit), from their staged copies. */
export async function requestReplay(by: string, of: string): Promise<{ id: string; joined: boolean }> {
  const run = await getRun(of);
  if (run.kind !== KIND) throw conflict(`Run '${of}' is not an archive import.`);
  if (run.state === 'queued' || run.state === 'running') throw conflict(`Run '${of}' is still ${run.state}; replay it once it has ended.`);
  if (!(await failures(of)).length) throw conflict(`Run '${of}' has no failed items to replay.`);
  return queueRun({ kind: KIND, startedBy: by, limitMs: LIMIT_MS, subject: `replay:${of}` }, (runId) =>
    send({ step: 'plan', runId, backfill: true, replayOf: of }, `${runId}|plan`),
  );
}

/** Whether the admin has switched the import on (the timer imports only then). */
export async function importEnabled(): Promise<boolean> {
  return !!(await tables.account.get(...ACCOUNT_KEY))?.entity.enabled;
}

/** The window a run covers: its own, or from the checkpoint (24 hours back when there is none) to now. */
async function windowOf(m: Extract<ImportMessage, { step: 'plan' }>): Promise<{ from: string; to: string }> {
  if (m.window) return m.window;
  const checkpoint = (await tables.checkpoint.get(...CHECKPOINT_KEY))?.entity.completedTo;
  const to = clock.iso();
  return { from: checkpoint ?? new Date(clock.now() - 86_400_000).toISOString(), to };
}

export async function runImportStep(m: ImportMessage, delivery: Delivery): Promise<void> {
  if (m.step === 'plan' && !m.cursor) {
    // The first page begins the run; later pages and items carry on under it.
    const ran = await inQueuedRun(
      m.runId,
      {
        limitMs: LIMIT_MS,
        resend: () => send(m, `${m.runId}|plan|${clock.now()}`, RUN_WAIT_SECONDS),
        finalDelivery: delivery.finalDelivery,
        ends: false,
      },
      async () => {
        if (m.replayOf) return await planReplay(m.runId, m.replayOf, delivery.log);
        const window = await windowOf(m);
        await setOutcome(m.runId, { window, backfill: m.backfill });
        await planPage({ ...m, window }, delivery.log);
      },
    );
    if (ran !== 'ran')
      delivery.log.info(`Archive import ${ran === 'waiting' ? 'waits for the one running' : 'already over'}`, { runId: m.runId });
    return;
  }
  const run = await getRun(m.runId).catch(() => undefined);
  if (!run || (run.state !== 'running' && run.state !== 'queued'))
    return delivery.log.info('Archive step of an ended run dropped', { runId: m.runId });
  try {
    if (m.step === 'plan') await planPage(m, delivery.log);
    else if (m.step === 'item') await importItem(m.runId, m.item, delivery.log);
    else await tally(m.runId, delivery.log);
  } catch (e) {
    // A plan page or a tally given up on fails the run (the checkpoint stays; nothing would end it
    // otherwise); an item given up on is recorded as failed.
    if (delivery.finalDelivery && m.step !== 'item') await endRun(m.runId, { error: (e as Error).message });
    if (delivery.finalDelivery && m.step === 'item') await recordItem(m.runId, m.item.id, [], (e as Error).message);
    throw e;
  }
}

/** A replay's plan: the failed items of the earlier run, read back from staging. */
async function planReplay(runId: string, of: string, log: Logger): Promise<void> {
  const earlier = await getRun(of);
  await setOutcome(runId, { ...(earlier.outcome as object), backfill: true, replayOf: of });
  const ids = [...new Set((await failures(of)).map((f) => f.itemId))];
  const dir = await directoryFor(runId);
  let planned = 0;
  for (const id of ids) {
    const item = await stagedItem(id);
    if (!item) {
      log.warn('A failed item was never staged; import its window again instead', { runId, itemId: id });
      continue;
    }
    await tables.items.upsert(
      { partitionKey: runPartition(runId), rowKey: id, type: item.type, at: item.timestampUtc, bytes: attachmentBytes(item) },
      'merge',
    );
    await queueItem(runId, item, dir);
    planned++;
  }
  await setTotal(runId, planned, { ends: false });
  await send({ step: 'tally', runId }, `${runId}|tally|${clock.now()}`, TALLY_SECONDS);
  log.info('Archive replay planned', { runId, of, items: planned });
}

/** One page of the window: a record and a message per item, then the next page, or the tally. */
async function planPage(m: Extract<ImportMessage, { step: 'plan' }>, log: Logger): Promise<void> {
  const [account, dir] = await Promise.all([tables.account.get(...ACCOUNT_KEY), directoryFor(m.runId)]);
  const window = m.window!;
  const page = await sourceOf(account!.entity).listItems(window, m.cursor);
  // The records and the item messages side by side: a record is merged, so one an item step already
  // finished keeps its outcome.
  await Promise.all([
    tables.items.writeMany(
      page.items.map((i) => ({
        kind: 'upsert' as const,
        mode: 'merge' as const,
        entity: { partitionKey: runPartition(m.runId), rowKey: i.id, type: i.type, at: i.timestampUtc, bytes: attachmentBytes(i) },
      })),
      4,
    ),
    forEachLimit(page.items, 16, (item) => queueItem(m.runId, item, dir)),
  ]);
  if (page.nextCursor) {
    await send({ ...m, cursor: page.nextCursor }, `${m.runId}|plan|${page.nextCursor}`);
    return;
  }
  const total = (await tables.items.list(odata`PartitionKey eq ${runPartition(m.runId)}`)).length;
  await setTotal(m.runId, total, { ends: false });
  await send({ step: 'tally', runId: m.runId }, `${m.runId}|tally|${clock.now()}`, TALLY_SECONDS);
  log.info('Archive import planned', { runId: m.runId, items: total, window });
}

/** The directory an item is mapped with: the custom mapping in use and the tenant's users (read once per run and instance). */
const directories = new Map<string, Promise<Directory>>();
function directoryFor(runId: string): Promise<Directory> {
  let d = directories.get(runId);
  if (!d) {
    d = (async () => {
      const [account, meta, users] = await Promise.all([
        tables.account.get(...ACCOUNT_KEY),
        tables.mappingMeta.get(...MAPPING_META),
        tenantUsers(),
      ]);
      const version = meta?.entity.version;
      const rows = version ? await tables.mapping.list(odata`PartitionKey eq ${mappingPartition(version)}`) : [];
      return {
        csv: new Map(rows.map((r) => [r.entity.rowKey, { mailbox: r.entity.mailbox, userId: r.entity.userId }])),
        users,
        autoMapping: account?.entity.autoMapping ?? true,
      };
    })();
    d.catch(() => directories.delete(runId));
    directories.set(runId, d);
    if (directories.size > 20) directories.delete(directories.keys().next().value!);
  }
  return d;
}

const folders = new Map<string, Promise<string>>();
const folderOf = (mailbox: string) => {
  let f = folders.get(mailbox);
  if (!f) {
    f = ensureMailFolder(mailbox, config().ARCHIVE_FOLDER_NAME);
    f.catch(() => folders.delete(mailbox));
    folders.set(mailbox, f);
  }
  return f;
};

/** An item as mail, and what importing one copy of it sends to a mailbox at most. */
function prepare(item: z.infer<typeof sourceItem>, dir: Directory) {
  const mail = toMail(item, dir);
  const cost = importCost(
    mail.html,
    item.attachments.map((a) => a.size),
  );
  return { mail, cost };
}

/** The mailboxes an item's copies go to. */
const mailboxesOf = (item: z.infer<typeof sourceItem>, dir: Directory) =>
  participants(item).flatMap((p) => {
    const r = resolve(p, dir);
    return 'failure' in r ? [] : [r.mailbox];
  });

/** An item's booking in its mailboxes' windows (the Graph client's throttling). */
const bookingId = (runId: string, item: z.infer<typeof sourceItem>) => `${runId}|${item.id}`;

/**
 * A queue delay (whole seconds) for work with room in `waitMs`: a second or two early, as the delay
 * is in whole seconds and the queue is polled up to a second apart; the work waits out the rest.
 */
const comeBackAfter = (waitMs: number) => Math.max(0, Math.floor(waitMs / 1000) - 1);

/**
 * Queues an item for when its mailboxes will have room for it (booked into their windows, counting
 * the items queued before it), so that it does not come only to be sent back.
 */
async function queueItem(runId: string, item: z.infer<typeof sourceItem>, dir: Directory): Promise<void> {
  const { cost } = prepare(item, dir);
  const waitMs = Math.max(0, ...mailboxesOf(item, dir).map((mailbox) => graph().throttling.book(mailbox, bookingId(runId, item), cost)));
  await send({ step: 'item', runId, item }, `${runId}|item|${item.id}`, comeBackAfter(waitMs));
}

/** Stages one item, then imports one copy into each mapped participant's mailbox. */
async function importItem(runId: string, item: z.infer<typeof sourceItem>, log: Logger): Promise<void> {
  const done = (await tables.items.get(runPartition(runId), item.id))?.entity;
  if (done?.status === 'done') return;
  await stageItem(async () => sourceOf((await tables.account.get(...ACCOUNT_KEY))!.entity), item);
  const dir = await directoryFor(runId);
  const { mail, cost } = prepare(item, dir);
  const copies: CopyOutcome[] = [];
  for (const p of participants(item)) {
    const r = resolve(p, dir);
    if ('failure' in r) {
      copies.push({ mobile: p.mobile, mailbox: null, outcome: 'failed', reason: r.failure });
      await logUnmappedOnce(runId, p.mobile, r.failure, log);
      continue;
    }
    const copy = await graph().throttling.withRoom(r.mailbox, bookingId(runId, item), cost, DEFER_AFTER_MS, () =>
      importCopy(runId, item, mail, { mobile: p.mobile, mailbox: r.mailbox, userId: r.userId }),
    );
    if (!copy.ran) {
      // Waiting for the mailbox's room would hold this worker idle: the item comes back then, and
      // other mailboxes go on meanwhile. Copies already made are found again by their key.
      await send({ step: 'item', runId, item }, `${runId}|item|${item.id}|${clock.now()}`, comeBackAfter(copy.waitMs));
      return;
    }
    copies.push(copy.value);
  }
  await recordItem(runId, item.id, copies);
}

/** One copy in one mailbox: found by its key (skipped as a duplicate, unless this run created it), else created with its attachments. */
async function importCopy(
  runId: string,
  item: z.infer<typeof sourceItem>,
  mail: ReturnType<typeof toMail>,
  to: { mobile: string; mailbox: string; userId: string },
): Promise<CopyOutcome> {
  const { mailbox, userId } = to;
  const base = { mobile: to.mobile, mailbox };
  const key = importKey(item.id, userId);
  const mine = { partitionKey: markPartition(runId), rowKey: `copy|${key}` };
  try {
    const folder = await folderOf(mailbox);
    const found = await findImported(mailbox, folder, key);
    let ours = !!found && !!(await tables.copies.get(mine.partitionKey, mine.rowKey));
    // Recorded before any change, so a retry after a crash knows the copy it finds is this run's work.
    const claim = async () => {
      if (!ours) await tables.copies.upsert({ ...mine, at: clock.iso() });
      ours = true;
    };
    const file = (a: (typeof item.attachments)[number]) => ({
      name: a.fileName,
      contentType: a.contentType,
      size: a.size,
      open: async () => (await openStaged(item.id, a.id)) as AsyncIterable<Buffer>,
    });
    let messageId = found;
    let missing = item.attachments;
    if (!messageId) {
      // Created with the attachments that fit its request; the others are attached after.
      await claim();
      const withItem = new Set(
        sentWithItem(
          mail.html,
          item.attachments.map((a) => a.size),
        ),
      );
      missing = item.attachments.filter((_, i) => !withItem.has(i));
      messageId = await createImported(mailbox, folder, {
        ...mail,
        importKey: key,
        files: [...withItem].map((i) => file(item.attachments[i])),
      });
    } else if (item.attachments.length) {
      // A copy found may have some of its attachments: an earlier run stopped by the size limit, say.
      const present = new Set(await listAttachmentNames(mailbox, folder, messageId));
      missing = item.attachments.filter((a) => !present.has(a.fileName));
    }
    // A complete copy found is a duplicate, unless this run made it; an incomplete one is completed now.
    if (!missing.length)
      return ours ? { ...base, outcome: 'imported', reason: null } : { ...base, outcome: 'skipped', reason: 'duplicate: imported before' };
    await claim();
    for (const a of missing) await attachFile(mailbox, folder, messageId, file(a));
    return { ...base, outcome: 'imported', reason: null };
  } catch (e) {
    if (e instanceof GraphApiError && e.code === 'ErrorMessageSizeExceeded')
      return { ...base, outcome: 'failed', reason: 'item size exceeded: raise the mailbox maximum receive size, then replay the import' };
    if (e instanceof GraphApiError && !e.transient) return { ...base, outcome: 'failed', reason: `${e.code}: ${e.graphMessage}` };
    throw e; // throttling, outages: the queue delivers the item again
  }
}

async function logUnmappedOnce(runId: string, mobile: string, reason: string, log: Logger): Promise<void> {
  try {
    await tables.copies.insert({ partitionKey: markPartition(runId), rowKey: `unmapped|${mobile}`, at: clock.iso() });
    log.warn('Archive participant not mapped to a Microsoft 365 user', { runId, reason });
  } catch (e) {
    if (!(e instanceof AppError && e.status === 409)) throw e; // logged by an earlier item
  }
}

async function recordItem(runId: string, itemId: string, copies: CopyOutcome[], error?: string): Promise<void> {
  await tables.items.upsert(
    {
      partitionKey: runPartition(runId),
      rowKey: itemId,
      status: 'done',
      copies: JSON.stringify(copies),
      error,
      finishedAt: clock.iso(),
    },
    'merge',
  );
}

export interface ImportCounters extends Record<string, number> {
  itemsAvailableFromSource: number;
  itemsAvailableForImport: number;
  imported: number;
  partiallyImported: number;
  skipped: number;
  failed: number;
  /** Attachment bytes of the finished items, and of all the items planned: the progress in bytes. */
  bytesDone: number;
  bytesTotal: number;
}

const attachmentBytes = (item: z.infer<typeof sourceItem>) => item.attachments.reduce((n, a) => n + a.size, 0);

/** Purview's counters and the bytes done from the item records; `done` how many items are finished, `pending` the others. */
async function counted(runId: string): Promise<{ counters: ImportCounters; done: number; pending: string[] }> {
  const all = (await tables.items.list(odata`PartitionKey eq ${runPartition(runId)}`)).map((r) => r.entity);
  const rows = all.filter((r) => r.status === 'done');
  const c: ImportCounters = {
    itemsAvailableFromSource: 0,
    itemsAvailableForImport: 0,
    imported: 0,
    partiallyImported: 0,
    skipped: 0,
    failed: 0,
    bytesDone: rows.reduce((n, r) => n + (r.bytes ?? 0), 0),
    bytesTotal: all.reduce((n, r) => n + (r.bytes ?? 0), 0),
  };
  for (const r of rows) {
    c.itemsAvailableFromSource++;
    const copies = JSON.parse(r.copies ?? '[]') as CopyOutcome[];
    if (r.error) {
      c.itemsAvailableForImport++;
      c.failed++;
      continue;
    }
    for (const copy of copies) {
      c.itemsAvailableForImport++;
      if (copy.outcome === 'imported') c.imported++;
      else if (copy.outcome === 'partial') c.partiallyImported++;
      else if (copy.outcome === 'skipped') c.skipped++;
      else c.failed++;
    }
  }
  return { counters: c, done: rows.length, pending: all.filter((r) => r.status !== 'done').map((r) => r.rowKey) };
}

/** Whether the items `pending` are all done within `ms`, each read a few times a second until it is. */
async function doneWithin(runId: string, pending: string[], ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  let left = pending;
  for (;;) {
    const rows = await Promise.all(left.map((id) => tables.items.get(runPartition(runId), id)));
    left = left.filter((_, i) => rows[i]?.entity.status !== 'done');
    if (!left.length) return true;
    if (performance.now() >= until) return false;
    await sleep(NEAR_END_POLL_MS);
  }
}

/** Counts; ends the run once every item is done, moving the checkpoint; otherwise looks again shortly. */
async function tally(runId: string, log: Logger): Promise<void> {
  const run = await getRun(runId);
  const total = run.progress.total;
  const { pending, ...first } = await counted(runId);
  let { counters, done } = first;
  await setProgress(runId, done, counters);
  // The last few items are watched here, so that the run ends as they finish rather than at the next tally.
  if (total !== null && done < total && pending.length <= NEAR_END_ITEMS && (await doneWithin(runId, pending, NEAR_END_WAIT_MS))) {
    ({ counters, done } = await counted(runId));
    await setProgress(runId, done, counters);
  }
  if (total === null || done < total) {
    const soon = total !== null && total - done <= NEAR_END_ITEMS;
    await send({ step: 'tally', runId }, `${runId}|tally|${clock.now()}`, soon ? 1 : TALLY_SECONDS);
    return;
  }
  const outcome = run.outcome as { window: { from: string; to: string }; backfill: boolean };
  const summary = total === 0 ? `No items ingested between ${outcome.window.from} and ${outcome.window.to}.` : null;
  // The checkpoint first: once the run shows as succeeded, the next one starts where it ended.
  if (!outcome.backfill)
    await tables.checkpoint.modify(...CHECKPOINT_KEY, (c) =>
      !c?.completedTo || c.completedTo < outcome.window.to
        ? { partitionKey: CHECKPOINT_KEY[0], rowKey: CHECKPOINT_KEY[1], completedTo: outcome.window.to, runId }
        : undefined,
    );
  await endRun(runId, { outcome: { ...outcome, summary } });
  await reportConnectorStatus(
    'archive',
    counters.failed ? 'warning' : 'active',
    `Last import ${clock.iso()}: ${counters.imported} imported, ${counters.skipped} skipped, ${counters.failed} failed.`,
    counters.failed
      ? 'Read why each item failed (Network archive > Imports > Show failures), fix the mapping or the mailbox, then replay them.'
      : undefined,
  );
  log.info('Archive import finished', { runId, ...counters });
}

/** Open alerts for the overview: the items the newest finished import (or replay) failed. */
export async function lastImportFailures(): Promise<number> {
  const { value } = await listRuns({ kind: KIND, top: 20 });
  const last = value.find((r) => r.state === 'succeeded' || r.state === 'failed');
  return last?.counters.failed ?? 0;
}

export interface Failure {
  itemId: string;
  sourceUser: string | null;
  mailbox: string | null;
  reason: string;
}

/** The failed copies of a run: item, source user, Microsoft 365 user, reason. */
export async function failures(runId: string): Promise<Failure[]> {
  const rows = await tables.items.list(odata`PartitionKey eq ${runPartition(runId)} and status eq ${'done'}`);
  return rows.flatMap(({ entity: r }): Failure[] => {
    if (r.error) return [{ itemId: r.rowKey, sourceUser: null, mailbox: null, reason: r.error }];
    return (JSON.parse(r.copies ?? '[]') as CopyOutcome[])
      .filter((c) => c.outcome === 'failed')
      .map((c) => ({ itemId: r.rowKey, sourceUser: c.mobile, mailbox: c.mailbox, reason: c.reason ?? '' }));
  });
}

/** The failed copies of a run as CSV, with the columns of Purview's admin log. */
export async function failuresCsv(runId: string): Promise<string> {
  const rows = (await failures(runId)).map((r) => [r.itemId, r.sourceUser, r.mailbox, r.reason]);
  return csvFile(['Item id', 'Source User ID', 'M365 User ID', 'Failure Reason'], rows);
}

/**
 * Forgets imports older than RUN_KEEP_DAYS: their item records and marks, and the staged copies not
 * written since (an item staged again by a later import stays). Returns what it deleted.
 */
export async function purgeImports(): Promise<{ records: number; staged: number }> {
  const cutoff = new Date(clock.now() - config().RUN_KEEP_DAYS * 86_400_000);
  const iso = cutoff.toISOString();
  const records =
    (await tables.items.deleteWhere(odata`PartitionKey ge ${'run|'} and PartitionKey lt ${'run|~'} and finishedAt lt ${iso}`)) +
    (await tables.copies.deleteWhere(odata`PartitionKey ge ${'mark|'} and PartitionKey lt ${'mark|~'} and at lt ${iso}`));
  return { records, staged: await staging.deleteOlderThan(cutoff) };
}
