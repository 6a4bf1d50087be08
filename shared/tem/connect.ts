import { graph, GraphApiError } from '../graph/client';
import { entraRedirectUri, registerFlow, type FlowOutcome } from '../platform/auth/oauth';
import { clock } from '../platform/clock';
import { config } from '../platform/config';
import type { Logger } from '../platform/log';
import { queues } from '../platform/storage/queues';
import { reportConnectorStatus } from '../connectors';
import { QUEUE_JOBS, type ConnectionAttempt, type ProviderRow } from './model';
import { connectionAttempts, getProvider, updateProvider } from './providers';

/**
 * Connecting a provider: an admin holding Connectors.ReadWrite grants this app admin consent in
 * Entra ID; the callback confirms it with a client-credentials token and a Graph probe before the
 * connection counts as Active. Entra ID takes seconds to minutes to apply a fresh consent, so a
 * refused probe is retried with backoff for CONSENT_WAIT_SECONDS (shown as pendingConsent).
 * A refused, failed or abandoned consent never downgrades a working connection: it is recorded as
 * a failed attempt and the connection stays as it was.
 */
export const CONSENT_PURPOSE = 'tem-consent';
/** Attempts kept on the provider, newest first. */
const ATTEMPTS_KEPT = 10;

registerFlow({
  purpose: CONSENT_PURPOSE,
  role: 'Connectors.ReadWrite',
  pkce: false,
  check: async (providerId) => void (await getProvider(providerId)),
  authorizeUrl: ({ state }) => {
    const cfg = config();
    const url = new URL(`${cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '')}/${cfg.ENTRA_TENANT_ID}/v2.0/adminconsent`);
    url.searchParams.set('client_id', cfg.ENTRA_CLIENT_ID);
    url.searchParams.set('scope', `${cfg.GRAPH_BASE_URL.replace(/\/$/, '')}/.default`);
    url.searchParams.set('redirect_uri', entraRedirectUri());
    url.searchParams.set('state', state);
    return url.toString();
  },
  complete: ({ subject, admin, query, log }) => completeConsent(subject, admin, query, log),
});

const withAttempt = (row: ProviderRow, attempt: ConnectionAttempt) =>
  JSON.stringify([attempt, ...connectionAttempts(row)].slice(0, ATTEMPTS_KEPT));

/** Records a failed attempt; only a connection that is not Active shows it as failed. */
async function refuse(providerId: string, by: string | undefined, detail: string): Promise<FlowOutcome> {
  const row = await updateProvider(providerId, (r) => ({
    ...r,
    attempts: withAttempt(r, { at: clock.iso(), by: by ?? null, outcome: 'failed', detail }),
    ...(r.connection === 'active' ? {} : { connection: 'failed', connectionDetail: detail }),
  }));
  const kept = row.connection === 'active' ? ' The existing connection stays active.' : '';
  return { ok: false, title: 'Not connected', message: `${detail}${kept}` };
}

async function activate(providerId: string, by: string | undefined): Promise<ProviderRow> {
  const now = clock.iso();
  const row = await updateProvider(providerId, (r) => ({
    ...r,
    connection: 'active',
    connectionDetail: undefined,
    lastConnectionAt: now,
    attempts: withAttempt(r, { at: now, by: by ?? null, outcome: 'connected' }),
  }));
  await queues.send(QUEUE_JOBS, 'tem.job', { job: 'setup', providerId }, { key: `setup:${providerId}:${now}` });
  await reportConnectorStatus('tem', 'active', `${row.name} connected`);
  return row;
}

/** Whether Graph accepts the app: reading managed devices is what the connector needs. */
async function probe(log: Logger): Promise<string | undefined> {
  try {
    await graph().get('/deviceManagement/managedDevices', { $top: 1, $select: 'id' });
    return undefined;
  } catch (e) {
    log.warn('Consent probe failed', { error: e });
    return e instanceof GraphApiError
      ? `Microsoft Graph refused the app after consent (${e.graphStatus} ${e.code}); check the app's permissions and try again.`
      : `Microsoft Graph could not be reached to confirm consent: ${(e as Error).message}`;
  }
}

/** Completes the flow after the state was consumed. Never trusts the `tenant` parameter alone. */
export async function completeConsent(
  providerId: string,
  admin: string | undefined,
  q: URLSearchParams,
  log: Logger,
): Promise<FlowOutcome> {
  const cfg = config();
  const error = q.get('error');
  if (error) return refuse(providerId, admin, `Admin consent was not granted: ${q.get('error_description') ?? error}`);
  if (q.get('admin_consent')?.toLowerCase() !== 'true') return refuse(providerId, admin, 'Entra ID did not report admin consent.');
  const tenant = q.get('tenant');
  if (tenant && tenant.toLowerCase() !== cfg.ENTRA_TENANT_ID.toLowerCase())
    return refuse(providerId, admin, `Consent was granted in tenant ${tenant}, but this app serves tenant ${cfg.ENTRA_TENANT_ID}.`);
  const refused = await probe(log);
  if (!refused) {
    const row = await activate(providerId, admin);
    return {
      ok: true,
      title: 'Connected',
      message: `${row.name} is connected to this tenant. The restriction groups and profiles are being prepared and corporate lines synced.`,
    };
  }
  if (cfg.CONSENT_WAIT_SECONDS === 0) return refuse(providerId, admin, refused);
  const startedAt = clock.now();
  const row = await updateProvider(providerId, (r) =>
    r.connection === 'active'
      ? r
      : { ...r, connection: 'pendingConsent', connectionDetail: `Waiting for Entra ID to apply the consent: ${refused}` },
  );
  await queues.send(
    QUEUE_JOBS,
    'tem.job',
    { job: 'confirmConsent', providerId, admin, startedAt, attempt: 1 },
    { key: `consent:${providerId}:${startedAt}:1`, delaySeconds: Math.max(1, Math.min(backoffSeconds(1), cfg.CONSENT_WAIT_SECONDS)) },
  );
  return {
    ok: true,
    title: 'Consent recorded',
    message: `Entra ID recorded the consent for ${row.name}; it can take a few minutes to apply. The provider shows Active once Microsoft Graph accepts the app.`,
  };
}

/** 5 s, 10 s, 20 s, … capped at 2 minutes between probes. */
const backoffSeconds = (attempt: number) => Math.min(120, 5 * 2 ** (attempt - 1));

/** One delayed probe after consent: Active when Graph accepts the app, another probe later, or failed past CONSENT_WAIT_SECONDS. */
export async function confirmConsent(
  job: { providerId: string; admin?: string; startedAt: number; attempt: number },
  log: Logger,
): Promise<void> {
  const refused = await probe(log);
  if (!refused) {
    await activate(job.providerId, job.admin);
    log.info('Consent applied; provider connected', { providerId: job.providerId, attempt: job.attempt });
    return;
  }
  const waited = (clock.now() - job.startedAt) / 1000;
  const wait = config().CONSENT_WAIT_SECONDS;
  if (waited >= wait) {
    await refuse(job.providerId, job.admin, `${refused} (still refused ${Math.round(waited)} s after consent)`);
    log.warn('Consent not applied in time; connection failed', { providerId: job.providerId, attempts: job.attempt });
    return;
  }
  const attempt = job.attempt + 1;
  await queues.send(
    QUEUE_JOBS,
    'tem.job',
    { ...job, job: 'confirmConsent', attempt },
    {
      key: `consent:${job.providerId}:${job.startedAt}:${attempt}`,
      delaySeconds: Math.max(1, Math.min(backoffSeconds(attempt), Math.ceil(wait - waited))),
    },
  );
}
