import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { GRAPH_PERMISSIONS } from '../../shared/graph/permissions';
import { APP_ROLES } from '../../shared/platform/auth/admin';
import { settingsSchema } from '../../shared/platform/config';
import { CONTAINERS, QUEUES, TABLES } from '../../shared/platform/storage/resources';
import {
  appSettingNames,
  bicepFiles,
  codeDrift,
  evaluate,
  lint,
  moduleNameParams,
  parameterDrift,
  params,
  parseErrors,
  resourceBody,
  type CodeFacts,
} from '../helpers/bicep';
import { ROOT } from '../helpers/env';
import { CATALOG_FILE, renderCatalog } from '../../dev/catalog';

/** The infrastructure, checked offline: it parses, follows the lint rules, and cannot drift from the code. */
const INFRA = join(ROOT, 'infra');

const code: CodeFacts = {
  requiredSettings: Object.entries(settingsSchema.shape)
    .filter(([, s]) => !(s as z.ZodType).safeParse(undefined).success)
    .map(([k]) => k),
  knownSettings: Object.keys(settingsSchema.shape),
  tables: TABLES,
  queues: QUEUES.flatMap((q) => [q, `${q}-poison`]),
  containers: CONTAINERS,
};

const check = (dir: string) => {
  const files = bicepFiles(dir);
  const main = files.find((f) => f.path === 'main.bicep')!;
  const loadJson = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
  return [
    ...lint(files),
    ...parameterDrift(main, readFileSync(join(dir, 'main.parameters.json'), 'utf8')),
    ...codeDrift(files, code, loadJson),
  ];
};

/** A copy of infra/ with one file edited, for showing that the checks fail. */
function mutated(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'infra-'));
  cpSync(INFRA, dir, { recursive: true });
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(path, after);
  return dir;
}

test('every .bicep file parses', () => {
  const files = bicepFiles(INFRA);
  expect(files.map((f) => f.path).sort()).toEqual([
    'main.bicep',
    'modules/functionapp.bicep',
    'modules/identity.bicep',
    'modules/keyvault.bicep',
    'modules/monitoring.bicep',
    'modules/storage.bicep',
  ]);
  for (const f of files) expect(parseErrors(f)).toEqual([]);
  expect(
    parseErrors({
      path: 'x.bicep',
      text: '',
      root: bicepFiles(
        mutated('main.bicep', (t) => t.replace("targetScope = 'subscription'", "targetScope = 'subscription' resource =")),
      ).find((f) => f.path === 'main.bicep')!.root,
    }),
  ).not.toEqual([]);
});

test('the infrastructure passes every lint and drift check', () => {
  expect(check(INFRA)).toEqual([]);
});

