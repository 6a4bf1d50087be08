import type { Entity, GraphContext, GraphService } from './framework';
import { sandboxClock } from '../clock';

/** Intune managed devices and their device actions. */
export function registerIntune(g: GraphService): void {
  g.route('GET', '/deviceManagement/managedDevices', (ctx) =>
    g.collection(ctx, [...ctx.store.table('managedDevices').values()], { pageSize: 1000 }),
  );
  g.route('GET', '/deviceManagement/managedDevices/{managedDevice-id}', (ctx) =>
    g.entity(ctx, ctx.store.get('managedDevices', ctx.params['managedDevice-id'])),
  );

  const action = (name: string) => (ctx: GraphContext) => {
    const device = ctx.store.get('managedDevices', ctx.params['managedDevice-id']);
    recordAction(device, name);
    return { status: 204 };
  };
  g.route('POST', '/deviceManagement/managedDevices/{managedDevice-id}/remoteLock', action('remoteLock'));
  g.route('POST', '/deviceManagement/managedDevices/{managedDevice-id}/syncDevice', action('syncDevice'));
  g.route('POST', '/deviceManagement/managedDevices/{managedDevice-id}/retire', (ctx) => {
    const device = ctx.store.get('managedDevices', ctx.params['managedDevice-id']);
    recordAction(device, 'retire');
    device.managementState = 'retirePending';
    return { status: 204 };
  });
  g.route('POST', '/deviceManagement/managedDevices/{managedDevice-id}/requestRemoteAssistance', action('requestRemoteAssistance'));
}

/** Device actions are kept on the device, as Intune shows them in deviceActionResults. */
export function recordAction(device: Entity, actionName: string): void {
  const now = sandboxClock.iso();
  const results = (device.deviceActionResults as Record<string, unknown>[] | undefined) ?? [];
  results.push({
    '@odata.type': '#microsoft.graph.deviceActionResult',
    actionName,
    actionState: 'pending',
    startDateTime: now,
    lastUpdatedDateTime: now,
  });
  device.deviceActionResults = results;
}
