import { z } from 'zod';
import { httpFunction, registry, timerFunction } from '../shared/platform/app';
import { checkSecretExpiry } from '../shared/graph/credential';
import { appCredential } from '../shared/platform/auth/entra';
import { clock } from '../shared/platform/clock';
import { purgeFlows } from '../shared/platform/auth/oauth';
import { purgeSessions } from '../shared/platform/auth/session';
import { purgeRuns } from '../shared/platform/runs';
import { config } from '../shared/platform/config';
import { buildOpenApi } from '../shared/platform/openapi';
import { storageHealth } from '../shared/platform/storage';
import { connectorOverview } from '../shared/overview';
import { version } from '../package.json';

const functionSchema = z.object({
  name: z.string(),
  trigger: z.enum(['http', 'timer', 'queue']),
  route: z.string().optional(),
  methods: z.array(z.string()).optional(),
  schedule: z.string().optional(),
  queue: z.string().optional(),
});
const serviceSchema = z.object({ ok: z.boolean(), error: z.string().optional() });
const healthSchema = z.object({
  status: z.enum(['healthy', 'unhealthy']),
  version: z.string(),
  storage: z.object({ tables: serviceSchema, queues: serviceSchema, blobs: serviceSchema }),
  credential: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('managedIdentity'), managedIdentityClientId: z.string() }),
      z.object({ kind: z.literal('clientSecret'), expiresOn: z.string().nullable(), daysLeft: z.number().nullable() }),
    ])
    .describe(
      "How the app proves its identity for Graph tokens: the function app's managed identity (no secret), or a client secret and when it expires.",
    ),
  functions: z.array(functionSchema),
});

httpFunction('health', {
  method: 'GET',
  route: 'health',
  auth: 'anonymous',
  doc: {
    summary: "Health: storage reachability (probed at most every 2 s), the app's Graph credential and the registered functions",
    tags: ['platform'],
    responses: {
      200: { description: 'Healthy.', schema: healthSchema },
      503: { description: 'Storage is not reachable.', schema: healthSchema },
    },
  },
  handler: async () => {
    const storage = await storageHealth();
    const ok = storage.tables.ok && storage.queues.ok && storage.blobs.ok;
    return {
      status: ok ? 200 : 503,
      headers: { 'Cache-Control': 'no-store' },
      body: {
        status: ok ? 'healthy' : 'unhealthy',
        version,
        storage,
        credential: appCredential(config(), clock.now()),
        functions: registry.functions,
      },
    };
  },
});

httpFunction('openapi', {
  method: 'GET',
  route: 'openapi.json',
  auth: 'anonymous',
  doc: {
    summary: 'OpenAPI 3.1 description of every HTTP function of the app',
    tags: ['platform'],
    responses: {
      200: {
        description: 'The OpenAPI document.',
        schema: z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) }),
      },
    },
  },
  handler: () => ({
    status: 200,
    body: buildOpenApi(registry.operations, { title: 'Intune connector back ends', version, serverUrl: config().PUBLIC_BASE_URL }),
  }),
});

const connectorSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  state: z.enum(['notConfigured', 'active', 'disabled', 'warning', 'error']),
  detail: z.string().nullable().describe('Why the connector is in this state.'),
  fix: z.string().nullable().describe('What to do about it (set-up steps while not configured).'),
  updatedAt: z.string().nullable().describe('Last activity.'),
  openAlerts: z
    .number()
    .nullable()
    .describe(
      'TEM: blocks in force; compliance: failed actions; VPP: apps low on licences; archive: items the last import failed; null: none kept.',
    ),
});

httpFunction('listConnectors', {
  method: 'GET',
  route: 'admin/connectors',
  auth: 'Connectors.Read',
  doc: {
    summary: 'Each connector with its state, reason, fix, last activity and open alerts',
    tags: ['admin'],
    responses: { 200: { description: 'The connectors.', schema: z.object({ value: z.array(connectorSchema) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await connectorOverview() } }),
});

timerFunction('housekeeping', {
  schedule: '0 */10 * * * *',
  handler: async ({ log }) => {
    log.info('Expired rows purged', {
      signInStates: await purgeFlows(),
      sessions: await purgeSessions(),
      runs: await purgeRuns(),
    });
  },
});

timerFunction('secretExpiry', {
  schedule: '0 0 7 * * *',
  handler: async ({ log }) => {
    await checkSecretExpiry(log);
  },
});
