import { clock } from '../platform/clock';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { newestFirst } from '../platform/storage/tables';
import { getConnection } from './connection';
import { tables, type SessionRow } from './model';
import { teamViewerApi } from './teamviewer';

/**
 * The report sync (a timer, and on demand): TeamViewer's connection reports joined to the sessions
 * they belong to (start, end, minutes, supporter), the state of the sessions TeamViewer closed, and
 * requests cut short between the record and TeamViewer's answer settled from TeamViewer's session
 * list (each session carries its record's id in custom_api). It looks back SYNC_DAYS: a session
 * code is valid for 24 hours unless told otherwise.
 */
const SYNC_DAYS = 3;
/** A request still `requesting` after this long was cut short: the sync settles it. */
const CUT_SHORT_MS = 2 * 60_000;

interface TvListed {
  code: string;
  state: string;
  created_at?: string;
  custom_api?: string;
  supporter_link?: string;
  valid_until?: string;
  closed_at?: string;
}
interface TvConnection {
  id: string;
  username?: string;
  start_date: string;
  end_date?: string | null;
  session_code?: string;
}

export interface SyncOutcome {
  sessions: number;
  connections: number;
  settled: number;
  closed: number;
}

export async function syncReports(log: Logger): Promise<SyncOutcome> {
  const out: SyncOutcome = { sessions: 0, connections: 0, settled: 0, closed: 0 };
  if ((await getConnection()).state !== 'connected') {
    log.info('TeamViewer is not connected; no reports synced');
    return out;
  }
  const since = clock.now() - SYNC_DAYS * 86_400_000;
  // Newest first: the row keys run backwards in time.
  const rows = (await tables.sessions.list(`PartitionKey eq 'session' and RowKey le '${newestFirst(since)}'`)).map((r) => r.entity);
  out.sessions = rows.length;
  const byId = new Map(rows.map((r) => [r.rowKey, r]));
  const byCode = new Map(rows.filter((r) => r.code).map((r) => [r.code!, r]));
  // What TeamViewer says about each of our records: its session, its connections.
  const said = new Map<string, { session?: TvListed; connections: TvConnection[] }>();
  const about = (row: SessionRow) => said.get(row.rowKey) ?? said.set(row.rowKey, { connections: [] }).get(row.rowKey)!;

  // The sessions, newest first, until they are older than the window.
  let offset: string | undefined;
  for (;;) {
    const page = await teamViewerApi<{ sessions: TvListed[]; next_offset?: string; sessions_remaining?: number }>('GET', '/sessions', {
      log,
      query: { state: 'open,closed', full_list: 'true', offset },
    });
    for (const s of page.sessions) {
      const row = (s.custom_api && byId.get(s.custom_api)) || byCode.get(s.code);
      if (!row) continue;
      about(row).session = s;
      byCode.set(s.code, row);
    }
    const oldest = page.sessions.at(-1)?.created_at;
    if (!page.next_offset || !page.sessions_remaining || (oldest && Date.parse(oldest) < since)) break;
    offset = page.next_offset;
  }
  // Connection reports with a session code, from the window's start, paged by offset_id.
  let after: string | undefined;
  for (;;) {
    const page = await teamViewerApi<{ records: TvConnection[]; next_offset?: string; records_remaining?: number }>(
      'GET',
      '/reports/connections',
      {
        log,
        query: { has_code: 'true', from_date: new Date(since).toISOString().replace(/\.\d{3}Z$/, 'Z'), offset_id: after },
      },
    );
    for (const c of page.records) {
      const row = c.session_code ? byCode.get(c.session_code) : undefined;
      if (row) about(row).connections.push(c);
    }
    if (!page.records_remaining || !page.next_offset) break;
    after = page.next_offset;
  }
  // Each record changed as its current version and TeamViewer's word say (an admin may close one meanwhile).
  for (const row of rows) {
    const word = said.get(row.rowKey) ?? { connections: [] };
    if (!word.session && !word.connections.length && row.outcome !== 'requesting') continue;
    let change: keyof SyncOutcome | undefined;
    await tables.sessions.modify(row.partitionKey, row.rowKey, (r) => {
      const next = r && reconcile(r, word.session, word.connections);
      change = next?.change;
      return next?.row;
    });
    if (change) out[change]++;
    if (word.connections.length) out.connections += word.connections.length;
  }
  log.info('TeamViewer reports synced', { ...out, group: config().TEAMVIEWER_GROUP_NAME });
  return out;
}

/** A record brought in line with TeamViewer; undefined when nothing changes. */
function reconcile(
  r: SessionRow,
  s: TvListed | undefined,
  connections: TvConnection[],
): { row: SessionRow; change?: 'settled' | 'closed' } | undefined {
  const row = { ...r };
  let change: 'settled' | 'closed' | undefined;
  const cutShort = clock.now() - Date.parse(row.requestedAt) > CUT_SHORT_MS;
  if (s && ((row.outcome === 'requesting' && cutShort) || (row.outcome === 'failed' && !row.code))) {
    Object.assign(row, { outcome: 'open', code: s.code, supporterLink: s.supporter_link, validUntil: s.valid_until, reason: undefined });
    change = 'settled';
  } else if (!s && row.outcome === 'requesting' && cutShort) {
    Object.assign(row, { outcome: 'failed', reason: 'The request was cut short before TeamViewer created a session.' });
    change = 'settled';
  }
  if (s && row.outcome === 'open' && s.state.toLowerCase() === 'closed') {
    Object.assign(row, { outcome: 'closed', closedAt: s.closed_at ?? clock.iso(), closedBy: 'teamviewer' });
    change ??= 'closed';
  }
  const known = new Map((row.connections ? (JSON.parse(row.connections) as Joined[]) : []).map((c) => [c.id, c]));
  for (const c of connections) {
    const end = c.end_date ?? null;
    known.set(c.id, {
      id: c.id,
      supporter: c.username ?? null,
      start: c.start_date,
      end,
      minutes: end ? Math.round((Date.parse(end) - Date.parse(c.start_date)) / 60_000) : null,
    });
  }
  const joined = known.size ? JSON.stringify([...known.values()].sort((a, b) => a.start.localeCompare(b.start))) : undefined;
  if (joined !== r.connections) row.connections = joined;
  return change || joined !== r.connections ? { row, change } : undefined;
}

interface Joined {
  id: string;
  supporter: string | null;
  start: string;
  end: string | null;
  minutes: number | null;
}
