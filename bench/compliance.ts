import { QueueClient } from '@azure/storage-queue';
import { planPolicy } from '../shared/compliance/detect';
import { actionId, type ActionInput } from '../shared/compliance/inputs';
import { allDuePartitions, DAY_MS, devicePartition, duePartition, QUEUE_ACTIONS, type ObservedDevice } from '../shared/compliance/model';
import { dispatchDue } from '../shared/compliance/runner';
import { setClock } from '../shared/platform/clock';
import { resetConfig } from '../shared/platform/config';
import { forEachLimit } from '../shared/platform/pool';
import { fmt, rawBatchedWrites, table, type World } from './lib';

/**
 * Compliance at scale, in process against Azurite: planning 20,000 (BENCH_COMPLIANCE_DEVICES=100000 for
 * the large run, about 50 minutes on two cores) newly noncompliant devices with
 * three actions each (state, ledger and due-index rows), then dispatching every action once due
 * (one queue message each). Beside it, the floor: raw batched table writes of the same rows
 * (100 per transaction, same partitions, same concurrency) into scratch tables.
 */
export async function benchCompliance(world: World, devices = Number(process.env.BENCH_COMPLIANCE_DEVICES ?? 20_000)): Promise<void> {
  Object.assign(process.env, world.settings);
  resetConfig();
  const t0 = Date.parse('2026-12-01T09:00:00Z');
  let now = t0;
  setClock(() => now);
  const actions: ActionInput[] = [
    { type: 'markNoncompliant', days: 0 },
    { type: 'email', days: 2, templateId: 'bench', additionalRecipientGroupIds: [] },
    { type: 'remoteLock', days: 7 },
  ];
  const scheduled = actions.map((a) => ({ id: actionId(a), ...a }));
  const policy = { id: '6d3c9a80-1f0e-4c55-9d7a-000000000001', displayName: 'Bench policy' };
  const observed: ObservedDevice[] = Array.from({ length: devices }, (_, i) => ({
    deviceId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    deviceName: `bench-${i}`,
    userId: '00000000-0000-4000-9000-000000000001',
    userPrincipalName: `user${i % 500}@contoso-demo.example`,
    operatingSystem: 'iOS',
    osVersion: '17.5',
    managementAgent: 'mdm',
  }));

  try {
    // The floor first, into two scratch tables shaped like ours (device rows; due rows), so it
    // meets the same partition sizes and an Azurite not yet loaded by our rows.
    const since = new Date(t0).toISOString();
    const raw = await rawBatchedWrites(
      world,
      observed.flatMap((d) => [
        {
          table: 'benchrawdevices',
          partitionKey: devicePartition(policy.id, d.deviceId),
          rowKey: `s|${d.deviceId}`,
          policyId: policy.id,
          policyName: policy.displayName,
          deviceId: d.deviceId,
          deviceName: d.deviceName,
          userId: d.userId,
          userPrincipalName: d.userPrincipalName,
          operatingSystem: 'iOS',
          osVersion: '17.5',
          managementAgent: 'mdm',
          status: 'noncompliant',
          since,
          graceUntil: since,
          planned: scheduled.map((a) => a.id).join(','),
          lastSeenAt: since,
        },
        ...scheduled.flatMap((a) => [
          {
            table: 'benchrawdevices',
            partitionKey: devicePartition(policy.id, d.deviceId),
            rowKey: `a|${d.deviceId}|${since}|${a.id}`,
            policyId: policy.id,
            deviceId: d.deviceId,
            episode: since,
            action: a.id,
            type: a.type,
            days: a.days,
            dueAt: since,
            status: 'pending',
            attempts: 0,
            updatedAt: since,
          },
          {
            table: 'benchrawdue',
            partitionKey: duePartition(d.deviceId),
            rowKey: `${since}|${policy.id}|${d.deviceId}|${since}|${a.id}`,
            policyId: policy.id,
            deviceId: d.deviceId,
            episode: since,
            action: a.id,
          },
        ]),
      ]),
    );
    const rawMs = raw.ms;
    const rawRows = raw.rows;

    const planStart = performance.now();
    const plan = await planPolicy(policy, scheduled, observed, [], new Date(now).toISOString());
    const planMs = performance.now() - planStart;
    const rows = devices + plan.planned * 2; // a state row per device, a ledger and a due row per action

    now = t0 + 8 * DAY_MS; // every action is due
    const dispatchStart = performance.now();
    let sent = 0;
    await forEachLimit(allDuePartitions(), 4, async (partition) => {
      for (;;) {
        const r = await dispatchDue(partition, new Date(now).toISOString());
        sent += r.sent;
        if (!r.more) break;
      }
    });
    const dispatchMs = performance.now() - dispatchStart;
    const queued = (await new QueueClient(world.azurite.connectionString, QUEUE_ACTIONS).getProperties()).approximateMessagesCount ?? 0;

    table(`Compliance: ${devices.toLocaleString('en')} noncompliant devices × ${actions.length} actions`, [
      {
        step: 'plan (detect → state, ledger, due rows)',
        items: `${devices} devices`,
        rows: rows,
        seconds: fmt(planMs / 1000),
        rate: `${fmt(devices / (planMs / 1000), 0)} devices/s, ${fmt(rows / (planMs / 1000), 0)} rows/s`,
      },
      {
        step: 'dispatch (due rows → one message each)',
        items: `${sent} actions`,
        rows: sent,
        seconds: fmt(dispatchMs / 1000),
        rate: `${fmt(sent / (dispatchMs / 1000), 0)} actions/s`,
      },
      {
        step: 'floor: raw batched table writes',
        items: `${raw.batches} batches`,
        rows: rawRows,
        seconds: fmt(rawMs / 1000),
        rate: `${fmt(rawRows / (rawMs / 1000), 0)} rows/s`,
      },
    ]);
    console.log(`planning / raw writes of the same ${rawRows} rows: ratio ${fmt(rawMs / planMs, 2)} (1.0 = as fast as the floor)`);
    console.log(
      `planning + dispatch end to end: ${fmt((planMs + dispatchMs) / 1000)} s, ${fmt(devices / ((planMs + dispatchMs) / 1000), 0)} devices/s, ${fmt(sent / ((planMs + dispatchMs) / 1000), 0)} actions/s; ratio to the raw writes ${fmt(rawMs / (planMs + dispatchMs), 2)}`,
    );
    console.log(`check: ${plan.planned} actions planned, ${sent} dispatched, ${queued} messages on ${QUEUE_ACTIONS}`);
    if (sent !== devices * actions.length || queued !== sent)
      throw new Error(`expected ${devices * actions.length} actions dispatched and queued, got ${sent} and ${queued}`);
  } finally {
    setClock();
  }
}
