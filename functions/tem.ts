import { z } from 'zod';
import { httpFunction, queueFunction, timerFunction } from '../shared/platform/app';
import { pageBody, pageOf, pageQuery } from '../shared/platform/http';
import { accepted, acceptedRun, startedBy } from '../shared/platform/runs';
import { startFlow, startLink } from '../shared/platform/auth/oauth';
import { CONSENT_PURPOSE } from '../shared/tem/connect';
import { processEvent } from '../shared/tem/apply';
import { acceptEvent, purgeWebhookIds } from '../shared/tem/intake';
import { requestJob, runJob } from '../shared/tem/jobs';
import { addLine, addLineBody, lineDeviceSchema, lineSchema, listLineDevices, listLines, removeLine } from '../shared/tem/lines';
import {
  eventMessage,
  eventSchema,
  jobMessage,
  KINDS,
  LEDGER_ACTIONS,
  LEDGER_STATUSES,
  QUEUE_EVENTS,
  QUEUE_JOBS,
  WEBHOOK_MAX_BYTES,
} from '../shared/tem/model';
import {
  createProvider,
  createProviderBody,
  describeProvider,
  ledgerQuery,
  listProviders,
  patchProvider,
  patchProviderBody,
  providerLog,
  rotateSecret,
  rotateSecretBody,
} from '../shared/tem/providers';

/** Telecom expense management: providers, lines, the signed webhook and the workers behind it. */

const id = z.object({ id: z.uuid('a provider id (GUID)') });
const tags = ['tem'];
const provider = z.object({
  id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  connection: z.enum(['notConnected', 'pendingConsent', 'active', 'failed']),
  connectionDetail: z.string().nullable(),
  connectionAttempts: z
    .array(
      z.object({
        at: z.string(),
        by: z.string().nullable().describe('Object id of the admin who started it.'),
        outcome: z.enum(['connected', 'failed']),
        detail: z.string().optional(),
      }),
    )
    .describe('The last 10 tries at connecting, newest first.'),
  lastConnectionAt: z.string().nullable(),
  lastSignalAt: z.string().nullable(),
  alertEmail: z.string().nullable(),
  corporateLines: z.number(),
  activeBlocks: z.number(),
  pendingChanges: z.number().describe('Blocks and unblocks decided but not yet confirmed in the Entra ID groups.'),
  switchOff: z.object({
    state: z.enum(['idle', 'reverting', 'done']),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    reverted: z.number(),
    runId: z.string().nullable().describe('The run of the current or last switch-off (GET /api/admin/runs/{id}).'),
    remaining: z.number(),
  }),
  webhookUrl: z.string(),
  connectUrl: z.string(),
});
const kind = z.enum(KINDS);
const ledgerStatus = z.enum(LEDGER_STATUSES);
const ledgerAction = z.enum(LEDGER_ACTIONS);
const ledgerSchema = z.object({
  at: z.string(),
  eventAt: z.string().optional(),
  eventId: z.string().optional().describe('The webhook-id of the signal.'),
  eventType: z.string().optional(),
  action: ledgerAction,
  kind: kind.optional(),
  line: z.string().optional(),
  deviceName: z.string().optional(),
  status: ledgerStatus,
  reason: z.string().optional(),
  error: z.string().optional(),
});
const alertSchema = z.object({
  at: z.string(),
  eventId: z.string(),
  line: z.string(),
  kind,
  message: z.string(),
  usageMb: z.number().optional(),
  capMb: z.number().optional(),
  country: z.string().optional(),
  email: z.enum(['notConfigured', 'pending', 'sent', 'failed']),
  emailError: z.string().optional(),
});
const secretResult = z.object({
  id: z.string(),
  secret: z.string().describe('Shown once. Give it to the provider; it signs events with it.'),
});

httpFunction('temCreateProvider', {
  method: 'POST',
  route: 'admin/tem/providers',
  auth: 'Connectors.ReadWrite',
  body: createProviderBody,
  doc: {
    summary: 'Register a TEM provider; returns its webhook URL and signing secret once',
    tags,
    responses: { 201: { description: 'Registered.', schema: secretResult.extend({ webhookUrl: z.string(), connectUrl: z.string() }) } },
  },
  handler: async ({ body }) => ({ status: 201, body: await createProvider(body) }),
});

