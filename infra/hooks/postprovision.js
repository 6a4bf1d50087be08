#!/usr/bin/env node
/**
 * azd runs this after provisioning (azure.yaml):
 *   1. the app registration trusts the function app's managed identity (a federated identity
 *      credential; a new identity after `azd down` replaces the old one) and gets the app's redirect URI;
 *   2. it waits until App Service has resolved the app's Key Vault references: role assignments take
 *      minutes to apply, and until then the app would receive the references' text and refuse to
 *      start (restarting it makes App Service read them again).
 */
const { setTimeout: sleep } = require('node:timers/promises');
const { addRedirectUri, appByClientId, az, azJson, fail, trustManagedIdentity } = require('../entra/cli');

const WAIT_ROUNDS = 20;
const WAIT_SECONDS = 30;

async function main() {
  const env = process.env;
  const need = [
    'ENTRA_CLIENT_ID',
    'ENTRA_TENANT_ID',
    'AZURE_IDENTITY_PRINCIPAL_ID',
    'SERVICE_API_URI',
    'AZURE_RESOURCE_GROUP',
    'AZURE_FUNCTION_APP_NAME',
  ];
  const missing = need.filter((k) => !env[k]);
  if (missing.length) fail(`Provisioning left no ${missing.join(', ')} in the azd environment; run \`azd provision\` again.`);

  const app = appByClientId(env.ENTRA_CLIENT_ID);
  const trust = trustManagedIdentity(app, {
    name: `function-app-${env.AZURE_ENV_NAME}`,
    tenantId: env.ENTRA_TENANT_ID,
    principalId: env.AZURE_IDENTITY_PRINCIPAL_ID,
  });
  const redirect = `${env.SERVICE_API_URI.replace(/\/$/, '')}/api/oauth/entra/callback`;
  addRedirectUri(app, redirect);
  console.log(
    `App registration ${app.appId}: trusts managed identity ${env.AZURE_IDENTITY_PRINCIPAL_ID} (${trust}); redirect URI ${redirect}.`,
  );

  const site = ['--resource-group', env.AZURE_RESOURCE_GROUP, '--name', env.AZURE_FUNCTION_APP_NAME];
  const { id } = azJson('functionapp', 'show', ...site, '--query', '{id:id}');
  for (let round = 1; ; round++) {
    const refs =
      azJson(
        'rest',
        '--method',
        'get',
        '--uri',
        `https://management.azure.com${id}/config/configreferences/appsettings?api-version=2024-11-01`,
      ).value ?? [];
    const pending = refs.filter((r) => r.properties?.status !== 'Resolved');
    if (!pending.length) return console.log(`Key Vault references resolved: ${refs.map((r) => r.name).join(', ') || 'none'}.`);
    if (round > WAIT_ROUNDS)
      fail(
        `Key Vault references still not resolved after ${(WAIT_ROUNDS * WAIT_SECONDS) / 60} minutes: ${pending.map((r) => `${r.name} (${r.properties?.status}: ${r.properties?.details ?? ''})`).join('; ')}. Check that the identity has "Key Vault Secrets User" on the vault, then \`az functionapp restart\`.`,
      );
    console.log(
      `Waiting for role assignments to apply: ${pending.map((r) => r.name).join(', ')} not resolved yet (${round}/${WAIT_ROUNDS}).`,
    );
    await sleep(WAIT_SECONDS * 1000);
    az('functionapp', 'restart', ...site);
  }
}

main().catch((e) => fail(e.message));
