import { resolve } from 'node:path';
import { freePort, startAzurite, type Azurite } from '../../dev/azurite';
import { startHost, type RunningHost } from '../../dev/host/host';
import { demoClients, DEMO } from '../../dev/sandbox/demo';
import { startSandbox, type Sandbox } from '../../dev/sandbox/server';
import { localSettings } from '../../dev/settings';
import { resetConfig } from '../../shared/platform/config';
import { openApiViolations } from './openapi';

/**
 * One suite's world: its own Azurite and sandbox on free ports, the app's settings pointing at them,
 * and optionally the local host running an entry module. Real sockets throughout.
 */
export interface TestEnv {
  azurite: Azurite;
  sandbox: Sandbox;
  host?: RunningHost;
  settings: Record<string, string>;
  /** Lines the host logged (invocations and the app's log lines). */
  logs: string[];
  /** An access token for a demo client (by name) for `scope` (default: the admin API). */
  token(client: string, scope?: string): Promise<string>;
  stop(): Promise<void>;
}

export const ROOT = resolve(__dirname, '..', '..', '..');

export async function startEnv(
  opts: { entry?: string; hostJson?: string; settings?: Record<string, string>; triggers?: boolean } = {},
): Promise<TestEnv> {
  const [azurite, sandbox, port] = await Promise.all([
    startAzurite(),
    startSandbox({ port: 0, certDir: resolve(ROOT, '.dev', 'certs') }),
    freePort(),
  ]);
  const settings: Record<string, string> = {
    ...localSettings(ROOT),
    PUBLIC_BASE_URL: `http://localhost:${port}`,
    AzureWebJobsStorage: azurite.connectionString,
    ENTRA_AUTHORITY_HOST: sandbox.origin,
    GRAPH_BASE_URL: sandbox.origin,
    TEAMVIEWER_API_URL: `${sandbox.origin}/teamviewer/api/v1`,
    TEAMVIEWER_AUTHORIZE_URL: `${sandbox.origin}/teamviewer/oauth2/authorize`,
    // Tests call the new-token sync themselves; its timer would start syncs mid-test at a quarter hour.
    VPP_NEW_TOKENS_SCHEDULE: '0 0 0 1 1 *',
    ...opts.settings,
  };
  Object.assign(process.env, settings);
  resetConfig();
  const lines: string[] = [];
  const host = opts.entry
    ? await startHost({
        entry: resolve(ROOT, opts.entry),
        port,
        hostJson: opts.hostJson ?? resolve(ROOT, 'host.json'),
        env: process.env,
        log: (l) => lines.push(l),
        triggers: opts.triggers,
      })
    : undefined;
  return {
    azurite,
    sandbox,
    host,
    settings,
    logs: lines,
    token: async (name, scope = `api://${DEMO.app.clientId}/.default`) => {
      const c = demoClients().find((x) => x.name === name);
      if (!c) throw new Error(`No demo client ${name}`);
      const res = await fetch(`${sandbox.origin}/${c.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope }),
      });
      const body = (await res.json()) as { access_token?: string; error_description?: string };
      if (!body.access_token) throw new Error(`token for ${name}: ${body.error_description}`);
      return body.access_token;
    },
    stop: async () => {
      await host?.stop();
      await Promise.all([sandbox.stop(), azurite.stop()]);
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Calls the admin API as the demo admin with every role; JSON in, JSON out. */
export function adminCaller(env: TestEnv, api: string, client = 'admin-all-roles') {
  let token: string | undefined;
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    token ??= await env.token(client);
    const raw = Buffer.isBuffer(body);
    const res = await fetch(`${api}/${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body !== undefined && !raw ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : raw ? new Uint8Array(body) : JSON.stringify(body),
    });
    const text = await res.text();
    const type = res.headers.get('content-type');
    const parsed = text && /json/.test(type ?? '') ? JSON.parse(text) : text || undefined;
    // Every answer the tests see is checked against the app's OpenAPI document.
    expect(await openApiViolations(method, res.url, res.status, type, parsed)).toEqual([]);
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
