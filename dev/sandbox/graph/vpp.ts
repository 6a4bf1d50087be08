import { createHash } from 'node:crypto';
import { GraphError, type Entity, type GraphContext, type GraphService, type TenantStore } from './framework';
import { sandboxClock } from '../clock';

/**
 * Apple VPP in Intune: tokens whose syncLicenses moves lastSyncStatus through inProgress to
 * completed (or failed for tokens Apple will not sync), VPP apps (mobileApps cast to iosVppApp)
 * and VPP eBooks (managedEBooks cast to iosVppEBook) with licence counts.
 */
export const vppSettings = { syncMs: 300 };

const id = (s: string) => {
  const h = createHash('sha256').update(`vpp:${s}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-b${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const DAY = 86_400_000;

export function addVppToken(
  store: TenantStore,
  o: {
    key: string;
    organizationName: string;
    state?: string;
    expiresInDays: number;
    lastSyncDaysAgo?: number;
    apps?: [string, number, number][];
    ebooks?: [string, number, number][];
  },
): Entity {
  const now = sandboxClock.now();
  const token: Entity = {
    '@odata.type': '#microsoft.graph.vppToken',
    id: id(`token:${o.key}`),
    organizationName: o.organizationName,
    appleId: `vpp@${o.key}.example`,
    countryOrRegion: 'gb',
    vppTokenAccountType: 'business',
    state: o.state ?? 'valid',
    expirationDateTime: new Date(now + o.expiresInDays * DAY).toISOString(),
    lastSyncDateTime: o.lastSyncDaysAgo === undefined ? '0001-01-01T00:00:00Z' : new Date(now - o.lastSyncDaysAgo * DAY).toISOString(),
    lastModifiedDateTime: new Date(now - 30 * DAY).toISOString(),
    lastSyncStatus: o.lastSyncDaysAgo === undefined ? 'none' : 'completed',
    automaticallyUpdateApps: true,
    token: `sandbox-vpp-token-${o.key}`,
  };
  store.table('vppTokens').set(token.id, token);
  for (const [name, total, used] of o.apps ?? []) {
    const appId = id(`app:${o.key}:${name}`);
    store.table('mobileApps').set(appId, {
      '@odata.type': '#microsoft.graph.iosVppApp',
      id: appId,
      displayName: name,
      publisher: 'Sandbox Apps Ltd',
      bundleId: `com.example.${name.toLowerCase().replace(/[^a-z0-9]+/g, '')}`,
      appStoreUrl: `https://apps.apple.com/app/${encodeURIComponent(name)}`,
      totalLicenseCount: total,
      usedLicenseCount: used,
      vppTokenAppleId: token.appleId,
      vppTokenOrganizationName: token.organizationName,
      vppTokenAccountType: 'business',
      publishingState: 'published',
      isFeatured: false,
      createdDateTime: new Date(now - 60 * DAY).toISOString(),
      lastModifiedDateTime: new Date(now - DAY).toISOString(),
    });
  }
  for (const [name, total, used] of o.ebooks ?? []) {
    const bookId = id(`ebook:${o.key}:${name}`);
    store.table('managedEBooks').set(bookId, {
      '@odata.type': '#microsoft.graph.iosVppEBook',
      id: bookId,
      displayName: name,
      publisher: 'Sandbox Books',
      totalLicenseCount: total,
      usedLicenseCount: used,
      vppTokenId: token.id,
      vppOrganizationName: token.organizationName,
      appleId: token.appleId,
      genres: ['Business'],
      language: 'en',
      seller: 'Sandbox Books',
      createdDateTime: new Date(now - 60 * DAY).toISOString(),
      lastModifiedDateTime: new Date(now - DAY).toISOString(),
    });
  }
  return token;
}

