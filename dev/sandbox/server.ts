import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { DEMO, demoClients } from './demo';
import { Entra } from './entra';
import { GraphService, TenantStore, type FaultRule } from './graph/framework';
import { registerDirectory } from './graph/directory';
import { registerIntune } from './graph/intune';
import { mailSettings, registerMail } from './graph/mail';
import { registerConfigurations } from './graph/configurations';
import { registerCompliance, seedCompliance, setCompliance } from './graph/compliance';
import { addVppToken, registerVpp, seedVpp, vppSettings } from './graph/vpp';
import { readRequest, sendJson, type SandboxRequest } from './http';
import { temProvider } from './providers/tem';
import { addManagedDevices, seedTenant } from './seed';
import { ensureCertificate } from './tls';

/**
 * The sandbox tenant: Entra ID, Microsoft Graph and (as connectors arrive) the providers the app
 * integrates with, on one port that answers both https:// (what the app calls, since MSAL insists
 * on https) and http:// (the /_sandbox control API, handy with curl).
 */
export interface SandboxOptions {
  port?: number;
  host?: string;
  certDir?: string;
  log?: (line: string) => void;
}

export interface Sandbox {
  port: number;
  /** https://localhost:<port>: Entra authority host and Graph base URL for the app. */
  origin: string;
  /** http://localhost:<port>: the control API. */
  controlUrl: string;
  certPath: string;
  entra: Entra;
  graph: GraphService;
  stores: Map<string, TenantStore>;
  store: TenantStore;
  reset(): void;
  stop(): Promise<void>;
}

