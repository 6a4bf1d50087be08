import type { ServerResponse } from 'node:http';
import type { Entra } from './entra';
import { setCompliance } from './graph/compliance';
import type { FaultRule, GraphService } from './graph/framework';
import { mailSettings } from './graph/mail';
import { mailboxLimits, mailboxThrottle } from './graph/throttle';
import { addVppToken, vppSettings } from './graph/vpp';
import { sandboxClock } from './clock';
import { sendJson, sendProblem, type SandboxRequest } from './http';
import { addManagedDevices } from './seed';
import { demoDescription } from './demo';
import type { Sandbox, SandboxHandler } from './server';

/**
 * The sandbox's control API (/_sandbox/…, plain http): what tests and developers use to look inside
 * and to steer it. One table of routes, each a small function, grouped by what it controls.
 */
type Route = (r: SandboxRequest, res: ServerResponse) => void | Promise<void>;

const badRequest = (res: ServerResponse, detail: string) => sendProblem(res, 400, 'Bad Request', detail);

/** Microsoft Graph: request statistics, injected faults, contract violations. */
function graphRoutes(graph: GraphService): Record<string, Route> {
  return {
    'GET /_sandbox/stats': (_r, res) => sendJson(res, 200, graph.stats),
    'DELETE /_sandbox/stats': (_r, res) => {
      graph.resetStats();
      sendJson(res, 204, undefined);
    },
    'PUT /_sandbox/faults': (r, res) => {
      const body = r.json() as { rules?: FaultRule[]; seed?: number } | undefined;
      if (!body || !Array.isArray(body.rules))
        return badRequest(
          res,
          'Send {"rules": [{"method"?, "path"?, "rate"?, "count"?, "status"?, "retryAfter"?, "latencyMs"?, "afterEffect"?}], "seed"?}.',
        );
      graph.setFaults(body.rules, body.seed);
      sendJson(res, 200, { rules: body.rules });
    },
    'DELETE /_sandbox/faults': (_r, res) => {
      graph.setFaults([]);
      sendJson(res, 204, undefined);
    },
    'GET /_sandbox/contract': (_r, res) => sendJson(res, 200, { checked: graph.stats.requests, violations: graph.violations }),
  };
}

/** Entra ID: what the admin-consent page answers. */
function entraRoutes(entra: Entra): Record<string, Route> {
  return {
    'PUT /_sandbox/consent': (r, res) => {
      const decision = (r.json() as { decision?: string } | undefined)?.decision;
      if (decision !== 'grant' && decision !== 'deny') return badRequest(res, 'Send {"decision": "grant" | "deny"}.');
      entra.consentDecision = decision;
      sendJson(res, 200, { decision });
    },
  };
}

