import { QueueClient } from '@azure/storage-queue';
import { Webhook } from 'standardwebhooks';
import { encodeMessage } from '../shared/platform/storage/queues';
import { adminToken, fmt, load, startProcess, table, type World } from './lib';

/**
 * TEM webhook intake: signed events accepted per second (verify + durable enqueue + 202) through the
 * local host, beside raw Azurite queue writes at the same concurrency in the same run.
 */
export async function benchTemIntake(world: World, connections = 32, seconds = 5): Promise<void> {
  // Intake alone: queue listeners paused, as the workers run on other instances in Azure.
  const host = await startProcess(
    ['dist/dev/host/cli.js'],
    { ...world.settings, LOCAL_HOST_TRIGGERS: 'http' },
    (p) => `http://127.0.0.1:${p}/api/health`,
  );
  let withWorkers: Awaited<ReturnType<typeof load>> | undefined;
  try {
    const token = await adminToken(world);
    const created = await fetch(`http://127.0.0.1:${host.port}/api/admin/tem/providers`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' }),
    });
    const provider = (await created.json()) as { id: string; secret: string };
    const url = `http://127.0.0.1:${host.port}/api/tem/providers/${provider.id}/events`;

    // Every request is a distinct, freshly signed event (unique webhook-id), as a provider sends them.
    const wh = new Webhook(provider.secret);
    let n = 0;
    const signed = () => {
      const id = `msg_bench_${process.pid}_${n++}`;
      const now = new Date();
      const body = JSON.stringify({
        type: 'usage.threshold_exceeded',
        timestamp: now.toISOString(),
        data: { phoneNumber: '+447700900101', kind: 'roaming', usageMb: 600, capMb: 500 },
      });
      return {
        method: 'POST' as const,
        body,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': wh.sign(id, now, body),
        },
      };
    };
    // The floor first, while nothing else uses Azurite: the same message written straight to a queue, same concurrency.
    const queue = new QueueClient(world.azurite.connectionString.replace(/;$/, ''), 'bench-raw');
    await queue.createIfNotExists();
    const text = encodeMessage('tem.event', { providerId: provider.id, webhookId: 'x', event: JSON.parse(signed().body) as unknown });
    let raw = 0;
    const latencies: number[] = [];
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (Date.now() < deadline) {
          const t = performance.now();
          await queue.sendMessage(text);
          latencies.push(performance.now() - t);
          raw++;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const run = (target: string, secs: number) =>
      load({ url: target, connections, seconds: secs, requests: [{ setupRequest: (req) => ({ ...req, ...signed() }) }] });
    await run(url, 1); // warm-up
    const ours = await run(url, seconds);

    // The same load with the event worker draining the queue in the same host, on the same 2 cores and Azurite.
    const full = await startProcess(['dist/dev/host/cli.js'], world.settings, (p) => `http://127.0.0.1:${p}/api/health`);
    try {
      withWorkers = await run(`http://127.0.0.1:${full.port}/api/tem/providers/${provider.id}/events`, seconds);
    } finally {
      await full.stop();
    }

    const rawRps = raw / seconds;
    table(`TEM webhook: signed events accepted vs raw Azurite queue writes (${connections} concurrent, ${seconds} s each)`, [
      {
        path: 'POST /api/tem/providers/{id}/events (verify + enqueue + 202)',
        'per s': fmt(ours.rps, 0),
        'p50 ms': ours.p50,
        'p99 ms': ours.p99,
        total: ours.requests,
        'non-2xx': ours.non2xx,
        errors: ours.errors,
      },
      {
        path: '  same, with the event worker running in the same host',
        'per s': fmt(withWorkers.rps, 0),
        'p50 ms': withWorkers.p50,
        'p99 ms': withWorkers.p99,
        total: withWorkers.requests,
        'non-2xx': withWorkers.non2xx,
        errors: withWorkers.errors,
      },
      {
        path: 'raw QueueClient.sendMessage to Azurite',
        'per s': fmt(rawRps, 0),
        'p50 ms': fmt(latencies[Math.floor(latencies.length * 0.5)], 0),
        'p99 ms': fmt(latencies[Math.floor(latencies.length * 0.99)], 0),
        total: raw,
        'non-2xx': 0,
        errors: 0,
      },
    ]);
    console.log(
      `ratio (accepted / raw enqueue): ${fmt(ours.rps / rawRps, 3)} (target ≥ 0.5); with the worker sharing the machine: ${fmt(withWorkers.rps / rawRps, 3)}`,
    );
  } finally {
    await host.stop();
  }
}
