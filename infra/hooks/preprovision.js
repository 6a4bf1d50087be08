#!/usr/bin/env node
/**
 * azd runs this before provisioning (azure.yaml): it stops early, with what to do, when the
 * environment lacks what the template needs or the region cannot host a Flex Consumption app.
 */
const { azJson, fail } = require('../entra/cli');

const env = process.env;
const missing = ['ENTRA_TENANT_ID', 'ENTRA_CLIENT_ID', 'SECRETS_KEY'].filter((k) => !env[k]);
if (missing.length)
  fail(
    `The azd environment '${env.AZURE_ENV_NAME ?? '?'}' has no ${missing.join(', ')}: run \`node infra/entra/setup.js --azd\` with this environment selected, then provision again.`,
  );

// Flex Consumption runs in some regions only; Azure's own list, not a copy that goes stale.
if (env.AZURE_LOCATION) {
  const regions = azJson('functionapp', 'list-flexconsumption-locations', '--query', '[].name');
  const wanted = env.AZURE_LOCATION.toLowerCase().replace(/\s/g, '');
  if (!regions.some((r) => r.toLowerCase().replace(/\s/g, '') === wanted))
    fail(
      `Region '${env.AZURE_LOCATION}' offers no Flex Consumption plan. Pick one of: ${regions.join(', ')} (azd env set AZURE_LOCATION <region>), then provision again.`,
    );
}
