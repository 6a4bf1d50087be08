import { CreateLedger } from '../../shared/graph/idempotent';
import { Graph, GraphApiError, graph, msalTokenProvider } from '../../shared/graph/client';
import { config, loadConfig } from '../../shared/platform/config';
import { EntityTable } from '../../shared/platform/storage/tables';
import { openStorageAccount } from '../../shared/platform/storage/connection';
import { DEMO, demoClients } from '../../dev/sandbox/demo';
import { stableId } from '../../dev/sandbox/seed';
import { mailboxLimits, mailboxThrottle } from '../../dev/sandbox/graph/throttle';
import { startEnv, type TestEnv } from '../helpers/env';

/** The Graph client against the sandbox's Graph over HTTPS, with msal-node tokens from its Entra ID. */
let env: TestEnv;
const fastRetry = { maxRetries: 6, baseDelayMs: 5, maxDelayMs: 200 };
const client = (over: Partial<ConstructorParameters<typeof Graph>[0]> = {}) =>
  new Graph({
    baseUrl: config().GRAPH_BASE_URL,
    authProvider: msalTokenProvider(config()),
    retry: fastRetry,
    limits: { total: 8, perMailbox: 4 },
    ...over,
  });

beforeAll(async () => {
  env = await startEnv();
});
afterEach(() => {
  env.sandbox.graph.setFaults([]);
  env.sandbox.graph.resetStats();
});
afterAll(async () => {
  await env?.stop();
  expect(env.sandbox.graph.violations).toEqual([]);
});

test('the app client gets a token with msal-node and reads users; paging follows @odata.nextLink verbatim', async () => {
  const g = graph();
  const first = await g.get<{ value: unknown[]; '@odata.nextLink'?: string }>('/users', { $top: 3 });
  expect(first.value).toHaveLength(3);
  expect(first['@odata.nextLink']).toMatch(/^https:\/\/localhost:\d+\/v1\.0\/users\?.*\$skiptoken=/);
  const all = await g.all<{ userPrincipalName: string; displayName?: string; id: string }>('/users', {
    $top: 3,
    $select: 'id,userPrincipalName',
  });
  expect(all).toHaveLength(8);
  expect(new Set(all.map((u) => u.id)).size).toBe(8);
  expect(all[0].displayName).toBeUndefined(); // $select honoured on every page
  expect(env.sandbox.graph.stats.byRoute['GET /users']).toBe(4); // 1 + 3 pages
});

test('$filter works as Graph applies it', async () => {
  const company = await graph().all<{ deviceName: string }>('/deviceManagement/managedDevices', {
    $filter: "managedDeviceOwnerType eq 'company' and startswith(operatingSystem,'i')",
  });
  expect(company.map((d) => d.deviceName).sort()).toEqual(['adele-iphone', 'alex-iphone', 'megan-ipad']);
});

test('errors become GraphApiError with Graph status and code', async () => {
  const err = await graph()
    .get(`/users/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`)
    .catch((e) => e);
  expect(err).toBeInstanceOf(GraphApiError);
  expect(err).toMatchObject({ graphStatus: 404, code: 'Request_ResourceNotFound', transient: false, status: 404 });
});

test('the sandbox enforces application permissions: a client without them gets 403', async () => {
  const other = demoClients().find((c) => c.name === 'admin-all-roles')!;
  const cfg = loadConfig({ ...process.env, ENTRA_CLIENT_ID: other.clientId, ENTRA_CLIENT_SECRET: other.clientSecret });
  const g = client({ authProvider: msalTokenProvider(cfg) });
  await expect(g.get('/deviceManagement/managedDevices')).rejects.toMatchObject({ graphStatus: 403, code: 'Authorization_RequestDenied' });
});

