import { randomUUID } from 'node:crypto';
import { GraphError, type Entity, type GraphContext, type GraphService } from './framework';
import { sandboxClock } from '../clock';

/** Intune device configuration profiles (iOS and Android general configurations) and their group assignments. */
const TYPES = new Set(['#microsoft.graph.iosGeneralDeviceConfiguration', '#microsoft.graph.androidGeneralDeviceConfiguration']);

export function registerConfigurations(g: GraphService): void {
  const table = (ctx: GraphContext) => ctx.store.table('deviceConfigurations');
  const one = (ctx: GraphContext) => ctx.store.get('deviceConfigurations', ctx.params['deviceConfiguration-id']);

  g.route('GET', '/deviceManagement/deviceConfigurations', (ctx) => g.collection(ctx, [...table(ctx).values()]));
  g.route('GET', '/deviceManagement/deviceConfigurations/{deviceConfiguration-id}', (ctx) => g.entity(ctx, one(ctx)));

  g.route('POST', '/deviceManagement/deviceConfigurations', (ctx) => {
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    if (!TYPES.has(String(body['@odata.type'])))
      throw new GraphError(
        400,
        'BadRequest',
        `The sandbox supports ${[...TYPES].join(' and ')} profiles; got '${String(body['@odata.type'])}'.`,
      );
    if (typeof body.displayName !== 'string' || !body.displayName)
      throw new GraphError(400, 'BadRequest', "Property 'displayName' is required.");
    const now = sandboxClock.iso();
    const profile: Entity = { ...body, id: randomUUID(), createdDateTime: now, lastModifiedDateTime: now, version: 1 };
    table(ctx).set(profile.id, profile);
    ctx.store.table(`assignments:${profile.id}`);
    return { status: 201, body: profile };
  });

  g.route('PATCH', '/deviceManagement/deviceConfigurations/{deviceConfiguration-id}', (ctx) => {
    const profile = one(ctx);
    Object.assign(profile, ctx.body as object, {
      id: profile.id,
      lastModifiedDateTime: sandboxClock.iso(),
      version: Number(profile.version ?? 1) + 1,
    });
    return { status: 204 };
  });

  g.route('DELETE', '/deviceManagement/deviceConfigurations/{deviceConfiguration-id}', (ctx) => {
    table(ctx).delete(one(ctx).id);
    return { status: 204 };
  });

  g.route('GET', '/deviceManagement/deviceConfigurations/{deviceConfiguration-id}/assignments', (ctx) =>
    g.collection(ctx, [...ctx.store.table(`assignments:${one(ctx).id}`).values()]),
  );

  g.route('POST', '/deviceManagement/deviceConfigurations/{deviceConfiguration-id}/assignments', (ctx) => {
    const profile = one(ctx);
    const target = (ctx.body as { target?: { '@odata.type'?: string; groupId?: string } } | undefined)?.target;
    if (target?.['@odata.type'] !== '#microsoft.graph.groupAssignmentTarget' || !target.groupId)
      throw new GraphError(400, 'BadRequest', 'An assignment needs a groupAssignmentTarget with a groupId.');
    if (!ctx.store.table('groups').has(target.groupId))
      throw new GraphError(400, 'BadRequest', `Group '${target.groupId}' does not exist.`);
    const assignment: Entity = {
      '@odata.type': '#microsoft.graph.deviceConfigurationAssignment',
      id: `${profile.id}_${target.groupId}`,
      target,
    };
    ctx.store.table(`assignments:${profile.id}`).set(assignment.id, assignment);
    return { status: 201, body: assignment };
  });
}
