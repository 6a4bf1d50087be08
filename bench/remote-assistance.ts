import { stableId } from '../dev/sandbox/seed';
import { adminToken, fmt, load, startProcess, table, type World } from './lib';

/**
 * Remote-assistance session requests per second and their p99 through the app's API (record the
 * request, read the device and its user from Graph, create the TeamViewer session, email the
 * invitation, record the outcome), beside direct session creates against the sandbox's TeamViewer
 * at the same concurrency in the same run: the floor the app cannot beat.
 */
export async function benchRemoteAssistance(world: World, connections = 16, seconds = 5): Promise<void> {
  // Corporate licence on both sides, so neither budget ends the run early.
  world.sandbox.teamviewer.settings.tier = 'corporate';
  const host = await startProcess(
    ['dist/dev/host/cli.js'],
    { ...world.settings, LOCAL_HOST_TRIGGERS: 'http', TEAMVIEWER_REQUESTS: '36000/86400' },
    (p) => `http://127.0.0.1:${p}/api/health`,
  );
  try {
    const api = `http://127.0.0.1:${host.port}/api`;
    const auth = { Authorization: `Bearer ${await adminToken(world)}` };
    await connect(api, auth, world);

    // The floor: the same create, straight to the simulator (its plain-http side) with the token the app holds.
    const [token] = [...world.sandbox.teamviewer.access].find(([, t]) => !t.revoked) ?? [];
    const direct = (secs: number) =>
      load({
        url: `${world.sandbox.controlUrl}/teamviewer/api/v1/sessions`,
        connections,
        seconds: secs,
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ groupname: 'Intune remote assistance', description: 'bench', end_customer: { name: 'Diego Siciliani' } }),
      });
    const ours = (secs: number) =>
      load({
        url: `${api}/admin/remote-assistance/sessions`,
        connections,
        seconds: secs,
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: stableId('managed:diego-android') }),
      });
    await direct(1); // warm-up
    const floor = await direct(seconds);
    await ours(1);
    const app = await ours(seconds);
    const row = (what: string, l: Awaited<ReturnType<typeof load>>) => ({
      what,
      'requests/s': fmt(l.rps),
      'p50 ms': fmt(l.p50),
      'p99 ms': fmt(l.p99),
      requests: l.requests,
      'errors + non-2xx': l.errors + l.non2xx,
    });
    table(`Remote-assistance session requests, ${connections} connections, ${seconds} s each`, [
      row('through the app (record, Graph device, TeamViewer, invitation mail, record)', app),
      row('direct TeamViewer creates against the sandbox (floor)', floor),
      {
        what: 'ratio app / floor',
        'requests/s': `${fmt((100 * app.rps) / floor.rps)}%`,
        'p50 ms': `${fmt(app.p50 / floor.p50)}x`,
        'p99 ms': `${fmt(app.p99 / floor.p99)}x`,
        requests: '',
        'errors + non-2xx': '',
      },
    ]);
  } finally {
    await host.stop();
  }
}

/** Accepts the terms and connects TeamViewer as an admin would: a start link opened in a browser, TeamViewer's sign-in, the callback. */
async function connect(api: string, auth: Record<string, string>, world: World): Promise<void> {
  const terms = await fetch(`${api}/admin/remote-assistance/terms`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ accept: true }),
  });
  if (!terms.ok) throw new Error(`Accepting the terms answered ${terms.status}`);
  const { url } = (await (await fetch(`${api}/remote-assistance/connect`, { headers: auth })).json()) as { url: string };
  const start = await fetch(url, { redirect: 'manual' });
  const cookie = start.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  // TeamViewer's sign-in page, on the sandbox's plain-http side (this process does not trust its certificate).
  const back = await fetch(start.headers.get('location')!.replace(world.sandbox.origin, world.sandbox.controlUrl), { redirect: 'manual' });
  const done = await fetch(back.headers.get('location')!, { redirect: 'manual', headers: { cookie } });
  if (done.status !== 200) throw new Error(`Connecting TeamViewer ended with ${done.status}: ${await done.text()}`);
}
