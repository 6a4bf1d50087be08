import { GRAPH_PERMISSIONS as APP_GRAPH_PERMISSIONS } from '../../shared/graph/permissions';
import { APP_ROLES } from '../../shared/platform/auth/admin';
/**
 * The seeded demo tenant. Identifiers are fixed so local settings, the README and tests can name
 * them; the sandbox accepts these credentials only.
 */
export const DEMO = {
  tenantId: '4f1c2b7e-8a3d-4c59-9e61-0d2b7a5c3f18',
  tenantName: 'Contoso Demo',
  domain: 'contoso-demo.example',
  /** A second tenant, whose tokens the app must refuse. */
  otherTenantId: '9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f',
  /** This app's registration: the admin API audience and the Graph client. */
  app: {
    clientId: 'd7c6b5a4-3f2e-4d1c-9b0a-8f7e6d5c4b3a',
    clientSecret: 'sandbox-app-secret-not-for-production',
    displayName: 'Intune connectors',
  },
  /**
   * The function app's user-assigned managed identity, as App Service's identity endpoint serves it
   * (IDENTITY_ENDPOINT, with IDENTITY_HEADER as the header it checks). The app registration trusts it
   * through a federated identity credential.
   */
  managedIdentity: {
    clientId: '6a1e0c39-2b7d-4f58-9c31-5e8d7f0a2b46',
    principalId: 'c2f5a8d1-7e34-4b90-8a62-1d9e3c7b5f08',
    header: 'sandbox-identity-header',
  },
} as const;

/** Entra ID's audience for a managed identity's token used as a client assertion (public cloud). */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/** Microsoft Graph application permissions granted to the app in the demo tenant: exactly what the app declares. */
export const GRAPH_PERMISSIONS = Object.keys(APP_GRAPH_PERMISSIONS);

export interface DemoClient {
  name: string;
  clientId: string;
  clientSecret: string;
  tenantId: string;
  /** App roles this client holds on the app (admin API). */
  roles: string[];
  /** Graph application permissions this client holds. */
  graphPermissions: string[];
  redirectUris: string[];
  /** Federated identity credentials: tokens of these issuer and subject, for one of these audiences, stand in for the secret. */
  federatedCredentials?: { subject: string; audiences: string[] }[];
}

/** People who sign in to the admin console: one per app role, one with all, one with none. */
export interface DemoUser {
  oid: string;
  name: string;
  upn: string;
  roles: string[];
}

export function demoUsers(): DemoUser[] {
  const user = (n: number, local: string, name: string, roles: string[]): DemoUser => ({
    oid: `aa11bb22-cc33-4d44-8e55-${n.toString(16).padStart(12, '0')}`,
    name,
    upn: `${local}@${DEMO.domain}`,
    roles,
  });
  return [
    user(1, 'megan', 'Megan Admin', [...APP_ROLES]),
    ...APP_ROLES.map((role, i) => user(16 + i, role.toLowerCase().replace('.', '-'), `${role} Admin`, [role])),
    user(2, 'nora', 'Nora Noroles', []),
  ];
}

const guid = (n: number) => `0000${n.toString(16).padStart(4, '0')}-aaaa-4bbb-8ccc-${n.toString(16).padStart(12, '0')}`;

export function demoClients(): DemoClient[] {
  const admin = (name: string, n: number, roles: string[], tenantId: string = DEMO.tenantId): DemoClient => ({
    name,
    clientId: guid(n),
    clientSecret: `sandbox-${name}-secret`,
    tenantId,
    roles,
    graphPermissions: [],
    redirectUris: [],
  });
  return [
    {
      name: 'app',
      clientId: DEMO.app.clientId,
      clientSecret: DEMO.app.clientSecret,
      tenantId: DEMO.tenantId,
      roles: [],
      graphPermissions: [...GRAPH_PERMISSIONS],
      redirectUris: [],
      federatedCredentials: [{ subject: DEMO.managedIdentity.principalId, audiences: [TOKEN_EXCHANGE_AUDIENCE] }],
    },
    admin('admin-all-roles', 1, [...APP_ROLES]),
    ...APP_ROLES.map((role, i) => admin(`admin-${role.toLowerCase().replace('.', '-')}`, 16 + i, [role])),
    admin('admin-no-role', 2, []),
    admin('other-tenant-admin', 3, [...APP_ROLES], DEMO.otherTenantId),
  ];
}

/** What a newcomer needs to call the app as an admin: ids, endpoints, and credentials. */
export function demoDescription(origin: string) {
  const clients = demoClients();
  const tokenEndpoint = `${origin}/${DEMO.tenantId}/oauth2/v2.0/token`;
  const admin = clients.find((c) => c.name === 'admin-all-roles')!;
  return {
    tenantId: DEMO.tenantId,
    tenantName: DEMO.tenantName,
    domain: DEMO.domain,
    otherTenantId: DEMO.otherTenantId,
    authorityHost: origin,
    tokenEndpoint,
    graphBaseUrl: `${origin}/v1.0`,
    app: {
      clientId: DEMO.app.clientId,
      clientSecret: DEMO.app.clientSecret,
      adminApiScope: `api://${DEMO.app.clientId}/.default`,
      graphPermissions: clients.find((c) => c.name === 'app')!.graphPermissions,
    },
    adminClients: clients
      .filter((c) => c.name !== 'app')
      .map((c) => ({ name: c.name, clientId: c.clientId, clientSecret: c.clientSecret, tenantId: c.tenantId, roles: c.roles })),
    users: demoUsers().map(({ upn, name, roles }) => ({ upn, name, roles })),
    example: `curl -sk ${tokenEndpoint} -d grant_type=client_credentials -d client_id=${admin.clientId} -d client_secret=${admin.clientSecret} -d scope=api://${DEMO.app.clientId}/.default`,
  };
}
