import { spawnSync } from 'node:child_process';
import { fmt, load, median, startProcess, table, type World } from './lib';

/**
 * Platform figures: GET /api/health through the local host against a bare Node HTTP server that
 * answers 202, at the same concurrency in the same run; and the time to load the app's entry
 * module (every registration) in a fresh process.
 */
const BARE = `require('http').createServer((q, s) => { s.writeHead(202); s.end(); }).listen(Number(process.env.PORT), '127.0.0.1')`;

export async function benchHealth(world: World, connections = 32, seconds = 5): Promise<void> {
  const host = await startProcess(['dist/dev/host/cli.js'], world.settings, (p) => `http://127.0.0.1:${p}/api/health`);
  const bare = await startProcess(['-e', BARE], {}, (p) => `http://127.0.0.1:${p}/`);
  try {
    await load({ url: `http://127.0.0.1:${host.port}/api/health`, connections, seconds: 1 }); // warm-up
    const ours = await load({ url: `http://127.0.0.1:${host.port}/api/health`, connections, seconds });
    const floor = await load({ url: `http://127.0.0.1:${bare.port}/`, connections, seconds });
    table(`GET /api/health through the local host vs a bare 202 server (${connections} connections, ${seconds} s each)`, [
      {
        server: 'local host /api/health',
        'req/s': fmt(ours.rps, 0),
        'p50 ms': ours.p50,
        'p99 ms': ours.p99,
        requests: ours.requests,
        'non-2xx': ours.non2xx,
        errors: ours.errors,
      },
      {
        server: 'bare node 202',
        'req/s': fmt(floor.rps, 0),
        'p50 ms': floor.p50,
        'p99 ms': floor.p99,
        requests: floor.requests,
        'non-2xx': floor.non2xx,
        errors: floor.errors,
      },
    ]);
    console.log(`ratio (ours / bare): ${fmt(ours.rps / floor.rps, 3)} of the throughput (health re-probes storage at most every 2 s).`);
  } finally {
    await Promise.all([host.stop(), bare.stop()]);
  }
}

export function benchEntryLoad(world: World, runs = 7): void {
  const script = `
    const core = require('./dist/dev/host/core-hook').provideCoreModule();
    const t0 = performance.now();
    require('./dist/functions/index.js');
    process.stdout.write(JSON.stringify({ loadMs: performance.now() - t0, sinceStartMs: performance.now(), functions: core.functions.length }));`;
  const samples: { loadMs: number; sinceStartMs: number; functions: number; wallMs: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...world.settings }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    samples.push({
      ...(JSON.parse(r.stdout) as { loadMs: number; sinceStartMs: number; functions: number }),
      wallMs: performance.now() - started,
    });
  }
  table(`Loading the app's entry module in a fresh process (median of ${runs})`, [
    {
      functions: samples[0].functions,
      'require(entry) ms': fmt(median(samples.map((s) => s.loadMs))),
      'process start → registered ms': fmt(median(samples.map((s) => s.sinceStartMs))),
      'process wall ms': fmt(median(samples.map((s) => s.wallMs))),
    },
  ]);
}