/** The demo tenant's tokens: healthy, expiring soon, expired, held by another MDM, and stale. */
export function seedVpp(store: TenantStore): void {
  addVppToken(store, {
    key: 'contoso',
    organizationName: 'Contoso Ltd',
    expiresInDays: 200,
    lastSyncDaysAgo: 0.1,
    apps: [
      ['Microsoft Teams', 500, 320],
      ['Slack', 200, 198],
      ['Zoom', 150, 40],
      ['Salesforce', 80, 80],
    ],
    ebooks: [['Security Handbook', 50, 12]],
  });
  addVppToken(store, {
    key: 'contoso-edu',
    organizationName: 'Contoso Education',
    expiresInDays: 3,
    lastSyncDaysAgo: 0.2,
    apps: [
      ['Keynote', 100, 10],
      ['Pages', 100, 55],
    ],
  });
  addVppToken(store, {
    key: 'contoso-legacy',
    organizationName: 'Contoso Legacy',
    state: 'expired',
    expiresInDays: -10,
    lastSyncDaysAgo: 12,
    apps: [['Old CRM', 20, 5]],
  });
  addVppToken(store, {
    key: 'contoso-partner',
    organizationName: 'Contoso Partner',
    state: 'assignedToExternalMDM',
    expiresInDays: 120,
    lastSyncDaysAgo: 4,
  });
  addVppToken(store, {
    key: 'contoso-retail',
    organizationName: 'Contoso Retail',
    expiresInDays: 300,
    lastSyncDaysAgo: 2,
    apps: [['Point of Sale', 40, 30]],
  });
}

export function registerVpp(g: GraphService): void {
  const tokens = (ctx: GraphContext) => ctx.store.table('vppTokens');
  g.route('GET', '/deviceAppManagement/vppTokens', (ctx) => g.collection(ctx, [...tokens(ctx).values()]));
  g.route('GET', '/deviceAppManagement/vppTokens/{vppToken-id}', (ctx) =>
    g.entity(ctx, ctx.store.get('vppTokens', ctx.params['vppToken-id'])),
  );
  g.route('POST', '/deviceAppManagement/vppTokens/{vppToken-id}/syncLicenses', (ctx) => {
    const token = ctx.store.get('vppTokens', ctx.params['vppToken-id']);
    if (token.lastSyncStatus === 'inProgress') throw new GraphError(409, 'Conflict', 'A sync of this token is already in progress.');
    token.lastSyncStatus = 'inProgress';
    setTimeout(() => {
      const ok = token.state === 'valid' && Date.parse(String(token.expirationDateTime)) > sandboxClock.now();
      token.lastSyncStatus = ok ? 'completed' : 'failed';
      if (ok) token.lastSyncDateTime = sandboxClock.iso();
    }, vppSettings.syncMs).unref();
    return { status: 200, body: token };
  });
  const apps = (ctx: GraphContext, vppOnly: boolean) =>
    [...ctx.store.table('mobileApps').values()].filter((a) => !vppOnly || a['@odata.type'] === '#microsoft.graph.iosVppApp');
  g.route('GET', '/deviceAppManagement/mobileApps', (ctx) => g.collection(ctx, apps(ctx, false)));
  g.route('GET', '/deviceAppManagement/mobileApps/graph.iosVppApp', (ctx) =>
    g.collection(ctx, apps(ctx, true), { context: 'deviceAppManagement/mobileApps/microsoft.graph.iosVppApp' }),
  );
  g.route('GET', '/deviceAppManagement/mobileApps/{mobileApp-id}', (ctx) =>
    g.entity(ctx, ctx.store.get('mobileApps', ctx.params['mobileApp-id'])),
  );
  const books = (ctx: GraphContext) => [...ctx.store.table('managedEBooks').values()];
  g.route('GET', '/deviceAppManagement/managedEBooks', (ctx) => g.collection(ctx, books(ctx)));
  g.route('GET', '/deviceAppManagement/managedEBooks/graph.iosVppEBook', (ctx) =>
    g.collection(
      ctx,
      books(ctx).filter((b) => b['@odata.type'] === '#microsoft.graph.iosVppEBook'),
      { context: 'deviceAppManagement/managedEBooks/microsoft.graph.iosVppEBook' },
    ),
  );
}