describe('Graph tokens with the managed identity instead of a secret (the federated credential path used in Azure)', () => {
  const mi = DEMO.managedIdentity;
  // What App Service sets in a function app with a managed identity; here the sandbox answers for it.
  beforeAll(() => {
    process.env.IDENTITY_ENDPOINT = `${env.sandbox.origin}/msi/token`;
    process.env.IDENTITY_HEADER = mi.header;
  });
  afterAll(() => {
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
  });
  const withIdentity = (over: Record<string, string> = {}) =>
    loadConfig({ ...process.env, ENTRA_CLIENT_SECRET: '', ENTRA_MANAGED_IDENTITY_CLIENT_ID: mi.clientId, ...over });

  test("the app reads Graph with its identity's token as the client assertion, no client secret configured", async () => {
    const cfg = withIdentity();
    expect(cfg.ENTRA_CLIENT_SECRET).toBeUndefined();
    const g = client({ authProvider: msalTokenProvider(cfg) });
    const users = await g.get<{ value: unknown[] }>('/users', { $top: 2 });
    expect(users.value).toHaveLength(2);
  });

  test('an app registration that does not trust the identity is refused (no matching federated credential)', async () => {
    const other = demoClients().find((c) => c.name === 'admin-all-roles')!;
    const g = client({ authProvider: msalTokenProvider(withIdentity({ ENTRA_CLIENT_ID: other.clientId })) });
    await expect(g.get('/users', { $top: 1 })).rejects.toThrow(/AADSTS70021: No matching federated identity record/);
  });

  test('without the platform header, or for an identity the app does not have, the identity endpoint gives no token', async () => {
    process.env.IDENTITY_HEADER = 'not-the-header';
    try {
      const wrongHeader = client({
        authProvider: msalTokenProvider(withIdentity({ ENTRA_MANAGED_IDENTITY_CLIENT_ID: stableId('identity:not-assigned-1') })),
      });
      await expect(wrongHeader.get('/users', { $top: 1 })).rejects.toThrow();
    } finally {
      process.env.IDENTITY_HEADER = mi.header;
    }
    const otherIdentity = client({
      authProvider: msalTokenProvider(withIdentity({ ENTRA_MANAGED_IDENTITY_CLIENT_ID: stableId('identity:not-assigned-2') })),
    });
    await expect(otherIdentity.get('/users', { $top: 1 })).rejects.toThrow();
  });
});

