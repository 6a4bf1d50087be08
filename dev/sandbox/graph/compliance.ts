import { stableId } from '../seed';
import { GraphError, type Entity, type GraphService, type TenantStore } from './framework';
import { sandboxClock } from '../clock';

/**
 * Intune compliance policies and their per-device statuses. A policy targets the managed devices of
 * its platforms; each device's status follows its complianceState, so flipping a device (control
 * API `POST /_sandbox/compliance`) changes both, as Intune shows them after a check-in.
 */

const POLICIES = [
  { key: 'ios-baseline', type: 'iosCompliancePolicy', displayName: 'iOS baseline', platforms: ['iOS'] },
  { key: 'android-baseline', type: 'androidCompliancePolicy', displayName: 'Android baseline', platforms: ['Android'] },
] as const;

const TARGETS = 'compliancePolicyPlatforms';

export function seedCompliance(store: TenantStore): void {
  for (const p of POLICIES) {
    const id = stableId(`policy:${p.key}`);
    store.table('deviceCompliancePolicies').set(id, {
      '@odata.type': `#microsoft.graph.${p.type}`,
      id,
      displayName: p.displayName,
      description: `${p.displayName} (demo)`,
      createdDateTime: '2025-01-06T09:00:00Z',
      lastModifiedDateTime: '2025-01-06T09:00:00Z',
      version: 1,
    });
    // Which platforms a policy targets is sandbox bookkeeping, kept off the entity Graph returns.
    store.table(TARGETS).set(id, { id, platforms: [...p.platforms] });
  }
}

export const demoPolicyId = (key: (typeof POLICIES)[number]['key']) => stableId(`policy:${key}`);

function statusOf(policyId: string, d: Entity): Entity {
  const state = String(d.complianceState);
  return {
    '@odata.type': '#microsoft.graph.deviceComplianceDeviceStatus',
    id: `${policyId}_${d.id}`,
    deviceDisplayName: d.deviceName,
    userName: d.userDisplayName ?? null,
    deviceModel: d.model ?? null,
    userPrincipalName: d.userPrincipalName ?? null,
    status: state === 'noncompliant' || state === 'inGracePeriod' ? 'nonCompliant' : state === 'compliant' ? 'compliant' : 'unknown',
    complianceGracePeriodExpirationDateTime: '9999-12-31T23:59:59Z',
    lastReportedDateTime: d.lastSyncDateTime ?? '2026-11-20T08:00:00Z',
  };
}

export function registerCompliance(g: GraphService): void {
  g.route('GET', '/deviceManagement/deviceCompliancePolicies', (ctx) =>
    g.collection(ctx, [...ctx.store.table('deviceCompliancePolicies').values()]),
  );
  g.route('GET', '/deviceManagement/deviceCompliancePolicies/{deviceCompliancePolicy-id}', (ctx) =>
    g.entity(ctx, ctx.store.get('deviceCompliancePolicies', ctx.params['deviceCompliancePolicy-id'])),
  );
  g.route('GET', '/deviceManagement/deviceCompliancePolicies/{deviceCompliancePolicy-id}/deviceStatuses', (ctx) => {
    const policy = ctx.store.get('deviceCompliancePolicies', ctx.params['deviceCompliancePolicy-id']);
    const platforms = (ctx.store.table(TARGETS).get(policy.id)?.platforms as string[] | undefined) ?? [];
    const devices = [...ctx.store.table('managedDevices').values()].filter((d) => platforms.includes(String(d.operatingSystem)));
    return g.collection(
      ctx,
      devices.map((d) => statusOf(policy.id, d)),
      { pageSize: 1000 },
    );
  });
}

/** Control API: set a device's compliance state (and so its status in every policy targeting it). */
export function setCompliance(store: TenantStore, deviceId: string, state: string): Entity {
  if (!['compliant', 'noncompliant', 'inGracePeriod', 'unknown'].includes(state))
    throw new GraphError(400, 'BadRequest', 'complianceState must be compliant, noncompliant, inGracePeriod or unknown.');
  const device = store.get('managedDevices', deviceId);
  device.complianceState = state;
  device.lastSyncDateTime = sandboxClock.iso();
  return device;
}
