import { z } from 'zod';
import { httpFunction } from '../shared/platform/app';
import { pageBody, pageOf, pageQuery } from '../shared/platform/http';
import { cancelRun, getRun, listRuns, RUN_STATES, runSchema } from '../shared/platform/runs';

/** Long work of every connector (scans, syncs, switch-offs): follow it, list it, cancel it before it starts. */
const tags = ['runs'];
const id = z.object({ id: z.string().min(1).max(64) });

httpFunction('listRuns', {
  method: 'GET',
  route: 'admin/runs',
  auth: 'Connectors.Read',
  query: pageQuery.extend({
    kind: z.string().max(64).optional().describe('Only runs of this kind (compliance.scan, vpp.sync, tem.linesSync, …).'),
    subject: z.string().max(128).optional().describe('Only runs on this VPP token or TEM provider.'),
    state: z.enum(RUN_STATES).optional(),
  }),
  doc: {
    summary: 'Runs, newest first',
    tags,
    responses: { 200: { description: 'One page of runs; nextLink while there are more.', schema: pageOf(runSchema) } },
  },
  handler: async ({ query, url }) => ({
    status: 200,
    body: pageBody(await listRuns({ ...query, token: query.continuationToken }), url),
  }),
});

httpFunction('getRun', {
  method: 'GET',
  route: 'admin/runs/{id}',
  auth: 'Connectors.Read',
  params: id,
  doc: {
    summary: 'One run: kind, who started it, state, progress, times, counters and outcome',
    tags,
    responses: {
      200: { description: 'The run.', schema: runSchema },
      404: { description: 'No such run (or purged 30 days after it finished).' },
    },
  },
  handler: async ({ params }) => ({ status: 200, headers: { 'Cache-Control': 'no-store' }, body: await getRun(params.id) }),
});

httpFunction('cancelRun', {
  method: 'POST',
  route: 'admin/runs/{id}/cancel',
  auth: 'Connectors.ReadWrite',
  params: id,
  doc: {
    summary: 'Cancel a run that has not started',
    tags,
    responses: {
      200: { description: 'Cancelled.', schema: runSchema },
      404: { description: 'No such run.' },
      409: { description: 'The run has started or ended; a started run finishes what it does.' },
    },
  },
  handler: async ({ params }) => ({ status: 200, body: await cancelRun(params.id) }),
});