test('with 30% of calls throttled (429, with and without Retry-After), every call still lands, and each POST once', async () => {
  env.sandbox.graph.setFaults(
    [
      { path: '/sendMail$', rate: 0.15, status: 429, retryAfter: 0 },
      { path: '/sendMail$', rate: 0.18, status: 429, retryAfter: null },
    ],
    42,
  );
  const g = client();
  const users = [...env.sandbox.store.table('users').values()].map((u) => String(u.userPrincipalName));
  const outbox = env.sandbox.store.table('outbox');
  const before = outbox.size;
  await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      g.post(`/users/${encodeURIComponent(users[i % users.length])}/sendMail`, {
        message: {
          subject: `m${i}`,
          body: { contentType: 'Text', content: 'x' },
          toRecipients: [{ emailAddress: { address: 'a@contoso-demo.example' } }],
        },
        saveToSentItems: false,
      }),
    ),
  );
  // Each POST applied exactly once: 429s are re-sent (Graph did nothing), nothing else is.
  const subjects = [...outbox.values()]
    .slice(before)
    .map((m) => m.subject)
    .sort();
  expect(subjects).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`).sort());
  expect(env.sandbox.graph.stats.faultsInjected).toBeGreaterThan(10);
});

test('a write whose outcome is unknown (504 after the effect) is not re-sent by the client', async () => {
  env.sandbox.graph.setFaults([{ method: 'POST', path: '^/groups$', count: 1, status: 504, afterEffect: true }]);
  const before = env.sandbox.store.table('groups').size;
  const err = await client()
    .post('/groups', {
      '@odata.type': '#microsoft.graph.group',
      displayName: 'Ambiguous',
      mailNickname: 'ambiguous',
      mailEnabled: false,
      securityEnabled: true,
    })
    .catch((e) => e);
  expect(err).toMatchObject({ graphStatus: 504, transient: true, status: 503 });
  expect(env.sandbox.store.table('groups').size).toBe(before + 1);
});

test('createOnce: retrying a create after an ambiguous failure finds the object instead of duplicating it', async () => {
  const account = openStorageAccount(config().storage);
  const ledger = new CreateLedger(new EntityTable('graphcreates', () => account.table('graphcreates')));
  const g = client();
  const nickname = 'tem-block-roaming';
  const op = {
    find: async () => (await g.all<{ id: string }>('/groups', { $filter: `mailNickname eq '${nickname}'` }))[0],
    create: () =>
      g.post<{ id: string }>('/groups', {
        '@odata.type': '#microsoft.graph.group',
        displayName: 'TEM: block roaming',
        mailNickname: nickname,
        mailEnabled: false,
        securityEnabled: true,
      }),
    idOf: (x: { id: string }) => x.id,
  };
  env.sandbox.graph.setFaults([{ method: 'POST', path: '^/groups$', count: 1, status: 504, afterEffect: true }]);
  await expect(ledger.createOnce('groups', 'block-roaming', op)).rejects.toMatchObject({ graphStatus: 504 });
  const second = await ledger.createOnce('groups', 'block-roaming', op);
  const third = await ledger.createOnce('groups', 'block-roaming', op);
  const matching = [...env.sandbox.store.table('groups').values()].filter((x) => x.mailNickname === nickname);
  expect(matching).toHaveLength(1);
  expect(second).toEqual({ id: matching[0].id, created: false });
  expect(third).toEqual(second);
});

test('requests per mailbox stay within 4 in flight, and all requests within the overall cap', async () => {
  env.sandbox.graph.setFaults([{ path: '^/users/', latencyMs: 40 }]);
  const g = client({ limits: { total: 8, perMailbox: 4 } });
  const user = stableId('user:adele');
  await Promise.all(Array.from({ length: 24 }, () => g.get(`/users/${user}/mailFolders`)));
  expect(env.sandbox.graph.stats.mailboxPeak[user]).toBeLessThanOrEqual(4);
  expect(env.sandbox.graph.stats.byStatus['429'] ?? 0).toBe(0);
  expect(g.throttling.limiter.peak.get(`mailbox:${user}`)).toBe(4);

  env.sandbox.graph.resetStats();
  const users = [...env.sandbox.store.table('users').keys()];
  await Promise.all(Array.from({ length: 40 }, (_, i) => g.get(`/users/${users[i % users.length]}/mailFolders`)));
  expect(env.sandbox.graph.stats.peakInFlight).toBeLessThanOrEqual(8);
});

test('without the limiter the sandbox answers MailboxConcurrency 429s (the limit is real)', async () => {
  env.sandbox.graph.setFaults([{ path: '^/users/', latencyMs: 40 }]);
  const g = client({ limits: { total: 64, perMailbox: 64 }, retry: { ...fastRetry, maxRetries: 0 } });
  const user = stableId('user:diego');
  const settled = await Promise.allSettled(Array.from({ length: 12 }, () => g.get(`/users/${user}/mailFolders`)));
  expect(
    settled.filter((s) => s.status === 'rejected' && (s.reason as GraphApiError).code === 'ApplicationThrottled').length,
  ).toBeGreaterThan(0);
});

test("a client told a mailbox's windows paces its requests and uploads to them: nothing is refused", async () => {
  const user = stableId('user:grady');
  mailboxThrottle.reset(); // forget earlier tests' requests, which this client did not send
  Object.assign(mailboxLimits, { requests: 10, requestWindowMs: 2000, uploadBytes: 200_000, uploadWindowMs: 2000 });
  try {
    const g = client({
      limits: {
        total: 8,
        perMailbox: 4,
        mailboxRequests: { amount: 10, windowMs: 2000 },
        mailboxBytes: { amount: 200_000, windowMs: 2000 },
      },
      retry: { ...fastRetry, maxRetries: 0 },
    });
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, () => g.get(`/users/${user}/mailFolders`)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000); // three windows of 10
    // Request bodies count against the upload window: 5 of 60 kB need two windows.
    const folder = (i: number) => ({ '@odata.type': '#microsoft.graph.mailFolder', displayName: `paced-${i}-${'x'.repeat(60_000)}` });
    await Promise.all(Array.from({ length: 5 }, (_, i) => g.post(`/users/${user}/mailFolders`, folder(i))));
    const use = mailboxThrottle.usage.get(user)!;
    expect(use).toMatchObject({ requests: 35, throttled: 0 });
    expect(use.last - use.first).toBeGreaterThanOrEqual(6000);
  } finally {
    mailboxThrottle.reset();
  }
});

test('work that sets room aside in a mailbox (withRoom) waits for it, requests spaced to the windows; work that would wait too long is booked to come back instead', async () => {
  const user = stableId('user:grady');
  mailboxThrottle.reset();
  Object.assign(mailboxLimits, { requests: 6, requestWindowMs: 1000 });
  try {
    const g = client({
      limits: { total: 8, perMailbox: 4, mailboxRequests: { amount: 6, windowMs: 1000 } },
      retry: { ...fastRetry, maxRetries: 0 }, // a refusal fails the test
    });
    const cost = { requests: 3, bytes: 0 };
    const three = async () => {
      for (let i = 0; i < 3; i++) await g.get(`/users/${user}/mailFolders`);
    };
    // Five pieces of work of three requests at once: two fit a window; the others wait for room (none goes over).
    const started = Date.now();
    const done = await Promise.all(Array.from({ length: 5 }, (_, i) => g.throttling.withRoom(user, `w${i}`, cost, 10_000, three)));
    expect(done.every((d) => d.ran)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000); // 15 requests of 6 a window: three windows
    expect(mailboxThrottle.usage.get(user)).toMatchObject({ requests: 15, throttled: 0 });
    // Just after that (the last work's requests still in the window), work needing the whole window
    // that will not wait is booked for when the window is empty; work booked after it needing the
    // whole window too, once that booking has aged out (a window and the margin later).
    const whole = { requests: 6, bytes: 0 };
    const later = await g.throttling.withRoom(user, 'x', whole, 0, three);
    const after = await g.throttling.withRoom(user, 'y', whole, 0, three);
    if (later.ran || after.ran) throw new Error('work ran although the window was full');
    expect(later.waitMs).toBeGreaterThan(0);
    expect(after.waitMs - later.waitMs).toBeGreaterThan(1200);
  } finally {
    mailboxThrottle.reset();
  }
});

test('$batch: groups of 20, throttled sub-requests retried, results by id', async () => {
  const users = [...env.sandbox.store.table('users').keys()];
  env.sandbox.graph.setFaults([{ path: '^/users/', rate: 0.4, status: 429, retryAfter: 0 }], 7);
  const requests = Array.from({ length: 25 }, (_, i) => ({
    id: `r${i}`,
    method: 'GET' as const,
    url: `/users/${users[i % users.length]}?$select=id,displayName`,
  }));
  const results = await client().batch(requests);
  expect(results.size).toBe(25);
  for (const [id, r] of results) {
    expect(r.status).toBe(200);
    expect((r.body as { id: string }).id).toBe(users[Number(id.slice(1)) % users.length]);
  }
  expect(env.sandbox.graph.stats.byRoute['POST /$batch']).toBeGreaterThanOrEqual(3);
  await expect(
    client().batch([
      { id: 'a', method: 'GET', url: '/users' },
      { id: 'A', method: 'GET', url: '/users' },
    ]),
  ).rejects.toThrow(/unique/);
});
