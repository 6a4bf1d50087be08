import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { DEMO, demoClients } from './demo';
import { Entra } from './entra';
import { GraphService, TenantStore } from './graph/framework';
import { registerDirectory } from './graph/directory';
import { registerIntune } from './graph/intune';
import { registerMail, resetMailSettings, serveUpload } from './graph/mail';
import { registerConfigurations } from './graph/configurations';
import { registerCompliance, seedCompliance } from './graph/compliance';
import { registerVpp, seedVpp } from './graph/vpp';
import { readRequest, sendJson, type SandboxRequest } from './http';
import { ArchiveProvider } from './providers/archive';
import { temProvider } from './providers/tem';
import { TeamViewerProvider } from './providers/teamviewer';
import { controlApi } from './control';
import { seedTenant } from './seed';
import { ensureCertificate } from './tls';
import { sandboxClock } from './clock';

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
  /** The TeleMessage-style archive provider. */
  archive: ArchiveProvider;
  /** TeamViewer's OAuth and Web API. */
  teamviewer: TeamViewerProvider;
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

  // The archive provider, seeded with a realistic day (a 15 MB MMS and a 100 MB voice recording among them).
  let archive = new ArchiveProvider();
  let teamviewer = new TeamViewerProvider(origin);
  const reset = () => {
    stores.clear();
    const demo = new TenantStore();
    seedTenant(demo);
    seedVpp(demo);
    seedCompliance(demo);
    stores.set(DEMO.tenantId, demo);
    stores.set(DEMO.otherTenantId, new TenantStore());
    graph.setFaults([]);
    resetMailSettings();
    graph.resetStats();
    graph.violations.length = 0;
    entra.consentDecision = 'grant';
    entra.consents.clear();
    sandboxClock.set(0);
    archive = new ArchiveProvider();
    archive.seedDay(new Date(sandboxClock.now() - 86_400_000).toISOString().slice(0, 10), { large: true });
    teamviewer = new TeamViewerProvider(origin);
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
    get archive() {
      return archive;
    },
    get teamviewer() {
      return teamviewer;
    },
    reset,
    stop: () => Promise.resolve(),
  } as Sandbox;
  // The providers the connectors integrate with.
  const handlers: SandboxHandler[] = [
    temProvider(),
    (r, res) => Promise.resolve(serveUpload(r, res)),
    // Through `archive` as it is now: a reset replaces it.
    (r, res) => (r.path.startsWith('/_sandbox/') ? Promise.resolve(archive.control(r, res)) : archive.handle(r, res)),
    (r, res) => (r.path.startsWith('/_sandbox/') ? Promise.resolve(teamviewer.control(r, res)) : teamviewer.handle(r, res)),
  ];

  const control = controlApi(sandbox, handlers);

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
