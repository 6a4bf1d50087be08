/**
 * What the set-up script and the azd hooks share: the Azure CLI (`az`, signed in as an admin),
 * Microsoft Graph through `az rest`, the azd environment, and retries through Entra ID's replication
 * delay.
 */
const { execFileSync } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');

const GRAPH = 'https://graph.microsoft.com/v1.0';

class CliError extends Error {}

/** Runs a command; its stdout, trimmed. A failure throws with what the command printed on stderr. */
function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const said = String(e.stderr ?? '').trim() || e.message;
    throw new CliError(`\`${command} ${args.slice(0, 4).join(' ')}…\` failed: ${said}`);
  }
}

const az = (...args) => run('az', args);
const azJson = (...args) => JSON.parse(az(...args, '-o', 'json') || 'null');

/** A Microsoft Graph call with the signed-in admin's token. */
function graph(method, path, body) {
  const args = ['rest', '--method', method, '--uri', `${GRAPH}${path}`];
  if (body !== undefined) args.push('--headers', 'Content-Type=application/json', '--body', JSON.stringify(body));
  const out = az(...args);
  return out ? JSON.parse(out) : undefined;
}

/**
 * Retries `fn` while Entra ID catches up: a service principal or application created a moment ago is
 * not yet visible to every replica, and calls naming it fail for seconds to minutes.
 */
async function retry(what, fn, delaysSeconds = [2, 4, 8, 15, 30, 60, 60]) {
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (attempt >= delaysSeconds.length) throw new CliError(`${what} still failing after ${attempt + 1} attempts: ${e.message}`);
      console.log(`${what}: not yet (${e.message.split('\n')[0].slice(0, 160)}); again in ${delaysSeconds[attempt]} s.`);
      await sleep(delaysSeconds[attempt] * 1000);
    }
  }
}

/** The azd environment commands act on (the default one), or undefined when none is selected. */
function azdEnvironment() {
  const list = JSON.parse(run('azd', ['env', 'list', '-o', 'json']) || '[]') ?? [];
  return list.find((e) => e.IsDefault)?.Name;
}

function azdGet(key) {
  try {
    return run('azd', ['env', 'get-value', key]) || undefined;
  } catch {
    return undefined;
  }
}

const azdSet = (key, value) => run('azd', ['env', 'set', key, value]);

/** Adds a web redirect URI to the app registration, keeping the ones it has. */
function addRedirectUri(app, uri) {
  const current = graph('GET', `/applications/${app.id}?$select=web`).web?.redirectUris ?? [];
  if (current.includes(uri)) return false;
  graph('PATCH', `/applications/${app.id}`, { web: { redirectUris: [...current, uri] } });
  return true;
}

/**
 * Lets the app registration trust a user-assigned managed identity: a federated identity credential
 * whose subject is the identity's principal id, so the identity's token replaces a client secret.
 * One credential per name: provisioning again (a new identity after `azd down`) updates it.
 */
function trustManagedIdentity(app, { name, tenantId, principalId }) {
  const credential = {
    name,
    issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`,
    subject: principalId,
    audiences: ['api://AzureADTokenExchange'],
    description: 'The function app runs as this managed identity and gets Microsoft Graph tokens with it (no client secret).',
  };
  const existing = graph('GET', `/applications/${app.id}/federatedIdentityCredentials`).value ?? [];
  const same = existing.find((c) => c.name === name);
  if (same && same.subject === principalId && same.issuer === credential.issuer) return 'unchanged';
  if (same) {
    // A credential's name cannot change; the rest can.
    graph('PATCH', `/applications/${app.id}/federatedIdentityCredentials/${same.id}`, { ...credential, name: undefined });
    return 'updated';
  }
  graph('POST', `/applications/${app.id}/federatedIdentityCredentials`, credential);
  return 'added';
}

/** The app registration with this client id: its object id and client id. */
const appByClientId = (clientId) => graph('GET', `/applications(appId='${clientId}')?$select=id,appId,displayName`);

/** Exits with a message that says what to do; nothing after it runs. */
function fail(message) {
  console.error(message);
  process.exit(1);
}

module.exports = {
  CliError,
  run,
  az,
  azJson,
  graph,
  retry,
  azdEnvironment,
  azdGet,
  azdSet,
  addRedirectUri,
  trustManagedIdentity,
  appByClientId,
  fail,
};
