#!/usr/bin/env node
/**
 * Creates (or updates) the app registration for a tenant, with the Azure CLI signed in as an admin
 * who can grant consent:
 *   - the app roles of the admin API, v2 access tokens, identifier URI api://<client id>;
 *   - the Microsoft Graph application permissions in ../connectors.json (built from the connectors'
 *     manifests), granted with admin consent;
 *   - the redirect URI of the consent callback, when --app-url is given;
 *   - a client secret (with --secret).
 * Usage: node infra/entra/setup.js [--name "Intune connectors"] [--app-url https://func-….azurewebsites.net] [--secret] [--azd]
 * With --azd the values are stored in the current azd environment (azd env set).
 */
const { execFileSync } = require('node:child_process');
const { createHash, randomBytes } = require('node:crypto');
const { writeFileSync, mkdtempSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const manifest = require('../connectors.json');

const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};

function az(...a) {
  return execFileSync('az', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
const azJson = (...a) => JSON.parse(az(...a, '-o', 'json'));
const tmp = mkdtempSync(join(tmpdir(), 'entra-'));
const file = (name, value) => {
  const p = join(tmp, name);
  writeFileSync(p, JSON.stringify(value));
  return `@${p}`;
};
/** Stable ids for the app roles, so running the script again updates instead of duplicating. */
const roleId = (value) => {
  const h = createHash('sha1').update(`intune-connectors/app-role/${value}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const name = option('name', 'Intune connectors');
const appUrl = option('app-url');
const tenantId = azJson('account', 'show').tenantId;

const graphRoles = azJson('ad', 'sp', 'show', '--id', GRAPH_APP_ID, '--query', 'appRoles');
const resourceAccess = manifest.graphApplicationPermissions.map((permission) => {
  const role = graphRoles.find((r) => r.value === permission);
  if (!role) throw new Error(`Microsoft Graph has no application permission '${permission}'.`);
  return { id: role.id, type: 'Role' };
});
const appRoles = manifest.appRoles.map((r) => ({
  allowedMemberTypes: ['User', 'Application'],
  description: r.description,
  displayName: r.displayName,
  id: roleId(r.value),
  isEnabled: true,
  value: r.value,
}));

const existing = azJson('ad', 'app', 'list', '--display-name', name, '--query', '[].{appId:appId,id:id}');
const app =
  existing[0] ??
  azJson('ad', 'app', 'create', '--display-name', name, '--sign-in-audience', 'AzureADMyOrg', '--query', '{appId:appId,id:id}');
az(
  'ad',
  'app',
  'update',
  '--id',
  app.appId,
  '--identifier-uris',
  `api://${app.appId}`,
  '--app-roles',
  file('roles.json', appRoles),
  '--required-resource-accesses',
  file('rra.json', [{ resourceAppId: GRAPH_APP_ID, resourceAccess }]),
);
if (appUrl) az('ad', 'app', 'update', '--id', app.appId, '--web-redirect-uris', `${appUrl.replace(/\/$/, '')}/api/oauth/entra/callback`);
az(
  'rest',
  '--method',
  'PATCH',
  '--uri',
  `https://graph.microsoft.com/v1.0/applications/${app.id}`,
  '--headers',
  'Content-Type=application/json',
  '--body',
  JSON.stringify({ api: { requestedAccessTokenVersion: 2 } }),
);
try {
  az('ad', 'sp', 'show', '--id', app.appId, '--query', 'id');
} catch {
  az('ad', 'sp', 'create', '--id', app.appId, '--query', 'id');
}
az('ad', 'app', 'permission', 'admin-consent', '--id', app.appId);

const values = { ENTRA_TENANT_ID: tenantId, ENTRA_CLIENT_ID: app.appId };
if (flag('secret')) {
  values.ENTRA_CLIENT_SECRET = az(
    'ad',
    'app',
    'credential',
    'reset',
    '--id',
    app.appId,
    '--append',
    '--display-name',
    'intune-connectors',
    '--years',
    '1',
    '--query',
    'password',
    '-o',
    'tsv',
  );
  values.SECRETS_KEY = randomBytes(32).toString('base64');
}
console.log(`App registration '${name}': client id ${app.appId}, tenant ${tenantId}.`);
console.log(
  `App roles: ${manifest.appRoles.map((r) => r.value).join(', ')}. Graph application permissions (consented): ${manifest.graphApplicationPermissions.join(', ')}.`,
);
for (const [k, v] of Object.entries(values)) {
  if (flag('azd')) execFileSync('azd', ['env', 'set', k, v], { stdio: 'inherit' });
  else console.log(`${k}=${v}`);
}
if (flag('azd')) console.log('Stored in the azd environment.');
else if (flag('secret'))
  console.log('Keep ENTRA_CLIENT_SECRET and SECRETS_KEY secret: set them as deployment parameters (they go to Key Vault), not in files.');
