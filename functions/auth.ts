import { z } from 'zod';
import { httpFunction } from '../shared/platform/app';
import { grantedRoles } from '../shared/platform/auth/admin';
import { completeFlow, redeemLink } from '../shared/platform/auth/oauth';
import { signOut, startSignIn } from '../shared/platform/auth/session';
import { AppError } from '../shared/platform/errors';
import { htmlPage, type HttpResult } from '../shared/platform/http';

/** Admin sign-in and the browser redirect flows of every connector. */
const tags = ['auth'];

/** Browser-facing endpoints answer a refusal with a page, not JSON. */
const html = (description: string) => ({ description, schema: z.string(), contentType: 'text/html' });

async function page(work: () => Promise<HttpResult>): Promise<HttpResult> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof AppError) return htmlPage(e.status, 'Not completed', e.detail, e.headers);
    throw e;
  }
}

httpFunction('signIn', {
  method: 'GET',
  route: 'auth/signin',
  auth: 'anonymous',
  query: z.object({
    returnTo: z.string().max(512).optional().describe('A path of this app to land on after sign-in (default /api/auth/me).'),
  }),
  doc: {
    summary: 'Sign in with Entra ID (authorization code flow with PKCE): redirects to Entra ID',
    tags,
    responses: { 302: { description: 'To Entra ID.' }, 429: html('Too many sign-ins started.') },
  },
  handler: ({ query }) => page(() => startSignIn(query.returnTo)),
});

httpFunction('signOut', {
  method: 'POST',
  route: 'auth/signout',
  auth: 'signedIn',
  doc: {
    summary: 'End the browser session',
    tags,
    responses: {
      200: { description: 'Signed out; the session cookie is cleared.', schema: z.object({ signedOut: z.literal(true) }) },
    },
  },
  handler: async ({ headers, log }) => ({
    status: 200,
    headers: { 'Set-Cookie': await signOut(headers.get('cookie'), log), 'Cache-Control': 'no-store' },
    body: { signedOut: true },
  }),
});

httpFunction('whoAmI', {
  method: 'GET',
  route: 'auth/me',
  auth: 'signedIn',
  doc: {
    summary: 'Who is signed in: name, object id, app roles, and whether by bearer token or browser session',
    tags,
    responses: {
      200: {
        description: 'The caller.',
        schema: z.object({
          name: z.string().nullable(),
          objectId: z.string().nullable(),
          tenantId: z.string(),
          roles: z.array(z.string()),
          grants: z.array(z.string()).describe('The roles held, with those they include (Connectors.ReadWrite includes Connectors.Read).'),
          via: z.enum(['bearer', 'session']),
        }),
      },
    },
  },
  handler: ({ principal }) => ({
    status: 200,
    headers: { 'Cache-Control': 'no-store' },
    body: {
      name: principal!.name ?? null,
      objectId: principal!.objectId ?? null,
      tenantId: principal!.tenantId,
      roles: principal!.roles,
      grants: grantedRoles(principal!),
      via: principal!.via,
    },
  }),
});

httpFunction('oauthStart', {
  method: 'GET',
  route: 'oauth/start',
  auth: 'anonymous',
  doc: {
    summary:
      'Opens a one-time start link an admin was given by the API: binds the flow to this browser and redirects to the authorization server',
    tags,
    responses: {
      302: { description: 'To the authorization server.' },
      400: html('Unknown, used or expired link.'),
      429: html('Too many flows started by this admin.'),
    },
  },
  handler: ({ url }) => page(() => redeemLink(url.searchParams.get('ticket'))),
});

/** A redirect flow's callback: the state says which flow it completes. */
const callback: Parameters<typeof httpFunction>[1]['handler'] = ({ url, headers, log }) =>
  page(async () => {
    const outcome = await completeFlow(url.searchParams, headers.get('cookie'), log);
    if ('redirect' in outcome)
      return { status: 302, headers: { Location: outcome.redirect, 'Set-Cookie': outcome.cookie, 'Cache-Control': 'no-store' } };
    return htmlPage(
      outcome.ok ? 200 : 400,
      outcome.title,
      outcome.message,
      outcome.clearCookie ? { 'Set-Cookie': outcome.clearCookie } : {},
    );
  });
const refused = html('Repeated or oversized parameters, or a missing, unknown, expired, replayed or foreign state: nothing changed.');

/** One redirect URI per authorization server: this one is registered with Entra ID. */
httpFunction('entraCallback', {
  method: 'GET',
  route: 'oauth/entra/callback',
  auth: 'anonymous',
  doc: {
    summary: 'Entra ID redirect target for sign-in (code, state) and admin consent (admin_consent, tenant, state or error)',
    tags,
    responses: { 200: html('Outcome page.'), 302: { description: 'Signed in: to the page sign-in started from.' }, 400: refused },
  },
  handler: callback,
});

/** Registered as the redirect URI of the TeamViewer app. */
httpFunction('teamViewerCallback', {
  method: 'GET',
  route: 'oauth/teamviewer/callback',
  auth: 'anonymous',
  doc: {
    summary: 'TeamViewer redirect target when an admin connects it (code, state or error)',
    tags,
    responses: { 200: html('Outcome page.'), 400: refused },
  },
  handler: callback,
});
