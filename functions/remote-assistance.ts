import { z } from 'zod';
import { httpFunction, timerFunction } from '../shared/platform/app';
import { startFlow, startLink } from '../shared/platform/auth/oauth';
import { startedBy } from '../shared/platform/runs';
import {
  acceptTerms,
  checkConnection,
  CONNECT_PURPOSE,
  connectionSchema,
  disconnect,
  getConnection,
} from '../shared/remote-assistance/connection';
import { syncReports } from '../shared/remote-assistance/reports';
import {
  closeSession,
  deviceSchema,
  getSession,
  listDevices,
  listSessions,
  requestSession,
  sessionSchema,
  sessionsCsv,
} from '../shared/remote-assistance/sessions';

/** Remote assistance through TeamViewer: the connection (Update) and sessions (Request). */
const tags = ['remote-assistance'];
const update = 'RemoteAssistance.Update' as const;
const request = 'RemoteAssistance.Request' as const;
const sessionId = z.object({ id: z.string().regex(/^\d{13}-[0-9a-f]{8}$/, 'a session id as the API answered it') });

httpFunction('remoteAssistanceConnection', {
  method: 'GET',
  route: 'admin/remote-assistance/connection',
  auth: update,
  doc: {
    summary: 'The TeamViewer connection: connected, needs re-authorization or disconnected; terms, account, last successful call, alerts',
    tags,
    responses: { 200: { description: 'The connection (never its tokens).', schema: connectionSchema } },
  },
  handler: async () => ({ status: 200, body: await getConnection() }),
});

httpFunction('remoteAssistanceTerms', {
  method: 'POST',
  route: 'admin/remote-assistance/terms',
  auth: update,
  body: z.object({ accept: z.literal(true, 'send {"accept": true} to accept TeamViewer\'s licence terms') }).strict(),
  doc: {
    summary: "Accept TeamViewer's licence terms (who and when are recorded): the connection needs them",
    tags,
    responses: { 200: { description: 'Accepted.', schema: connectionSchema } },
  },
  handler: async ({ principal }) => ({ status: 200, body: await acceptTerms(startedBy(principal)) }),
});

httpFunction('remoteAssistanceConnect', {
  method: 'GET',
  route: 'remote-assistance/connect',
  auth: update,
  changesState: true,
  doc: {
    summary: 'Start connecting TeamViewer: the admin signs in to TeamViewer and authorizes the app',
    description:
      'In a browser session: redirects to TeamViewer. With a bearer token: answers a one-time start link (valid 5 minutes) for the admin to open in the browser that is to sign in to TeamViewer. The terms must be accepted first.',
    tags,
    responses: {
      200: { description: 'Start link (bearer callers).', schema: z.object({ url: z.string(), expiresAt: z.string() }) },
      302: { description: 'To TeamViewer (browser session).' },
      409: { description: 'The terms are not accepted, or the app has no TeamViewer client id and secret.' },
      429: { description: 'Too many flows started by this admin.' },
    },
  },
  handler: async ({ principal }) =>
    principal!.via === 'session'
      ? startFlow(CONNECT_PURPOSE, 'teamviewer', principal)
      : { status: 200, headers: { 'Cache-Control': 'no-store' }, body: await startLink(CONNECT_PURPOSE, 'teamviewer', principal!) },
});

httpFunction('remoteAssistanceCheck', {
  method: 'POST',
  route: 'admin/remote-assistance/connection/check',
  auth: update,
  doc: {
    summary: "Check the connection with TeamViewer's /ping (a refused token is refreshed once)",
    tags,
    responses: {
      200: { description: 'TeamViewer accepts the token.', schema: connectionSchema },
      409: { description: 'Not connected, or needs re-authorization.' },
    },
  },
  handler: async ({ log }) => ({ status: 200, body: await checkConnection(log) }),
});

httpFunction('remoteAssistanceDisconnect', {
  method: 'DELETE',
  route: 'admin/remote-assistance/connection',
  auth: update,
  doc: {
    summary: 'Disconnect TeamViewer: its tokens are forgotten',
    tags,
    responses: { 200: { description: 'Disconnected.', schema: connectionSchema } },
  },
  handler: async ({ principal, log }) => ({ status: 200, body: await disconnect(startedBy(principal), log) }),
});

httpFunction('remoteAssistanceDevices', {
  method: 'GET',
  route: 'admin/remote-assistance/devices',
  auth: request,
  doc: {
    summary: 'The managed devices, each with whether a session can be requested for its user, and why not when it cannot',
    tags,
    responses: { 200: { description: 'The devices, by name.', schema: z.object({ value: z.array(deviceSchema) }) } },
  },
  handler: async () => ({ status: 200, headers: { 'Cache-Control': 'no-store' }, body: { value: await listDevices() } }),
});