test('it sets every setting the app requires, identity-based storage, the managed identity instead of a client secret, and secrets as Key Vault references', () => {
  const settings = appSettingNames(bicepFiles(INFRA));
  expect(code.requiredSettings.sort()).toEqual([
    'ARCHIVE_IMPORT_SCHEDULE',
    'COMPLIANCE_SCAN_SCHEDULE',
    'ENTRA_CLIENT_ID',
    'ENTRA_TENANT_ID',
    'PUBLIC_BASE_URL',
    'REMOTE_ASSISTANCE_REPORT_SCHEDULE',
    'SECRETS_KEY',
    'TEM_RECONCILE_SCHEDULE',
    'VPP_NEW_TOKENS_SCHEDULE',
    'VPP_SYNC_SCHEDULE',
  ]);
  for (const s of [
    ...code.requiredSettings,
    'AzureWebJobsStorage__accountName',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
    'ENTRA_MANAGED_IDENTITY_CLIENT_ID',
  ])
    expect(settings).toContain(s);
  expect(settings).not.toContain('ENTRA_CLIENT_SECRET');
  const main = readFileSync(join(INFRA, 'main.bicep'), 'utf8');
  expect(main).toMatch(/ENTRA_MANAGED_IDENTITY_CLIENT_ID: identity\.outputs\.clientId/);
  expect(main).toMatch(/SECRETS_KEY: '@Microsoft\.KeyVault\(SecretUri=/);
  expect(main).toMatch(/TEAMVIEWER_CLIENT_SECRET: '@Microsoft\.KeyVault\(SecretUri=/);
  // The address Azure gave the site, not one rebuilt from its name.
  expect(readFileSync(join(INFRA, 'modules', 'functionapp.bicep'), 'utf8')).toMatch(
    /PUBLIC_BASE_URL: 'https:\/\/\$\{site\.properties\.defaultHostName\}'/,
  );
});

describe('the checks fail when the infrastructure drifts (a mutated copy)', () => {
  test('a required setting removed', () => {
    expect(check(mutated('main.bicep', (t) => t.replace(/^\s*SECRETS_KEY: .*$/m, '')))).toEqual([
      "App setting 'SECRETS_KEY' is required by the app but not set in Bicep.",
    ]);
  });
  test('a queue removed', () => {
    expect(check(mutated('connectors.json', (t) => t.replace('"tem-events",', '')))).toEqual([
      "Queue 'tem-events' is used by the code but not created in Bicep.",
    ]);
    const ignored = check(mutated('main.bicep', (t) => t.replace('var queues = catalog.queues', "var queues = ['tem-jobs']")));
    expect(ignored).toContain("Queue 'tem-events' is used by the code but not created in Bicep.");
  });
  test('a table removed and an unknown setting added', () => {
    const dir = mutated('main.bicep', (t) =>
      t.replace('  ALERT_MAIL_SENDER: alertMailSender', "  ALERT_MAIL_SENDER: alertMailSender\n  GRAPH_BASE: 'x'"),
    );
    const catalogFile = join(dir, 'connectors.json');
    writeFileSync(catalogFile, readFileSync(catalogFile, 'utf8').replace('"temledger",', ''));
    const problems = check(dir);
    expect(problems.sort()).toEqual([
      "Bicep sets app setting 'GRAPH_BASE', which the app does not read.",
      "Table 'temledger' is used by the code but not created in Bicep.",
    ]);
  });
  test('a secret parameter without @secure(), a secret output, a key, an unversioned resource', () => {
    const dir = mutated('modules/keyvault.bicep', (t) =>
      t
        .replace(
          "@secure()\n@description('Client secret of the TeamViewer app; empty for none.')",
          "@description('Client secret of the TeamViewer app; empty for none.')",
        )
        .replace(
          'output uri string = vault.properties.vaultUri',
          "output uri string = vault.properties.vaultUri\noutput clientSecretValue string = teamViewerClientSecret\nresource x 'Microsoft.KeyVault/vaults' existing = { name: 'x' }",
        ),
    );
    const problems = check(dir);
    expect(problems).toEqual(
      expect.arrayContaining([
        "modules/keyvault.bicep: parameter 'teamViewerClientSecret' looks secret but has no @secure().",
        "modules/keyvault.bicep: output 'clientSecretValue' looks secret.",
        "modules/keyvault.bicep: resource 'x' has no explicit API version ('Microsoft.KeyVault/vaults').",
      ]),
    );
    const keys = check(
      mutated(
        'modules/storage.bicep',
        (t) =>
          t.replace('allowSharedKeyAccess: false', 'allowSharedKeyAccess: true') +
          "\noutput conn string = 'DefaultEndpointsProtocol=https;AccountName=${account.name};AccountKey=${account.listKeys().keys[0].value}'\n",
      ),
    );
    expect(keys).toEqual(
      expect.arrayContaining([
        "modules/storage.bicep: storage account 'account' must set allowSharedKeyAccess: false.",
        'modules/storage.bicep: uses a storage key or a connection string with a key; use identity-based access.',
        expect.stringMatching(/output 'conn' exposes a key/),
      ]),
    );
  });
  test('parameters out of step with main.parameters.json', () => {
    const dir = mutated('main.parameters.json', (t) =>
      t.replace('"secretsKey": { "value": "${SECRETS_KEY}" },', '"secretKey": { "value": "${SECRETS_KEY}" },'),
    );
    expect(check(dir).sort()).toEqual([
      "main.parameters.json does not give required parameter 'secretsKey'.",
      "main.parameters.json gives 'secretKey', which main.bicep does not declare.",
    ]);
  });
});

test('main.bicep takes secrets only as secure parameters', () => {
  const main = bicepFiles(INFRA).find((f) => f.path === 'main.bicep')!;
  expect(
    params(main)
      .filter((p) => p.secure)
      .map((p) => p.name),
  ).toEqual(['secretsKey', 'teamViewerClientSecret']);
});

test('infra/connectors.json (Bicep storage, Entra roles and permissions) is what the manifests declare', () => {
  const file = readFileSync(CATALOG_FILE, 'utf8');
  // Stale after a manifest change: npm run catalog writes it again.
  expect(file).toBe(renderCatalog());
  const json = JSON.parse(file) as { appRoles: { value: string }[]; graphApplicationPermissions: string[] };
  expect(json.appRoles.map((r) => r.value)).toEqual([...APP_ROLES]);
  expect(json.graphApplicationPermissions.sort()).toEqual(Object.keys(GRAPH_PERMISSIONS).sort());
  // The Entra set-up script reads it.
  expect(readFileSync(join(INFRA, 'entra', 'setup.js'), 'utf8')).toContain("require('../connectors.json')");
});

test("the README's deploy section names every Graph permission and app role the code uses", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const deploy = readme.split('\n## Deploy')[1]?.split('\n## ')[0] ?? '';
  expect(deploy).not.toBe('');
  for (const p of Object.keys(GRAPH_PERMISSIONS)) expect(deploy).toContain(`\`${p}\``);
  for (const r of APP_ROLES) expect(deploy).toContain(`\`${r}\``);
  for (const cmd of ['azd up', 'az deployment sub create', 'az bicep build', 'azd down', 'node infra/entra/setup.js'])
    expect(deploy).toContain(cmd);
});

test('azure.yaml deploys the app as the azd service api on Functions', () => {
  const yaml = readFileSync(join(ROOT, 'azure.yaml'), 'utf8');
  expect(yaml).toMatch(/services:\n {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function/);
  const functionApp = readFileSync(join(INFRA, 'modules', 'functionapp.bicep'), 'utf8');
  expect(functionApp).toMatch(/'azd-service-name': 'api'/);
  expect(functionApp).toMatch(/name: 'node'\s+version: '22'/);
  expect(functionApp).toMatch(/tier: 'FlexConsumption'/);
});

test('every %SETTING% a trigger binding names is a required setting, set by Bicep and in local.settings.sample.json', () => {
  // The Functions host resolves %SETTING% from app settings only: a default in the config schema is not one.
  const dir = join(ROOT, 'functions');
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const named = [...new Set([...sources.matchAll(/'%([A-Z0-9_]+)%'/g)].map((m) => m[1]))].sort();
  expect(named).toEqual([
    'ARCHIVE_IMPORT_SCHEDULE',
    'COMPLIANCE_SCAN_SCHEDULE',
    'REMOTE_ASSISTANCE_REPORT_SCHEDULE',
    'TEM_RECONCILE_SCHEDULE',
    'VPP_NEW_TOKENS_SCHEDULE',
    'VPP_SYNC_SCHEDULE',
  ]);
  const sample = (JSON.parse(readFileSync(join(ROOT, 'local.settings.sample.json'), 'utf8')) as { Values: Record<string, string> }).Values;
  for (const s of named) {
    expect(code.requiredSettings).toContain(s);
    expect(sample).toHaveProperty(s);
  }
});

// In this file, not beside the deploy steps: tree-sitter, loaded twice in one process (jest runs test
// files in one worker here), gives no syntax tree on Node 22.
describe('provision, azd down, provision again with the same environment name', () => {
  const main = bicepFiles(join(ROOT, 'infra')).find((f) => f.path === 'main.bicep')!;
  // A managed identity gets a new principal id each time it is created; azd down deletes it with the resource group.
  const render = (principalId: string) =>
    Object.fromEntries(
      [...moduleNameParams(main)].map(([module, expr]) => [
        module,
        evaluate(main, expr, {
          environmentName: 'contoso-connectors',
          location: 'westeurope',
          'subscription().id': '/subscriptions/00000000-0000-0000-0000-000000000001',
          'identity.outputs.principalId': principalId,
        }),
      ]),
    );

  test('the Key Vault, which outlives down in the deleted state (purge protection), gets a new name; a re-provision without down keeps it', () => {
    const first = render(randomUUID());
    const again = render(randomUUID());
    expect(Object.keys(first).sort()).toEqual(['api', 'identity', 'monitoring', 'storage', 'vault']);
    expect(again.vault).not.toBe(first.vault);
    // Deleted at once by azd down, so their names may (and do) stay the same.
    for (const m of ['api', 'identity', 'storage']) expect(again[m]).toBe(first[m]);
    const keep = randomUUID();
    expect(render(keep).vault).toBe(render(keep).vault);
    for (const name of [first.vault, again.vault]) expect(name).toMatch(/^kv-[a-z0-9]{13}$/); // 3–24 characters, a letter first
    expect(first.storage).toMatch(/^st[a-z0-9]{13}$/);
  });

  test("the vault's properties: purge protection with 7 days' retention, and no create mode that needs a deleted vault", () => {
    const vault = resourceBody(
      bicepFiles(join(ROOT, 'infra')).find((f) => f.path === 'modules/keyvault.bicep')!,
      'vault',
    )!;
    expect(vault).toMatch(/enablePurgeProtection: true/);
    expect(vault).toMatch(/softDeleteRetentionInDays: 7/);
    expect(vault).not.toMatch(/createMode/);
  });

  test('the README says what azd down leaves behind', () => {
    const deploySection = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n## Deploy\n')[1].split('\n## ')[0];
    expect(deploySection).toMatch(
      /\*\*Clean up:\*\* `azd down`[\s\S]*Key Vault, soft-deleted for 7 days[\s\S]*Log Analytics workspace[\s\S]*app registration/,
    );
  });
});
