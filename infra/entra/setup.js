#!/usr/bin/env node
/**
 * Creates (or updates) the app registration for a tenant, with the Azure CLI signed in as an admin
 * who can grant consent:
 *   - the app roles of the admin API, v2 access tokens, identifier URI api://<client id>;
 *   - the Microsoft Graph application permissions in ../connectors.json (built from the connectors'
 *     manifests), each granted to the app's service principal (appRoleAssignedTo);
 *   - with --app-url, the redirect URI of the sign-in and consent callback;
 *   - with --identity <principal id>, trust in the function app's managed identity (a federated
 *     identity credential): in Azure the app needs no secret (the azd post-provision hook does this);
 *   - with --secret, a client secret for local runs, printed with its expiry date.
 * Usage: node infra/entra/setup.js [--name "Intune connectors"] [--azd] [--app-url <url>] [--identity <principal id>] [--secret]
 * With --azd the tenant id, client id and a new SECRETS_KEY (kept if there is one) go to the selected
 * azd environment; without a selected environment it refuses and changes nothing.
 */
const { createHash, randomBytes } = require('node:crypto');
const manifest = require('../connectors.json');
const { addRedirectUri, az, azdEnvironment, azdGet, azdSet, azJson, fail, graph, retry, trustManagedIdentity } = require('./cli');

const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const SECRET_YEARS = 1;
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith('--') ? args[i + 1] : fallback;
};

/** Stable ids for the app roles, so running the script again updates instead of duplicating. */
const roleId = (value) => {
  const h = createHash('sha1').update(`intune-connectors/app-role/${value}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

async function main() {
  const name = option('name', 'Intune connectors');
  const appUrl = option('app-url');
  const identity = option('identity');
  const useAzd = flag('azd');
  // Checked before anything changes: values set without an environment land in the wrong one.
  const environment = useAzd ? azdEnvironment() : undefined;
  if (useAzd && !environment)
    fail(
      'No azd environment is selected, so there is nowhere to store the values: run `azd env new <name>` (or `azd env select <name>`) first, then this script again. Nothing was changed.',
    );
  if (identity && !/^[0-9a-f-]{36}$/i.test(identity))
    fail(`--identity takes the principal (object) id of the managed identity, a GUID; got '${identity}'.`);

  const tenantId = azJson('account', 'show').tenantId;
  const graphSp = azJson('ad', 'sp', 'show', '--id', GRAPH_APP_ID, '--query', '{id:id,appRoles:appRoles}');
  const permissions = manifest.graphApplicationPermissions.map((permission) => {
    const role = graphSp.appRoles.find((r) => r.value === permission && r.allowedMemberTypes.includes('Application'));
    if (!role) fail(`Microsoft Graph has no application permission '${permission}'. Nothing was changed.`);
    return { permission, id: role.id };
  });

  // The exact name: `--display-name` matches by prefix and could pick another registration.
  const named = azJson(
    'ad',
    'app',
    'list',
    '--filter',
    `displayName eq '${name.replace(/'/g, "''")}'`,
    '--query',
    '[].{appId:appId,id:id}',
  );
  if (named.length > 1)
    fail(
      `${named.length} app registrations are named '${name}' (client ids ${named.map((a) => a.appId).join(', ')}): pass --name with a name only one of them has, or delete the others. Nothing was changed.`,
    );
  const app =
    named[0] ??
    azJson('ad', 'app', 'create', '--display-name', name, '--sign-in-audience', 'AzureADMyOrg', '--query', '{appId:appId,id:id}');
  const appRoles = manifest.appRoles.map((r) => ({
    allowedMemberTypes: ['User', 'Application'],
    description: r.description,
    displayName: r.displayName,
    id: roleId(r.value),
    isEnabled: true,
    value: r.value,
  }));
  await retry('Updating the app registration', () =>
    graph('PATCH', `/applications/${app.id}`, {
      identifierUris: [`api://${app.appId}`],
      appRoles,
      api: { requestedAccessTokenVersion: 2 },
      requiredResourceAccess: [{ resourceAppId: GRAPH_APP_ID, resourceAccess: permissions.map((p) => ({ id: p.id, type: 'Role' })) }],
    }),
  );
  let sp = azJson('ad', 'sp', 'list', '--filter', `appId eq '${app.appId}'`, '--query', '[].{id:id}')[0];
  if (!sp) sp = await retry('Creating the service principal', () => graph('POST', '/servicePrincipals', { appId: app.appId }));

  // Admin consent for application permissions is one app role assignment per permission.
  const granted = await retry(
    'Reading the permissions granted',
    () => graph('GET', `/servicePrincipals/${sp.id}/appRoleAssignments`).value,
  );
  for (const p of permissions) {
    if (granted.some((a) => a.resourceId === graphSp.id && a.appRoleId === p.id)) continue;
    await retry(`Granting ${p.permission}`, () =>
      graph('POST', `/servicePrincipals/${graphSp.id}/appRoleAssignedTo`, { principalId: sp.id, resourceId: graphSp.id, appRoleId: p.id }),
    );
  }

  if (appUrl) addRedirectUri(app, `${appUrl.replace(/\/$/, '')}/api/oauth/entra/callback`);
  if (identity) trustManagedIdentity(app, { name: `function-app-${environment ?? 'identity'}`, tenantId, principalId: identity });

  console.log(`App registration '${name}': client id ${app.appId}, tenant ${tenantId}.`);
  console.log(`App roles: ${manifest.appRoles.map((r) => r.value).join(', ')}.`);
  console.log(`Graph application permissions granted: ${manifest.graphApplicationPermissions.join(', ')}.`);
  if (useAzd) {
    azdSet('ENTRA_TENANT_ID', tenantId);
    azdSet('ENTRA_CLIENT_ID', app.appId);
    // A new key would leave every connector secret already stored unreadable: keep the one there is.
    if (!azdGet('SECRETS_KEY')) azdSet('SECRETS_KEY', randomBytes(32).toString('base64'));
    console.log(`ENTRA_TENANT_ID, ENTRA_CLIENT_ID and SECRETS_KEY are in the azd environment '${environment}'.`);
  } else {
    console.log(`ENTRA_TENANT_ID=${tenantId}`);
    console.log(`ENTRA_CLIENT_ID=${app.appId}`);
  }
  if (flag('secret')) {
    const expires = new Date(Date.now() + SECRET_YEARS * 365 * 86_400_000).toISOString().slice(0, 10);
    const secret = az(
      'ad',
      'app',
      'credential',
      'reset',
      '--id',
      app.appId,
      '--append',
      '--display-name',
      'intune-connectors-local',
      '--end-date',
      expires,
      '--query',
      'password',
      '-o',
      'tsv',
    );
    console.log('For a local run (local.settings.json); in Azure the app uses its managed identity instead:');
    console.log(`ENTRA_CLIENT_SECRET=${secret}`);
    console.log(`ENTRA_CLIENT_SECRET_EXPIRES=${expires}`);
  }
}

main().catch((e) => fail(e.message));
