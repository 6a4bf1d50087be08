import { readFileSync } from 'node:fs';
import { mailSettings } from '../dev/sandbox/graph/mail';
import { ARCHIVE_ACCOUNT } from '../dev/sandbox/providers/archive';
import { adminToken, fmt, startProcess, table, type World } from './lib';

/**
 * The archive import of the sandbox's seeded day (SMS, MMS, calls, a 15 MB MMS and a 100 MB call
 * recording) through the local host in its own process against the sandbox: items and MB per
 * second, and the host's peak resident memory while it imports (target under 256 MB: attachments
 * stream from the provider to Blob storage and from Blob storage to Graph, never whole in memory).
 */
export async function benchArchiveImport(world: World): Promise<void> {
  mailSettings.maxItemBytes = 150 * 1024 * 1024; // mailboxes raised to Exchange's maximum, so the recording imports
  const host = await startProcess(['dist/dev/host/cli.js'], world.settings, (p) => `http://127.0.0.1:${p}/api/health`);
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
    const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const from = `${day}T00:00:00.000Z`;
    const to = new Date(Date.parse(from) + 86_400_000).toISOString();
    const items = world.sandbox.archive.items.filter((i) => i.timestampUtc >= from && i.timestampUtc < to);
    const sourceBytes = items.reduce((n, i) => n + i.attachments.reduce((m, a) => m + a.size, 0), 0);
    const rssBefore = peakRssMb(host.child.pid!);

    const started = performance.now();
    const { runId } = (await call('POST', 'admin/archive/import', { from, to })) as { runId: string };
    let run: { state: string; counters: Record<string, number> };
    for (;;) {
      run = (await call('GET', `admin/runs/${runId}`)) as typeof run;
      if (run.state !== 'queued' && run.state !== 'running') break;
      if (performance.now() - started > 600_000) throw new Error('The archive import did not finish in 10 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - started) / 1000;
    if (run.state !== 'succeeded') throw new Error(`The archive import ended ${run.state}`);
    const c = run.counters;
    // The bytes that reached mailboxes: every attachment of every imported copy.
    const importedBytes = [...world.sandbox.store.table('users').keys()]
      .flatMap((id) => [...world.sandbox.store.table(`attachments:${id}`).values()])
      .reduce((n, a) => n + Number(a.size), 0);
    table(`Archive import of one seeded day: ${items.length} items, ${fmt(sourceBytes / 1024 / 1024)} MB of attachments at the source`, [
      {
        copies: c.itemsAvailableForImport,
        imported: c.imported,
        failed: c.failed,
        seconds: fmt(seconds),
        'copies/s': fmt(c.imported / seconds),
        'MB/s into mailboxes': fmt(importedBytes / 1024 / 1024 / seconds),
        'host peak RSS MB': `${fmt(peakRssMb(host.child.pid!), 0)} (target < 256; ${fmt(rssBefore, 0)} before the import)`,
      },
    ]);
  } finally {
    mailSettings.maxItemBytes = 35 * 1024 * 1024;
    await host.stop();
  }
}

/** The process's peak resident set so far (Linux VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}
