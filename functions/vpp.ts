import { z } from 'zod';
import { httpFunction, queueFunction, timerFunction } from '../shared/platform/app';
import { notFound } from '../shared/platform/errors';
import { accepted, acceptedRun, startedBy } from '../shared/platform/runs';
import { pageBody, pageOf, pageQuery } from '../shared/platform/http';
import {
  alertSchema,
  historySchema,
  licenseHistory,
  licenseQuery,
  licenseSchema,
  listAlerts,
  listLicenses,
  listTokens,
} from '../shared/vpp/licenses';
import { QUEUE_SYNC, syncMessage } from '../shared/vpp/model';
import { planSync, syncNewTokens, syncStep } from '../shared/vpp/sync';

/** Apple VPP licences: scheduled and on-demand sync, tokens with health, licences per app. */
const tags = ['vpp'];
const queued = acceptedRun.extend({
  tokens: z.array(z.string()),
  runs: z.array(
    z.object({
      tokenId: z.string(),
      runId: z.string(),
      joined: z.boolean().describe('The token was already syncing: this request joined that sync.'),
    }),
  ),
  skipped: z.array(
    z.object({ tokenId: z.string(), reason: z.string().describe('Why Apple does not sync it (expired, invalid, held by another MDM).') }),
  ),
});
const reason = z.object({ severity: z.enum(['warning', 'unhealthy']), reason: z.string(), fix: z.string() });
const token = z.object({
  id: z.string(),
  organizationName: z.string().nullable(),
  appleId: z.string().nullable(),
  accountType: z.string().nullable(),
  state: z.string(),
  expirationDateTime: z.string().nullable(),
  lastSyncDateTime: z.string().nullable(),
  lastSyncStatus: z.string(),
  lastSnapshotAt: z.string().nullable(),
  lastError: z.string().nullable(),
  nextRetryAt: z.string().nullable(),
  syncing: z.boolean().describe('A sync of the token is under way.'),
  runId: z.string().nullable().describe('The run of that sync (GET /api/admin/runs/{id}).'),
  removed: z
    .object({ at: z.string(), reason: z.string() })
    .nullable()
    .describe('Set when Intune no longer has the token; its licences are then not listed.'),
  health: z.enum(['healthy', 'warning', 'unhealthy']),
  reasons: z.array(reason),
});

timerFunction('vppScheduledSync', {
  schedule: '%VPP_SYNC_SCHEDULE%',
  handler: async ({ log }) => {
    const { runId, runs } = await planSync(startedBy());
    log.info('VPP sync planned', { runId, tokens: runs.length, joined: runs.filter((r) => r.joined).length });
  },
});

timerFunction('vppNewTokens', {
  schedule: '%VPP_NEW_TOKENS_SCHEDULE%',
  handler: async ({ log }) => {
    const started = await syncNewTokens();
    if (started.length) log.info('VPP tokens seen for the first time are syncing', { tokenIds: started });
  },
});

httpFunction('vppSyncAll', {
  method: 'POST',
  route: 'admin/vpp/sync',
  auth: 'Connectors.ReadWrite',
  doc: {
    summary: 'Sync every VPP token now',
    tags,
    responses: {
      202: {
        description:
          'One run covers the tokens this request started (Location); a token already syncing is joined (runs names the run that covers it). When every token was already syncing under one run, that run is answered.',
        schema: queued,
      },
    },
  },
  handler: async ({ principal }) => {
    const r = await planSync(startedBy(principal));
    return accepted(r.runId, r);
  },
});

httpFunction('vppSyncToken', {
  method: 'POST',
  route: 'admin/vpp/tokens/{id}/sync',
  auth: 'Connectors.ReadWrite',
  doc: {
    summary: 'Sync one VPP token now',
    tags,
    responses: {
      202: { description: 'Started, or joined when the token was already syncing.', schema: queued },
      404: { description: 'No such token in Intune.' },
      409: { description: 'Apple does not sync this token (expired, invalid, held by another MDM); nothing was started.' },
    },
  },
  handler: async ({ params, principal }) => {
    const r = await planSync(startedBy(principal), params.id);
    if (!r.tokens.length) throw notFound(`Intune has no VPP token '${params.id}'.`);
    return accepted(r.runId, r);
  },
});

httpFunction('vppTokens', {
  method: 'GET',
  route: 'admin/vpp/tokens',
  auth: 'Connectors.Read',
  doc: {
    summary: 'VPP tokens with state, expiry, last sync and connector health (reasons and fixes)',
    tags,
    responses: { 200: { description: 'Tokens.', schema: z.object({ value: z.array(token) }) } },
  },
  handler: async () => ({ status: 200, body: { value: await listTokens() } }),
});

httpFunction('vppLicenses', {
  method: 'GET',
  route: 'admin/vpp/licenses',
  auth: 'Connectors.Read',
  query: licenseQuery,
  doc: {
    summary: 'Licences per app and eBook: total, used, available (filter by token, sort, page)',
    tags,
    description:
      'Sorted across all pages; count is the number of licences the filter selects. Following nextLink reads the same sync of each token as the first page did.',
    responses: {
      200: {
        description: 'One page of licences, the total count, and nextLink while there are more.',
        schema: pageOf(licenseSchema).extend({ count: z.number() }),
      },
    },
  },
  handler: async ({ query, url }) => {
    const { count, ...page } = await listLicenses(query);
    return { status: 200, body: { count, ...pageBody(page, url) } };
  },
});

httpFunction('vppLicenseHistory', {
  method: 'GET',
  route: 'admin/vpp/tokens/{tokenId}/licenses/{appId}/history',
  auth: 'Connectors.Read',
  doc: {
    summary: "An app's licence counts over time: one entry per change (added, changed, removed)",
    tags,
    responses: {
      200: { description: 'Newest first.', schema: z.object({ value: z.array(historySchema) }) },
      404: { description: 'No licences of that app under that token.' },
    },
  },
  handler: async ({ params }) => ({ status: 200, body: { value: await licenseHistory(params.tokenId, params.appId) } }),
});

httpFunction('vppAlerts', {
  method: 'GET',
  route: 'admin/vpp/alerts',
  auth: 'Connectors.Read',
  query: pageQuery,
  doc: {
    summary: 'Low-licence alerts, newest first, with their email status',
    tags,
    responses: { 200: { description: 'One page of alerts; nextLink while there are more.', schema: pageOf(alertSchema) } },
  },
  handler: async ({ query, url }) => ({ status: 200, body: pageBody(await listAlerts(query.top, query.continuationToken), url) }),
});

queueFunction('vppSyncWorker', { queue: QUEUE_SYNC, schema: syncMessage, handler: async ({ data }, { log }) => syncStep(data, log) });