httpFunction('remoteAssistanceRequest', {
  method: 'POST',
  route: 'admin/remote-assistance/sessions',
  auth: request,
  body: z.object({ deviceId: z.string().min(1).max(64).describe('The Intune managed device id.') }).strict(),
  doc: {
    summary:
      "Request a remote-assistance session for a managed device's user: the supporter link is answered, the user is emailed the invitation",
    tags,
    responses: {
      201: { description: 'The session is open in TeamViewer.', schema: sessionSchema },
      404: { description: 'No such managed device (recorded).' },
      409: { description: 'TeamViewer is not connected, or needs re-authorization.' },
      422: { description: 'The device is not supported, or has no user (recorded); nothing was created in TeamViewer.' },
      503: { description: "TeamViewer's rate limit or the licence's request budget: Retry-After says when to try again." },
    },
  },
  handler: async ({ body, principal, log }) => ({ status: 201, body: await requestSession(body.deviceId, principal!, log) }),
});

const filter = z.object({
  deviceId: z.string().max(64).optional(),
  userId: z.string().max(64).optional(),
  requestedBy: z.string().max(128).optional().describe('admin:<object id>, as the sessions show it.'),
  outcome: z.enum(['requesting', 'open', 'closed', 'refused', 'failed']).optional(),
});

httpFunction('remoteAssistanceSessions', {
  method: 'GET',
  route: 'admin/remote-assistance/sessions',
  auth: request,
  query: filter,
  doc: {
    summary: 'The session requests, newest first: who, which device and user, when, the session code and what came of it',
    tags,
    responses: { 200: { description: 'The sessions.', schema: z.object({ value: z.array(sessionSchema) }) } },
  },
  handler: async ({ query }) => ({ status: 200, body: { value: await listSessions(query) } }),
});

httpFunction('remoteAssistanceSession', {
  method: 'GET',
  route: 'admin/remote-assistance/sessions/{id}',
  auth: request,
  params: sessionId,
  doc: {
    summary: 'One session request',
    tags,
    responses: { 200: { description: 'The session.', schema: sessionSchema }, 404: { description: 'No such session.' } },
  },
  handler: async ({ params }) => ({ status: 200, body: await getSession(params.id) }),
});

httpFunction('remoteAssistanceClose', {
  method: 'POST',
  route: 'admin/remote-assistance/sessions/{id}/close',
  auth: request,
  params: sessionId,
  doc: {
    summary: 'Close the session in TeamViewer (closing a closed one changes nothing)',
    tags,
    responses: { 200: { description: 'Closed.', schema: sessionSchema }, 404: { description: 'No such session.' } },
  },
  handler: async ({ params, principal, log }) => ({ status: 200, body: await closeSession(params.id, principal!, log) }),
});

httpFunction('remoteAssistanceSessionsCsv', {
  method: 'GET',
  route: 'admin/remote-assistance/sessions.csv',
  auth: request,
  query: filter,
  doc: {
    summary: 'The session audit as a CSV file: who, which device and user, when, the session code, the outcome and its connections',
    tags,
    responses: { 200: { description: 'One line per request, newest first.', schema: z.string(), contentType: 'text/csv' } },
  },
  handler: async ({ query }) => ({
    status: 200,
    headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': 'attachment; filename="remote-assistance-sessions.csv"' },
    body: await sessionsCsv(query),
  }),
});

const syncOutcome = z.object({
  sessions: z.number().describe('Session records of the last 3 days looked at.'),
  connections: z.number().describe('Connection reports joined to them.'),
  settled: z.number().describe('Requests cut short, settled from TeamViewer.'),
  closed: z.number().describe('Sessions TeamViewer closed.'),
});

httpFunction('remoteAssistanceSync', {
  method: 'POST',
  route: 'admin/remote-assistance/sync',
  auth: request,
  doc: {
    summary: "Join TeamViewer's connection reports to the sessions now (the timer does it on REMOTE_ASSISTANCE_REPORT_SCHEDULE)",
    tags,
    responses: { 200: { description: 'What the sync did.', schema: syncOutcome } },
  },
  handler: async ({ log }) => ({ status: 200, body: await syncReports(log) }),
});

timerFunction('remoteAssistanceReports', {
  schedule: '%REMOTE_ASSISTANCE_REPORT_SCHEDULE%',
  handler: async ({ log }) => void (await syncReports(log)),
});