export type SandboxHandler = (req: SandboxRequest, res: ServerResponse) => Promise<boolean>;

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const cert = await ensureCertificate(opts.certDir);
  let port = opts.port ?? 7072;
  const origin = () => `https://localhost:${port}`;
  const stores = new Map<string, TenantStore>();
  const tenants = new Set<string>([DEMO.tenantId, DEMO.otherTenantId]);
  const entra = new Entra(origin, demoClients(), tenants);
  await entra.init();
  const graph = new GraphService(entra, stores, origin);
  registerDirectory(graph);
  registerIntune(graph);
  registerMail(graph);
  registerConfigurations(graph);
  registerVpp(graph);
  registerCompliance(graph);

  const reset = () => {
    stores.clear();
    const demo = new TenantStore();
    seedTenant(demo);
    seedVpp(demo);
    seedCompliance(demo);
    stores.set(DEMO.tenantId, demo);
    stores.set(DEMO.otherTenantId, new TenantStore());
    graph.setFaults([]);
    mailSettings.sentItemsDelayMs = 0;
    graph.resetStats();
    graph.violations.length = 0;
    entra.consentDecision = 'grant';
    entra.consents.clear();
  };
  reset();

  const sandbox = {
    get port() {
      return port;
    },
    get origin() {
      return origin();
    },
    get controlUrl() {
      return `http://localhost:${port}`;
    },
    certPath: cert.certPath,
    entra,
    graph,
    stores,
    get store() {
      return stores.get(DEMO.tenantId)!;
    },
    reset,
    stop: () => Promise.resolve(),
  } as Sandbox;
  // The providers the connectors integrate with.
  const handlers: SandboxHandler[] = [temProvider()];

  const handle = (secure: boolean) => async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const r = await readRequest(req, secure, secure ? origin() : sandbox.controlUrl);
      opts.log?.(`${r.method} ${r.url.pathname}${r.url.search}`);
      if (r.path.startsWith('/_sandbox/')) return await control(r, res);
      if (await graph.handle(r, res)) return;
      if (await entra.handle(r, res)) return;
      for (const h of handlers) if (await h(r, res)) return;
      sendJson(res, 404, { error: 'not_found', message: `The sandbox has nothing at ${r.path}.` });
    } catch (e) {
      opts.log?.(`sandbox error: ${(e as Error).stack}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'sandbox_error', message: (e as Error).message });
      else res.end();
    }
  };

  const control = async (r: SandboxRequest, res: ServerResponse) => {
    const route = `${r.method} ${r.path}`;
    switch (route) {
      case 'GET /_sandbox/demo':
        return sendJson(res, 200, demoDescription(origin()));
      case 'GET /_sandbox/stats':
        return sendJson(res, 200, graph.stats);
      case 'DELETE /_sandbox/stats':
        graph.resetStats();
        return sendJson(res, 204, undefined);
      case 'PUT /_sandbox/faults': {
        const body = r.json() as { rules?: FaultRule[]; seed?: number } | undefined;
        if (!body || !Array.isArray(body.rules))
          return sendJson(res, 400, {
            error: 'bad_request',
            message:
              'Send {"rules": [{"method"?, "path"?, "rate"?, "count"?, "status"?, "retryAfter"?, "latencyMs"?, "afterEffect"?}], "seed"?}.',
          });
        graph.setFaults(body.rules, body.seed);
        return sendJson(res, 200, { rules: body.rules });
      }
      case 'DELETE /_sandbox/faults':
        graph.setFaults([]);
        return sendJson(res, 204, undefined);
      case 'GET /_sandbox/contract':
        return sendJson(res, 200, { checked: graph.stats.requests, violations: graph.violations });
      case 'PUT /_sandbox/consent': {
        const decision = (r.json() as { decision?: string } | undefined)?.decision;
        if (decision !== 'grant' && decision !== 'deny')
          return sendJson(res, 400, { error: 'bad_request', message: 'Send {"decision": "grant" | "deny"}.' });
        entra.consentDecision = decision;
        return sendJson(res, 200, { decision });
      }
      case 'POST /_sandbox/managed-devices': {
        const b = (r.json() ?? {}) as { count?: number; owner?: 'company' | 'personal'; os?: 'iOS' | 'Android' };
        const count = Number(b.count ?? 1);
        if (!Number.isInteger(count) || count < 1 || count > 100_000)
          return sendJson(res, 400, {
            error: 'bad_request',
            message: 'Send {"count": 1..100000, "owner"?: "company"|"personal", "os"?: "iOS"|"Android"}.',
          });
        const added = addManagedDevices(sandbox.store, count, b.owner, b.os);
        return sendJson(res, 201, { value: added.map((d) => ({ id: d.id, deviceName: d.deviceName, phoneNumber: d.phoneNumber })) });
      }
      case 'POST /_sandbox/vpp/tokens': {
        const b = (r.json() ?? {}) as { count?: number; appsPerToken?: number; syncMs?: number };
        const count = Number(b.count ?? 1);
        const apps = Number(b.appsPerToken ?? 10);
        if (!Number.isInteger(count) || count < 1 || count > 1000 || !Number.isInteger(apps) || apps < 0 || apps > 100_000)
          return sendJson(res, 400, { error: 'bad_request', message: 'Send {"count": 1..1000, "appsPerToken": 0..100000, "syncMs"?}.' });
        if (b.syncMs !== undefined) vppSettings.syncMs = Number(b.syncMs);
        const start = sandbox.store.table('vppTokens').size;
        const added = Array.from({ length: count }, (_, i) =>
          addVppToken(sandbox.store, {
            key: `bulk-${start + i}`,
            organizationName: `Bulk ${start + i}`,
            expiresInDays: 365,
            lastSyncDaysAgo: 0.5,
            apps: Array.from({ length: apps }, (_, j) => [`App ${j}`, 100 + (j % 50), j % 100] as [string, number, number]),
          }),
        );
        return sendJson(res, 201, { value: added.map((t) => ({ id: t.id, organizationName: t.organizationName })) });
      }
      case 'POST /_sandbox/compliance': {
        const b = (r.json() ?? {}) as { deviceId?: string; complianceState?: string };
        try {
          const d = setCompliance(sandbox.store, String(b.deviceId ?? ''), String(b.complianceState ?? ''));
          return sendJson(res, 200, { id: d.id, deviceName: d.deviceName, complianceState: d.complianceState });
        } catch (e) {
          return sendJson(res, 400, {
            error: 'bad_request',
            message: `Send {"deviceId": "<managed device id>", "complianceState": "compliant" | "noncompliant" | "inGracePeriod" | "unknown"}: ${(e as Error).message}`,
          });
        }
      }
      case 'PUT /_sandbox/mail': {
        const delay = (r.json() as { sentItemsDelayMs?: unknown } | undefined)?.sentItemsDelayMs;
        if (typeof delay !== 'number' || delay < 0 || delay > 600_000)
          return sendJson(res, 400, { error: 'bad_request', message: 'Send {"sentItemsDelayMs": 0..600000}.' });
        mailSettings.sentItemsDelayMs = delay;
        return sendJson(res, 200, { ...mailSettings });
      }
      case 'GET /_sandbox/outbox':
        return sendJson(res, 200, { value: [...sandbox.store.table('outbox').values()] });
      case 'POST /_sandbox/reset':
        reset();
        return sendJson(res, 204, undefined);
    }
    for (const h of handlers) if (await h(r, res)) return;
    return sendJson(res, 404, { error: 'not_found', message: `No sandbox control endpoint ${route}.` });
  };

  const plain = createHttpServer((req, res) => void handle(false)(req, res));
  const tls = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => void handle(true)(req, res));
  // One port, two protocols: a TLS handshake starts with byte 0x16.
  const front = createNetServer((socket) => {
    socket.once('data', (first) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? tls : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((ok, fail) => {
    front.once('error', fail);
    front.listen(port, opts.host ?? '127.0.0.1', () => ok());
  });
  port = (front.address() as AddressInfo).port;
  sandbox.stop = () =>
    new Promise<void>((r) => {
      plain.closeAllConnections();
      tls.closeAllConnections();
      front.close(() => r());
    });
  return sandbox;
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
    example: `curl -sk ${tokenEndpoint} -d grant_type=client_credentials -d client_id=${admin.clientId} -d client_secret=${admin.clientSecret} -d scope=api://${DEMO.app.clientId}/.default`,
  };
}