/** The demo tenant's data: devices, VPP tokens, compliance, mail. */
function tenantRoutes(sandbox: Sandbox): Record<string, Route> {
  return {
    'GET /_sandbox/demo': (_r, res) => sendJson(res, 200, demoDescription(sandbox.origin)),
    'POST /_sandbox/managed-devices': (r, res) => {
      const b = (r.json() ?? {}) as { count?: number; owner?: 'company' | 'personal'; os?: 'iOS' | 'Android' };
      const count = Number(b.count ?? 1);
      if (!Number.isInteger(count) || count < 1 || count > 100_000)
        return badRequest(res, 'Send {"count": 1..100000, "owner"?: "company"|"personal", "os"?: "iOS"|"Android"}.');
      const added = addManagedDevices(sandbox.store, count, b.owner, b.os);
      sendJson(res, 201, { value: added.map((d) => ({ id: d.id, deviceName: d.deviceName, phoneNumber: d.phoneNumber })) });
    },
    'POST /_sandbox/vpp/tokens': (r, res) => {
      const b = (r.json() ?? {}) as { count?: number; appsPerToken?: number; syncMs?: number };
      const count = Number(b.count ?? 1);
      const apps = Number(b.appsPerToken ?? 10);
      if (!Number.isInteger(count) || count < 1 || count > 1000 || !Number.isInteger(apps) || apps < 0 || apps > 100_000)
        return badRequest(res, 'Send {"count": 1..1000, "appsPerToken": 0..100000, "syncMs"?}.');
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
      sendJson(res, 201, { value: added.map((t) => ({ id: t.id, organizationName: t.organizationName })) });
    },
    'POST /_sandbox/compliance': (r, res) => {
      const b = (r.json() ?? {}) as { deviceId?: string; complianceState?: string };
      try {
        const d = setCompliance(sandbox.store, String(b.deviceId ?? ''), String(b.complianceState ?? ''));
        sendJson(res, 200, { id: d.id, deviceName: d.deviceName, complianceState: d.complianceState });
      } catch (e) {
        badRequest(
          res,
          `Send {"deviceId": "<managed device id>", "complianceState": "compliant" | "noncompliant" | "inGracePeriod" | "unknown"}: ${(e as Error).message}`,
        );
      }
    },
    'PUT /_sandbox/mail': (r, res) => {
      const delay = (r.json() as { sentItemsDelayMs?: unknown } | undefined)?.sentItemsDelayMs;
      if (typeof delay !== 'number' || delay < 0 || delay > 600_000) return badRequest(res, 'Send {"sentItemsDelayMs": 0..600000}.');
      mailSettings.sentItemsDelayMs = delay;
      sendJson(res, 200, { ...mailSettings });
    },
    'GET /_sandbox/mailbox-limits': (_r, res) =>
      sendJson(res, 200, { limits: mailboxLimits, usage: Object.fromEntries(mailboxThrottle.usage) }),
    'PUT /_sandbox/mailbox-limits': (r, res) => {
      const body = (r.json() ?? {}) as Record<string, unknown>;
      const bad = Object.entries(body).filter(([k, v]) => !(k in mailboxLimits) || typeof v !== 'number' || !Number.isInteger(v) || v < 1);
      if (bad.length)
        return badRequest(
          res,
          `Send positive integers for any of ${Object.keys(mailboxLimits).join(', ')}; refused: ${bad.map(([k]) => k).join(', ')}.`,
        );
      Object.assign(mailboxLimits, body);
      sendJson(res, 200, mailboxLimits);
    },
    'GET /_sandbox/clock': (_r, res) => sendJson(res, 200, { offsetMs: sandboxClock.offsetMs, now: sandboxClock.iso() }),
    'PUT /_sandbox/clock': (r, res) => {
      const offset = (r.json() as { offsetMs?: unknown } | undefined)?.offsetMs;
      if (typeof offset !== 'number' || !Number.isFinite(offset) || offset < 0)
        return badRequest(
          res,
          'Send {"offsetMs": n}: how far ahead of real time the tenant is (the local host sends it when its clock moves).',
        );
      sandboxClock.set(offset);
      sendJson(res, 200, { offsetMs: offset, now: sandboxClock.iso() });
    },
    'GET /_sandbox/outbox': (_r, res) => sendJson(res, 200, { value: [...sandbox.store.table('outbox').values()] }),
    'POST /_sandbox/reset': (_r, res) => {
      sandbox.reset();
      sendJson(res, 204, undefined);
    },
  };
}

/** Answers /_sandbox/… requests: the routes above, then the providers' own control endpoints. */
export function controlApi(sandbox: Sandbox, providers: SandboxHandler[]): (r: SandboxRequest, res: ServerResponse) => Promise<void> {
  const routes: Record<string, Route> = { ...graphRoutes(sandbox.graph), ...entraRoutes(sandbox.entra), ...tenantRoutes(sandbox) };
  return async (r, res) => {
    const route = routes[`${r.method} ${r.path}`];
    if (route) return route(r, res);
    for (const h of providers) if (await h(r, res)) return;
    sendProblem(res, 404, 'Not Found', `No sandbox control endpoint ${r.method} ${r.path}.`);
  };
}
