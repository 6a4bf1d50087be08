import { readFileSync } from 'node:fs';
import { mailSettings } from '../dev/sandbox/graph/mail';
import { mailboxLimits, mailboxThrottle } from '../dev/sandbox/graph/throttle';
import { ARCHIVE_ACCOUNT, type ArchiveItem, type Party } from '../dev/sandbox/providers/archive';
import { stableId } from '../dev/sandbox/seed';
import { adminToken, fmt, startProcess, table, type World } from './lib';

/**
 * The archive import through the local host in its own process against the sandbox.
 *
 * 1. The seeded day (SMS, MMS, calls, a 15 MB MMS and a 100 MB call recording): the host's peak
 *    resident memory while it imports (target under 256 MB: attachments stream from the provider to
 *    Blob storage and from Blob storage to Graph, never whole in memory).
 * 2. Copies and MB per second into one mailbox and into 50, beside the ceiling the sandbox's mailbox
 *    throttles allow for what the run sent (target at least 90% of it). Exchange's limits per mailbox
 *    (10,000 requests per 10 min, 150 MB of uploads per 5 min) are kept as rates, in windows 30 times
 *    shorter, so that a run of a minute or two is bound by them; for 50 mailboxes the request rate
 *    per mailbox is lowered further, to what this machine's host, Azurite and sandbox can carry for
 *    all 50 at once (printed beside the run).
 */
export async function benchArchiveImport(world: World): Promise<void> {
  await withHost(world, {}, (importDay, pid) => memoryOfTheSeededDay(world, pid, importDay));
  const rows = [];
  for (const [mailboxes, perMailbox, requests] of [
    [1, { sms: 700, mms: 120 }, { amount: 333, windowMs: 20_000 }],
    [50, { sms: 20, mms: 4 }, { amount: 12, windowMs: 20_000 }],
  ] as const) {
    // Exchange's upload rate (150 MB per 5 min) in a window 30 times shorter; a 4 MiB chunk still fits.
    const uploads = { amount: 5, windowMs: 10_000 };
    Object.assign(mailboxLimits, {
      requests: requests.amount,
      requestWindowMs: requests.windowMs,
      uploadBytes: uploads.amount * MB,
      uploadWindowMs: uploads.windowMs,
    });
    // The app is told the same limits, as it is told Outlook's in Azure.
    const settings = {
      GRAPH_MAILBOX_REQUESTS: `${requests.amount}/${requests.windowMs / 1000}`,
      GRAPH_MAILBOX_UPLOAD_MB: `${uploads.amount}/${uploads.windowMs / 1000}`,
    };
    try {
      rows.push(await withHost(world, settings, (importDay) => throughput(world, importDay, mailboxes, perMailbox)));
    } finally {
      mailboxThrottle.reset();
    }
  }
  table(
    'Archive import into mailboxes under their throttles (ceiling: the least time the limits allow for the requests and bytes each mailbox was sent)',
    rows,
  );
}

/** Runs `work` against a host process started with `settings`, connected to the sandbox's provider. */
async function withHost<T>(
  world: World,
  settings: Record<string, string>,
  work: (importDay: ImportDay, pid: number) => Promise<T>,
): Promise<T> {
  const host = await startProcess(['dist/dev/host/cli.js'], { ...world.settings, ...settings }, (p) => `http://127.0.0.1:${p}/api/health`);
  try {
    const token = await adminToken(world);
    const api = `http://127.0.0.1:${host.port}/api`;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api}/${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 400) throw new Error(`${method} ${path} answered ${res.status}: ${String(json.detail)}`);
      return json;
    };
    await call('PUT', 'admin/archive/account', { providerUrl: `${world.sandbox.origin}/archive`, apiKey: ARCHIVE_ACCOUNT.apiKey });
    await call('POST', 'admin/archive/account/test');

    /** Imports one day as a backfill; the seconds from the request to the run's end, and its counters. */
    const importDay = async (day: string) => {
      const from = `${day}T00:00:00.000Z`;
      const to = new Date(Date.parse(from) + 86_400_000).toISOString();
      const started = performance.now();
      const { runId } = (await call('POST', 'admin/archive/import', { from, to })) as { runId: string };
      let run: { state: string; counters: Record<string, number> };
      for (;;) {
        run = (await call('GET', `admin/runs/${runId}`)) as typeof run;
        if (run.state !== 'queued' && run.state !== 'running') break;
        if (performance.now() - started > 900_000) throw new Error('The archive import did not finish in 15 minutes');
        await new Promise((r) => setTimeout(r, 100));
      }
      if (run.state !== 'succeeded') throw new Error(`The archive import ended ${run.state}`);
      return { seconds: (performance.now() - started) / 1000, counters: run.counters };
    };
    return await work(importDay, host.child.pid!);
  } finally {
    await host.stop();
  }
}

type ImportDay = (day: string) => Promise<{ seconds: number; counters: Record<string, number> }>;
const MB = 1024 * 1024;
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

async function memoryOfTheSeededDay(world: World, pid: number, importDay: ImportDay): Promise<void> {
  mailSettings.maxItemBytes = 150 * MB; // mailboxes raised to Exchange's maximum, so the recording imports
  try {
    const day = daysAgo(1);
    const items = world.sandbox.archive.items.filter((i) => i.timestampUtc.startsWith(day));
    const sourceBytes = items.reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0);
    const before = peakRssMb(pid);
    const { seconds, counters: c } = await importDay(day);
    table(`Archive import of the seeded day: ${items.length} items, ${fmt(sourceBytes / MB)} MB of attachments (a 100 MB recording)`, [
      {
        copies: c.itemsAvailableForImport,
        imported: c.imported,
        failed: `${c.failed} (participants outside the tenant)`,
        seconds: fmt(seconds),
        'host peak RSS MB': `${fmt(peakRssMb(pid), 0)} (target < 256; ${fmt(before, 0)} before the import)`,
      },
    ]);
  } finally {
    mailSettings.maxItemBytes = 35 * MB;
  }
}

