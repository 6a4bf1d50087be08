import type { Entity } from '../../dev/sandbox/graph/framework';
import { stableId } from '../../dev/sandbox/seed';
import { adminCaller, eventually, type TestEnv } from './env';

/** Driving the TEM connector as an admin and a provider would, over HTTP. */
export function temDriver(env: TestEnv, api: string) {
  const call = adminCaller(env, api);

  /** As an admin script: asks for a start link, then walks the browser through it → Entra admin consent → callback, carrying the cookie. */
  const connect = async (providerId: string) => {
    const link = await call('GET', `tem/providers/${providerId}/connect`);
    expect(link.status).toBe(200);
    const start = await fetch(link.body.url as string, { redirect: 'manual' });
    const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0];
    const consent = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = consent.headers.get('location')!;
    const done = await fetch(callback, { redirect: 'manual', headers: { cookie } });
    return { start, consent, callback, cookie, done, page: await done.text() };
  };

  const register = async (name = 'Datalert', extra: Record<string, unknown> = {}) => {
    const r = await call('POST', 'admin/tem/providers', { name, alertEmail: 'telecom-admins@contoso-demo.example', ...extra });
    expect(r.status).toBe(201);
    return r.body as { id: string; secret: string; webhookUrl: string; connectUrl: string };
  };

  const send = async (
    p: { webhookUrl: string; secret: string },
    type: string,
    data: Record<string, unknown>,
    opts: { timestamp?: string; webhookId?: string; copies?: number; concurrency?: number } = {},
  ) => {
    const res = await fetch(`${env.sandbox.controlUrl}/_sandbox/tem/deliveries`, {
      method: 'POST',
      body: JSON.stringify({ url: p.webhookUrl, secret: p.secret, type, data, ...opts }),
    });
    return (await res.json()) as { webhookId: string; statuses: number[] };
  };

  const group = (kind: 'data' | 'roaming') =>
    [...env.sandbox.store.table('groups').values()].find((g) => g.mailNickname === `tem-block-${kind}`);
  const members = (kind: 'data' | 'roaming') => {
    const g = group(kind);
    return g ? [...(env.sandbox.store.groupMembers.get(g.id) ?? [])] : [];
  };
  /** The Entra device object of a seeded device (by its key, e.g. adele-iphone). */
  const deviceObject = (key: string) => stableId(`device:${key}`);
  const deviceObjectOf = (managed: Entity) =>
    [...env.sandbox.store.table('devices').values()].find((d) => d.deviceId === managed.azureADDeviceId)!.id;

  const ledger = async (providerId: string) =>
    (await call('GET', `admin/tem/providers/${providerId}/ledger?top=1000`)).body.value as {
      eventId?: string;
      status: string;
      reason?: string;
      line?: string;
      kind?: string;
      action: string;
    }[];

  const connected = async (providerId: string) => {
    const c = await connect(providerId);
    expect(c.done.status).toBe(200);
    // Set-up job: groups, profiles, assignments, lines.
    await eventually(
      async () => group('roaming') && group('data') && (await call('GET', 'admin/tem/lines')).body.value.length > 0,
      20_000,
      'TEM set-up',
    );
    return c;
  };

  return { call, connect, register, send, group, members, deviceObject, deviceObjectOf, ledger, connected };
}
