import { graph, GraphApiError } from '../graph/client';
import { startOAuth } from '../platform/auth/oauth';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { queues } from '../platform/storage/queues';
import { reportConnectorStatus } from '../connectors';
import { QUEUE_JOBS } from './model';
import { getProvider, updateProvider } from './providers';

/**
 * Connecting a provider: an admin grants this app admin consent in Entra ID; the callback confirms
 * it with a client-credentials token and a Graph probe before the connection counts as Active.
 */
export const CONSENT_PURPOSE = 'tem-consent';

export function entraCallbackUrl(): string {
  return `${config().PUBLIC_BASE_URL.replace(/\/$/, '')}/api/oauth/entra/callback`;
}

/** Where to send the admin's browser, and the cookie that binds the flow to it. Changes no provider state. */
export async function startConnect(providerId: string): Promise<{ location: string; cookie: string }> {
  await getProvider(providerId);
  const cfg = config();
  const { state, cookie } = await startOAuth(CONSENT_PURPOSE, providerId, { secureCookie: cfg.PUBLIC_BASE_URL.startsWith('https:') });
  const url = new URL(`${cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '')}/${cfg.ENTRA_TENANT_ID}/v2.0/adminconsent`);
  url.searchParams.set('client_id', cfg.ENTRA_CLIENT_ID);
  url.searchParams.set('scope', `${cfg.GRAPH_BASE_URL.replace(/\/$/, '')}/.default`);
  url.searchParams.set('redirect_uri', entraCallbackUrl());
  url.searchParams.set('state', state);
  return { location: url.toString(), cookie };
}

export interface ConsentOutcome {
  ok: boolean;
  title: string;
  message: string;
}

/** Completes the flow after the state was consumed. Never trusts the `tenant` parameter alone. */
export async function completeConsent(providerId: string, q: URLSearchParams, log: Logger): Promise<ConsentOutcome> {
  const { entity } = await getProvider(providerId);
  const cfg = config();
  const fail = async (detail: string): Promise<ConsentOutcome> => {
    await updateProvider(providerId, (row) => ({ ...row, connection: 'failed', connectionDetail: detail }));
    return { ok: false, title: 'Not connected', message: detail };
  };
  const error = q.get('error');
  if (error) return fail(`Admin consent was not granted: ${q.get('error_description') ?? error}`);
  if (q.get('admin_consent')?.toLowerCase() !== 'true') return fail('Entra ID did not report admin consent.');
  const tenant = q.get('tenant');
  if (tenant && tenant.toLowerCase() !== cfg.ENTRA_TENANT_ID.toLowerCase()) return fail(`Consent was granted in tenant ${tenant}, but this app serves tenant ${cfg.ENTRA_TENANT_ID}.`);
  try {
    // The probe needs the permissions the connector uses: reading managed devices.
    await graph().get('/deviceManagement/managedDevices', { $top: 1, $select: 'id' });
  } catch (e) {
    log.warn('Consent probe failed', { error: e });
    return fail(e instanceof GraphApiError ? `Microsoft Graph refused the app after consent (${e.status} ${e.code}); check the app's permissions and try again.` : `Microsoft Graph could not be reached to confirm consent: ${(e as Error).message}`);
  }
  const now = clock.iso();
  await updateProvider(providerId, (row) => ({ ...row, connection: 'Active', connectionDetail: undefined, lastConnectionAt: now }));
  await queues.send(QUEUE_JOBS, 'tem.job', { job: 'setup', providerId }, { key: `setup:${providerId}:${now}` });
  await reportConnectorStatus('tem', 'active', `${entity.name} connected`);
  return { ok: true, title: 'Connected', message: `${entity.name} is connected to this tenant. The restriction groups and profiles are being prepared and corporate lines synced.` };
}