/**
 * One day of items, each between one of `mailboxes` people and a customer outside the company (one
 * copy per item, in its person's mailbox): SMS and MMS with a photo, spread through the day,
 * imported under the sandbox's mailbox limits as set by the caller.
 */
async function throughput(
  world: World,
  importDay: ImportDay,
  mailboxes: number,
  perMailbox: { sms: number; mms: number },
): Promise<Record<string, string | number>> {
  const day = daysAgo(mailboxes === 1 ? 3 : 4);
  const people = benchPeople(world, mailboxes);
  const items = benchDay(world, day, people, perMailbox);
  mailboxThrottle.usage.clear();
  const { seconds, counters: c } = await importDay(day);
  if (c.imported !== items.length) throw new Error(`${c.imported} of ${items.length} copies imported: ${JSON.stringify(c)}`);
  const ids = new Set(people.map((p) => p.id));
  const used = [...mailboxThrottle.usage].filter(([k]) => ids.has(k)).map(([, u]) => u);
  const requests = used.reduce((n, u) => n + u.requests, 0);
  const bytes = used.reduce((n, u) => n + u.bytes, 0);
  // A sliding window admits at most its budget: n requests need ceil(n / budget) windows, the last begun after the others.
  const least = (n: number, budget: number, windowMs: number) => ((Math.ceil(n / budget) - 1) * windowMs) / 1000;
  const ceiling = Math.max(
    ...used.map((u) =>
      Math.max(
        least(u.requests, mailboxLimits.requests, mailboxLimits.requestWindowMs),
        least(u.bytes, mailboxLimits.uploadBytes, mailboxLimits.uploadWindowMs),
      ),
    ),
  );
  const attachmentMb = items.reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0) / MB;
  const throttled = used.reduce((n, u) => n + u.throttled, 0);
  return {
    mailboxes,
    'limits per mailbox': `${mailboxLimits.requests} req / ${mailboxLimits.requestWindowMs / 1000} s, ${mailboxLimits.uploadBytes / MB} MB / ${mailboxLimits.uploadWindowMs / 1000} s, ${mailboxLimits.concurrent} at once`,
    copies: c.imported,
    'Graph requests (per copy)': `${requests} (${fmt(requests / c.imported, 2)})`,
    'MB sent': fmt(bytes / MB),
    refused: throttled,
    seconds: fmt(seconds),
    'Graph first to last s': fmt((Math.max(...used.map((u) => u.last)) - Math.min(...used.map((u) => u.first))) / 1000),
    'copies/s': fmt(c.imported / seconds),
    'MB/s (attachments)': fmt(attachmentMb / seconds, 2),
    'ceiling copies/s': fmt(c.imported / ceiling),
    'of ceiling': `${fmt((100 * ceiling) / seconds, 0)}% (target >= 90%)`,
  };
}

/** `n` people of the company with mailboxes in the sandbox tenant (created once). */
function benchPeople(world: World, n: number): (Party & { id: string })[] {
  const users = world.sandbox.store.table('users');
  return Array.from({ length: n }, (_, i) => {
    const key = `bench${String(i).padStart(2, '0')}`;
    const id = stableId(`user:${key}`);
    const email = `${key}@contoso-demo.example`;
    if (!users.has(id))
      users.set(id, {
        '@odata.type': '#microsoft.graph.user',
        id,
        displayName: `Bench User ${i}`,
        userPrincipalName: email,
        mail: email,
        accountEnabled: true,
      });
    return { id, name: `Bench User ${i}`, mobile: `4477009${String(10_000 + i).slice(1)}`, email };
  });
}

/** The day's items at the provider: each person's SMS and photo MMS, interleaved through the day. */
function benchDay(world: World, day: string, people: (Party & { id: string })[], per: { sms: number; mms: number }): ArchiveItem[] {
  const customer: Party = { name: 'Customer', mobile: '447700900999', email: null };
  const kinds = [...Array<number>(per.sms).fill(0), ...Array<number>(per.mms).fill(1)];
  // Shuffled (the same way every run), so media are spread through the day as on a real one.
  let seed = 42;
  for (let k = kinds.length - 1; k > 0; k--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (k + 1);
    [kinds[k], kinds[j]] = [kinds[j], kinds[k]];
  }
  const total = kinds.length * people.length;
  const items: ArchiveItem[] = [];
  for (let i = 0; i < total; i++) {
    const person = people[i % people.length];
    const kind = kinds[Math.floor(i / people.length)];
    const id = `bench-${day}-${String(i).padStart(6, '0')}`;
    items.push({
      id,
      type: kind ? 'MMS' : 'SMS',
      network: 'O2',
      threadId: `thread-${person.mobile}`,
      timestampUtc: new Date(Date.parse(`${day}T00:00:00Z`) + Math.floor(((i + 0.5) * 86_400_000) / total)).toISOString(),
      direction: i % 2 ? 'in' : 'out',
      from: person,
      to: [customer],
      body: `Bench message ${i}: the delivery is booked for ${8 + (i % 10)}:00.`,
      durationSec: null,
      attachments: kind ? [world.sandbox.archive.attachment(`${id}-a`, `photo-${i}.jpg`, 'image/jpeg', 80_000 + (i % 7) * 10_000)] : [],
    });
  }
  world.sandbox.archive.items.push(...items);
  world.sandbox.archive.items.sort((x, y) => x.timestampUtc.localeCompare(y.timestampUtc) || x.id.localeCompare(y.id));
  return items;
}

/** The process's peak resident set so far (Linux VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}
