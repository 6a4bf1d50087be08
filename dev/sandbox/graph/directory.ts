import { randomUUID } from 'node:crypto';
import { GraphError, type Entity, type GraphContext, type GraphService } from './framework';
import { sandboxClock } from '../clock';

/** Directory resources: users, groups with members, devices. */
export function registerDirectory(g: GraphService): void {
  const list = (table: string) => (ctx: GraphContext) => g.collection(ctx, [...ctx.store.table(table).values()]);
  const one = (table: string, param: string) => (ctx: GraphContext) => g.entity(ctx, ctx.store.get(table, ctx.params[param]));

  g.route('GET', '/users', list('users'));
  g.route('GET', '/users/{user-id}', one('users', 'user-id'));
  g.route('GET', '/devices', list('devices'));
  g.route('GET', '/devices/{device-id}', one('devices', 'device-id'));
  g.route('GET', '/groups', list('groups'));
  g.route('GET', '/groups/{group-id}', one('groups', 'group-id'));

  g.route('POST', '/groups', (ctx) => {
    const b = (ctx.body ?? {}) as Record<string, unknown>;
    for (const [key, type] of [
      ['displayName', 'string'],
      ['mailNickname', 'string'],
      ['mailEnabled', 'boolean'],
      ['securityEnabled', 'boolean'],
    ] as const) {
      if (typeof b[key] !== type)
        throw new GraphError(400, 'Request_BadRequest', `Invalid value specified for property '${key}' of resource 'Group'.`);
    }
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(String(b.mailNickname)))
      throw new GraphError(400, 'Request_BadRequest', "Invalid value specified for property 'mailNickname' of resource 'Group'.");
    const group: Entity = {
      '@odata.type': '#microsoft.graph.group',
      id: randomUUID(),
      displayName: b.displayName,
      description: typeof b.description === 'string' ? b.description : null,
      mailNickname: b.mailNickname,
      mailEnabled: b.mailEnabled,
      securityEnabled: b.securityEnabled,
      groupTypes: Array.isArray(b.groupTypes) ? b.groupTypes : [],
      createdDateTime: sandboxClock.iso(),
    };
    ctx.store.table('groups').set(group.id, group);
    ctx.store.groupMembers.set(group.id, new Set());
    return { status: 201, body: group };
  });

  const members = (ctx: GraphContext) => {
    const group = ctx.store.get('groups', ctx.params['group-id']);
    let set = ctx.store.groupMembers.get(group.id);
    if (!set) ctx.store.groupMembers.set(group.id, (set = new Set()));
    return set;
  };

  g.route('GET', '/groups/{group-id}/members', (ctx) => {
    const items = [...members(ctx)].map((id) => ctx.store.directoryObject(id)).filter((e): e is Entity => !!e);
    return g.collection(ctx, items, { context: 'directoryObjects' });
  });

  g.route('POST', '/groups/{group-id}/members/$ref', (ctx) => {
    const set = members(ctx);
    const given = (ctx.body as Record<string, unknown> | undefined)?.['@odata.id'];
    const ref = typeof given === 'string' ? given : '';
    const id = /\/directoryObjects\/([^/]+)$/.exec(ref)?.[1] ?? /\/(?:users|devices|groups)\/([^/]+)$/.exec(ref)?.[1];
    if (!id)
      throw new GraphError(
        400,
        'Request_BadRequest',
        "Invalid URL format specified in @odata.id. Use 'https://graph.microsoft.com/v1.0/directoryObjects/{id}'.",
      );
    if (!ctx.store.directoryObject(id))
      throw new GraphError(
        404,
        'Request_ResourceNotFound',
        `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      );
    if (set.has(id))
      throw new GraphError(
        400,
        'Request_BadRequest',
        "One or more added object references already exist for the following modified properties: 'members'.",
      );
    set.add(id);
    return { status: 204 };
  });

  g.route('DELETE', '/groups/{group-id}/members/{directoryObject-id}/$ref', (ctx) => {
    const set = members(ctx);
    const id = ctx.params['directoryObject-id'];
    if (!set.delete(id))
      throw new GraphError(
        404,
        'Request_ResourceNotFound',
        `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
      );
    return { status: 204 };
  });
}
