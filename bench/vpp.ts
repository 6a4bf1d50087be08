import { addVppToken } from '../dev/sandbox/graph/vpp';
import { adminToken, fmt, rawBatchedWrites, startProcess, table, type World } from './lib';

/**
 * VPP sync at scale: 20 tokens × 5,000 apps through the local host against the sandbox: wall time
 * and the Graph requests made, by kind, beside the fewest the paging allows (pages of 1,000); and
 * the rows the first sync writes (a licence row and an `added` history row per app) beside the
 * floor: the same rows as raw batched transactions into scratch tables, in the same partitions.
 */
export async function benchVppSync(
  world: World,
  tokens = Number(process.env.BENCH_VPP_TOKENS ?? 20),
  appsPerToken = Number(process.env.BENCH_VPP_APPS ?? 5000),
): Promise<void> {
  const store = world.sandbox.store;
  for (const t of ['vppTokens', 'mobileApps', 'managedEBooks']) store.table(t).clear();
  const syncedAt = new Date().toISOString();
  const raw = await rawBatchedWrites(
    world,
    Array.from({ length: tokens }, (_, i) => `bench-token-${i}`).flatMap((pk) =>
      Array.from({ length: appsPerToken }).flatMap((_, j) => [
        {
          table: 'benchrawlicenses',
          partitionKey: pk,
          rowKey: `0008230799999-abcdef01|${pk}-app-${j}`,
          appId: `${pk}-app-${j}`,
          kind: 'app',
          name: `App ${pk}-${j}`,
          total: 100,
          used: 10,
          available: 90,
          syncedAt,
          runId: '0008230799999-abcdef01',
          low: false,
        },
        {
          table: 'benchrawhistory',
          partitionKey: pk,
          rowKey: `${pk}-app-${j}|0008230799999`,
          change: 'added',
          total: 100,
          used: 10,
          available: 90,
          at: syncedAt,
          runId: '0008230799999-abcdef01',
        },
      ]),
    ),
  );
  for (let i = 0; i < tokens; i++) {
    addVppToken(store, {
      key: `bench-${i}`,
      organizationName: `Bench ${i}`,
      expiresInDays: 365,
      lastSyncDaysAgo: 0.5,
      apps: Array.from({ length: appsPerToken }, (_, j) => [`App ${i}-${j}`, 100 + (j % 50), j % 100] as [string, number, number]),
    });
  }
  const host = await startProcess(
    ['dist/dev/host/cli.js'],
    { ...world.settings, VPP_POLL_SECONDS: '1' },
    (p) => `http://127.0.0.1:${p}/api/health`,
  );
  try {
    const auth = { Authorization: `Bearer ${await adminToken(world)}` };
    world.sandbox.graph.resetStats();
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${host.port}/api/admin/vpp/sync`, { method: 'POST', headers: auth });
    if (res.status !== 202) throw new Error(`sync answered ${res.status}`);
    for (;;) {
      const list = (await (await fetch(`http://127.0.0.1:${host.port}/api/admin/vpp/tokens`, { headers: auth })).json()) as {
        value: { lastSnapshotAt: string | null; lastError: string | null }[];
      };
      if (list.value.length === tokens && list.value.every((t) => t.lastSnapshotAt)) break;
      if (performance.now() - started > 600_000) throw new Error('VPP sync did not finish in 10 minutes');
      await new Promise((r) => setTimeout(r, 250));
    }
    const wallMs = performance.now() - started;
    const count = (await (await fetch(`http://127.0.0.1:${host.port}/api/admin/vpp/licenses?top=1`, { headers: auth })).json()) as {
      count: number;
    };
    const routes = world.sandbox.graph.stats.byRoute;
    const sum = (re: RegExp) =>
      Object.entries(routes)
        .filter(([k]) => re.test(k))
        .reduce((a, [, v]) => a + v, 0);
    const pages = Math.ceil(appsPerToken / 1000);
    const rows = [
      { requests: 'token list', made: sum(/^GET \/deviceAppManagement\/vppTokens$/), minimum: 1 },
      { requests: 'syncLicenses', made: sum(/syncLicenses$/), minimum: tokens },
      { requests: 'lastSyncStatus checks', made: sum(/^GET \/deviceAppManagement\/vppTokens\/\{id\}$/), minimum: tokens },
      { requests: 'VPP app pages', made: sum(/iosVppApp$/), minimum: tokens * pages },
      { requests: 'VPP eBook pages', made: sum(/iosVppEBook$/), minimum: tokens },
    ];
    const made = rows.reduce((a, r) => a + r.made, 0);
    const minimum = rows.reduce((a, r) => a + r.minimum, 0);
    rows.push({ requests: 'total', made, minimum });
    table(`VPP sync of ${tokens} tokens × ${appsPerToken} apps: Graph requests (pages of 1,000)`, rows);
    const written = 2 * count.count; // a licence row and an `added` history row per app
    table(`VPP sync of ${tokens} tokens × ${appsPerToken} apps: table rows written`, [
      {
        step: 'sync (Graph → snapshot and history)',
        rows: written,
        seconds: fmt(wallMs / 1000),
        rate: `${fmt(written / (wallMs / 1000), 0)} rows/s`,
      },
      {
        step: 'floor: raw batched table writes',
        rows: raw.rows,
        seconds: fmt(raw.ms / 1000),
        rate: `${fmt(raw.rows / (raw.ms / 1000), 0)} rows/s`,
      },
    ]);
    console.log(
      `wall time ${fmt(wallMs / 1000, 1)} s for ${count.count} licences (${fmt(count.count / (wallMs / 1000), 0)} apps/s); requests made / minimum: ${fmt(made / minimum, 2)}; Graph total incl. anything else: ${world.sandbox.graph.stats.requests}`,
    );
    console.log(`VPP write ratio (sync rows/s ÷ raw rows/s, target ≥ 0.5): ${fmt(written / wallMs / (raw.rows / raw.ms), 2)}`);
  } finally {
    await host.stop();
  }
}