httpFunction('temListProviders', {
  method: 'GET',
  route: 'admin/tem/providers',
  auth: 'Connectors.Read',
  doc: {
    summary: 'TEM providers with connection state, last signal, lines and active blocks',
    tags,
    responses: { 200: { description: 'Providers.', schema: z.object({ value: z.array(provider) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await listProviders() } }),
});

httpFunction('temGetProvider', {
  method: 'GET',
  route: 'admin/tem/providers/{id}',
  auth: 'Connectors.Read',
  params: id,
  doc: {
    summary: 'One TEM provider, with switch-off progress',
    tags,
    responses: { 200: { description: 'The provider.', schema: provider }, 404: { description: 'No such provider.' } },
  },
  handler: async ({ params }) => ({ status: 200, body: await describeProvider(params.id) }),
});

httpFunction('temPatchProvider', {
  method: 'PATCH',
  route: 'admin/tem/providers/{id}',
  auth: 'Connectors.ReadWrite',
  params: id,
  body: patchProviderBody,
  doc: {
    summary: 'Switch the service off (reverts every action) or on; rename; set the alert address',
    tags,
    responses: {
      200: { description: 'The provider, changed.', schema: provider },
      202: {
        description:
          'Switching off: the provider, with the switch-off run to follow (Location; progress is blocks reverted of those active). Asked again while it runs: the same run.',
        schema: provider.extend(acceptedRun.shape),
      },
      404: { description: 'No such provider.' },
    },
  },
  handler: async ({ params, body, principal }) => {
    const { provider: p, runId } = await patchProvider(params.id, body, startedBy(principal));
    return runId ? accepted(runId, p) : { status: 200, body: p };
  },
});

httpFunction('temRotateSecret', {
  method: 'POST',
  route: 'admin/tem/providers/{id}/secrets',
  auth: 'Connectors.ReadWrite',
  params: id,
  body: rotateSecretBody,
  doc: {
    summary: 'Rotate the webhook secret; the previous one keeps verifying for overlapHours',
    tags,
    responses: {
      200: { description: 'The new secret, shown once.', schema: secretResult.extend({ previousSecretsValidUntil: z.array(z.string()) }) },
    },
  },
  handler: async ({ params, body }) => ({ status: 200, body: await rotateSecret(params.id, body) }),
});

httpFunction('temLedger', {
  method: 'GET',
  route: 'admin/tem/providers/{id}/ledger',
  auth: 'Connectors.Read',
  params: id,
  query: ledgerQuery,
  doc: {
    summary: 'Every action, revert and ignored signal for the provider, newest first; filtered by status, action, kind or line',
    tags,
    responses: {
      200: { description: 'One page of ledger rows; nextLink while there are more.', schema: pageOf(ledgerSchema) },
      404: { description: 'No such provider.' },
    },
  },
  handler: async ({ params, query, url }) => ({
    status: 200,
    body: pageBody(await providerLog(params.id, 'ledger', query.top, query.continuationToken, query), url),
  }),
});

httpFunction('temAlerts', {
  method: 'GET',
  route: 'admin/tem/providers/{id}/alerts',
  auth: 'Connectors.Read',
  params: id,
  query: pageQuery,
  doc: {
    summary: 'Alerts raised for the provider, newest first, with their email status',
    tags,
    responses: {
      200: { description: 'One page of alerts; nextLink while there are more.', schema: pageOf(alertSchema) },
      404: { description: 'No such provider.' },
    },
  },
  handler: async ({ params, query, url }) => ({
    status: 200,
    body: pageBody(await providerLog(params.id, 'alerts', query.top, query.continuationToken), url),
  }),
});

httpFunction('temListLines', {
  method: 'GET',
  route: 'admin/tem/lines',
  auth: 'Connectors.Read',
  doc: {
    summary: 'Lines known from Intune and added by hand, whether each is monitored, and its active blocks',
    tags,
    responses: { 200: { description: 'Lines.', schema: z.object({ value: z.array(lineSchema) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await listLines() } }),
});

httpFunction('temListDevices', {
  method: 'GET',
  route: 'admin/tem/devices',
  auth: 'Connectors.Read',
  doc: {
    summary: 'Managed devices, and whether a corporate line can be added for each (company-owned) and why not',
    tags,
    responses: { 200: { description: 'Devices by name.', schema: z.object({ value: z.array(lineDeviceSchema) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await listLineDevices() } }),
});

httpFunction('temAddLine', {
  method: 'POST',
  route: 'admin/tem/lines',
  auth: 'Connectors.ReadWrite',
  body: addLineBody,
  doc: {
    summary: 'Add a corporate line for a company-owned managed device',
    tags,
    responses: {
      201: { description: 'Added.', schema: lineSchema },
      400: { description: 'Not an E.164 number, no such managed device, or a device not company-owned.' },
    },
  },
  handler: async ({ body }) => ({ status: 201, body: await addLine(body) }),
});

httpFunction('temRemoveLine', {
  method: 'DELETE',
  route: 'admin/tem/lines/{phoneNumber}',
  auth: 'Connectors.ReadWrite',
  doc: { summary: 'Remove a line', tags, responses: { 204: { description: 'Removed.' }, 404: { description: 'No such line.' } } },
  handler: async ({ params }) => {
    await removeLine(params.phoneNumber);
    return { status: 204 };
  },
});

const runAnswer = acceptedRun.extend({ joined: z.boolean().describe('A run not yet started was joined.') });

httpFunction('temSyncLines', {
  method: 'POST',
  route: 'admin/tem/lines/sync',
  auth: 'Connectors.ReadWrite',
  doc: {
    summary: 'Sync corporate lines from Intune now',
    description:
      'Answers the run to follow (Location); its counters give lines, corporate and removed. A request while a sync is queued joins it.',
    tags,
    responses: { 202: { description: 'Queued, or joined a sync not yet started.', schema: runAnswer } },
  },
  handler: async ({ principal }) => {
    const { id, joined } = await requestJob('syncLines', startedBy(principal));
    return accepted(id, { joined });
  },
});

httpFunction('temReconcile', {
  method: 'POST',
  route: 'admin/tem/reconcile',
  auth: 'Connectors.ReadWrite',
  doc: {
    summary:
      'Compare every block record with the block groups in Entra ID now and repair each difference (ledger rows with status repaired)',
    description: 'Answers the run to follow (Location); its counters give checked, added, removed and failed.',
    tags,
    responses: { 202: { description: 'Queued, or joined a reconciliation not yet started.', schema: runAnswer } },
  },
  handler: async ({ principal }) => {
    const { id, joined } = await requestJob('reconcile', startedBy(principal));
    return accepted(id, { joined });
  },
});

httpFunction('temConnect', {
  method: 'GET',
  route: 'tem/providers/{id}/connect',
  auth: 'Connectors.ReadWrite',
  changesState: true,
  params: id,
  doc: {
    summary: 'Start connecting a provider through Entra ID admin consent',
    description:
      'In a browser session: redirects to Entra ID. With a bearer token: answers a one-time start link (valid 5 minutes) for the admin to open in the browser that is to give consent. A refused or abandoned consent never downgrades an Active connection; it is listed in connectionAttempts.',
    tags,
    responses: {
      200: { description: 'Start link (bearer callers).', schema: z.object({ url: z.string(), expiresAt: z.string() }) },
      302: { description: 'To Entra ID (browser session).' },
      429: { description: 'Too many flows started by this admin.' },
    },
  },
  handler: async ({ params, principal }) =>
    principal!.via === 'session'
      ? startFlow(CONSENT_PURPOSE, params.id, principal)
      : { status: 200, headers: { 'Cache-Control': 'no-store' }, body: await startLink(CONSENT_PURPOSE, params.id, principal!) },
});

httpFunction('temEvents', {
  method: 'POST',
  route: 'tem/providers/{id}/events',
  auth: 'anonymous',
  params: id,
  rawBody: true,
  body: eventSchema,
  doc: {
    summary: 'Provider webhook (Standard Webhooks v1): threshold exceeded or cleared, billing-cycle reset',
    description: `Signed with the provider secret: webhook-signature = "v1,<base64 HMAC-SHA256 of id.timestamp.body>" (several, space-separated, during rotation); webhook-timestamp within 5 minutes. 202 once durably queued; a webhook-id received before is answered 202 again and applied once; 400 bad headers or body; 401 bad signature or stale timestamp; 413 over ${WEBHOOK_MAX_BYTES} bytes; 415 not JSON. Retry on 5xx and timeouts with the same webhook-id.`,
    tags,
    headers: {
      'webhook-id': 'Unique per event; reuse it on retries.',
      'webhook-timestamp': 'Unix seconds when signed.',
      'webhook-signature': 'v1,<signature> [v1,<signature> …]',
    },
    responses: {
      202: {
        description: 'Queued (a repeated webhook-id is accepted again and has no second effect).',
        schema: z.object({ webhookId: z.string(), status: z.literal('queued') }),
      },
      401: { description: 'Signature or timestamp rejected.' },
      413: { description: 'Too large.' },
      415: { description: 'Not JSON.' },
    },
  },
  handler: async ({ params, headers, rawBody }) => {
    const r = await acceptEvent(params.id, headers, rawBody);
    return { status: r.status, body: { webhookId: r.webhookId, status: 'queued' } };
  },
});

queueFunction('temEventWorker', { queue: QUEUE_EVENTS, schema: eventMessage, handler: async (m, { log }) => processEvent(m.data, log) });

queueFunction('temJobWorker', { queue: QUEUE_JOBS, schema: jobMessage, handler: async ({ data }, delivery) => runJob(data, delivery) });

timerFunction('temReconcileTimer', {
  schedule: '%TEM_RECONCILE_SCHEDULE%',
  handler: async ({ log }) => log.info('TEM reconciliation queued', await requestJob('reconcile', startedBy())),
});

timerFunction('temDaily', {
  schedule: '0 0 2 * * *',
  handler: async ({ log }) => {
    log.info('TEM lines sync queued', await requestJob('syncLines', startedBy()));
    log.info('Expired webhook ids forgotten', { count: await purgeWebhookIds() });
  },
});
