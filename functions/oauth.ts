import { httpFunction } from '../shared/platform/app';
import { clearStateCookie, consumeOAuth } from '../shared/platform/auth/oauth';
import { AppError } from '../shared/platform/errors';
import { htmlPage } from '../shared/platform/http';
import { completeConsent, CONSENT_PURPOSE } from '../shared/tem/connect';

/** The one redirect URI registered with Entra ID; each flow is told apart by its state. */
const completions = { [CONSENT_PURPOSE]: completeConsent };

httpFunction('entraCallback', {
  method: 'GET',
  route: 'oauth/entra/callback',
  auth: 'anonymous',
  doc: { summary: 'Entra ID redirect target for admin consent (admin_consent, tenant, state or error)', tags: ['oauth'], responses: { 200: { description: 'Outcome page.' }, 400: { description: 'Missing, unknown, expired, replayed or foreign state: nothing changed.' } } },
  handler: async ({ url, headers, log }) => {
    let flow;
    try {
      flow = await consumeOAuth(url.searchParams.get('state'), headers.get('cookie'));
    } catch (e) {
      if (e instanceof AppError) return htmlPage(e.status, 'Connection not completed', e.detail);
      throw e;
    }
    const complete = completions[flow.purpose as keyof typeof completions];
    if (!complete) return htmlPage(400, 'Connection not completed', 'This sign-in does not belong to a flow of this app.');
    const outcome = await complete(flow.subject, url.searchParams, log);
    return htmlPage(outcome.ok ? 200 : 400, outcome.title, outcome.message, { 'Set-Cookie': clearStateCookie });
  },
});
