import type { z } from 'zod';

/**
 * What one part of the app owns, declared once in its folder: the tables, queues and blob
 * containers it uses, the settings it reads, the app roles that guard it and the Microsoft Graph
 * application permissions it needs (with why). The central lists (storage names, the one config
 * schema, app roles, Graph permissions, the connector listing, infra/connectors.json for Bicep and
 * the Entra set-up) are built from these by `buildCatalog`, so adding a connector is its folder and
 * one line in shared/manifests.ts.
 */
export interface AppRoleDeclaration {
  value: string;
  displayName: string;
  description: string;
  /** Roles this one grants as well (writing includes reading). */
  includes?: readonly string[];
}

export interface Manifest {
  id: string;
  tables: readonly string[];
  queues: readonly string[];
  containers: readonly string[];
  settings: Readonly<Record<string, z.ZodType>>;
  appRoles: readonly AppRoleDeclaration[];
  /** Permission → why this part needs it. */
  graphPermissions: Readonly<Record<string, string>>;
}

/** A connector: a manifest the admin console and the health listing show. */
export interface ConnectorManifest extends Manifest {
  name: string;
  description: string;
  /** What an admin does to set the connector up: the fix shown while it is not configured. */
  setup: string;
}

export const defineManifest = <const M extends Manifest>(m: M): M => m;
export const defineConnector = <const M extends ConnectorManifest>(m: M): M => m;

/** The central lists, built from the platform's manifest and the connectors'. */
export function buildCatalog(platform: Manifest, connectors: readonly ConnectorManifest[]) {
  const all = [platform, ...connectors];
  const owners = new Map<string, string>();
  const once = <T>(kind: string, items: { owner: string; name: string; value: T }[]): T[] =>
    items.map(({ owner, name, value }) => {
      const key = `${kind}:${name}`;
      const first = owners.get(key);
      if (first) throw new Error(`${kind} '${name}' is declared by both '${first}' and '${owner}'; each belongs to one manifest.`);
      owners.set(key, owner);
      return value;
    });
  const names = (kind: string, pick: (m: Manifest) => readonly string[]) =>
    once(
      kind,
      all.flatMap((m) => pick(m).map((name) => ({ owner: m.id, name, value: name }))),
    );
  const graphPermissions: Record<string, string> = {};
  for (const m of all)
    for (const [permission, why] of Object.entries(m.graphPermissions))
      graphPermissions[permission] = graphPermissions[permission] ? `${graphPermissions[permission]}; ${m.id}: ${why}` : `${m.id}: ${why}`;
  return {
    connectors: connectors.map(({ id, name, description, setup }) => ({ id, name, description, setup })),
    tables: names('Table', (m) => m.tables),
    queues: names('Queue', (m) => m.queues),
    containers: names('Container', (m) => m.containers),
    settings: Object.fromEntries(
      once(
        'Setting',
        all.flatMap((m) => Object.entries(m.settings).map(([name, schema]) => ({ owner: m.id, name, value: [name, schema] as const }))),
      ),
    ),
    appRoles: includedDeclared(
      once(
        'App role',
        all.flatMap((m) => m.appRoles.map((r) => ({ owner: m.id, name: r.value, value: r }))),
      ),
    ),
    graphPermissions,
  };
}

/** A role can include only roles some manifest declares. */
function includedDeclared(roles: AppRoleDeclaration[]): AppRoleDeclaration[] {
  const declared = new Set(roles.map((r) => r.value));
  for (const r of roles)
    for (const i of r.includes ?? [])
      if (!declared.has(i)) throw new Error(`App role '${r.value}' includes '${i}', which no manifest declares.`);
  return roles;
}

export type Catalog = ReturnType<typeof buildCatalog>;

/** What Bicep (loadJsonContent) and the Entra set-up script read: infra/connectors.json. */
export function infraCatalog(c: Catalog) {
  return {
    tables: c.tables,
    queues: c.queues.flatMap((q) => [q, `${q}-poison`]),
    containers: c.containers,
    appRoles: c.appRoles,
    graphApplicationPermissions: Object.keys(c.graphPermissions),
    graphPermissionReasons: c.graphPermissions,
  };
}
