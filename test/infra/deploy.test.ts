import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT } from '../helpers/env';

/**
 * The README's deploy steps, run as written against stand-ins for `az` and `azd`
 * (test/fixtures/cli) that model an Entra directory, azd environments and provisioning, record
 * every call, and fail as the real tools do on a missing environment.
 */
const CLI = join(ROOT, 'test', 'fixtures', 'cli');
const catalog = JSON.parse(readFileSync(join(ROOT, 'infra', 'connectors.json'), 'utf8')) as {
  graphApplicationPermissions: string[];
  appRoles: { value: string }[];
};
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const deploySection = readme.split('\n## Deploy\n')[1].split('\n## ')[0];

interface Fic {
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}
interface App {
  id: string;
  appId: string;
  displayName: string;
  identifierUris?: string[];
  appRoles?: unknown[];
  web: { redirectUris: string[] };
  fics: Fic[];
}
interface State {
  tenantId: string;
  azd: { envs: Record<string, Record<string, string>>; defaultEnv: string | null };
  apps: App[];
  servicePrincipals: {
    id: string;
    appId: string;
    appRoles: { id: string; value: string }[];
    assignments: { principalId: string; appRoleId: string }[];
  }[];
  provisions?: { env: string; params: Record<string, string>; identity: string }[];
  calls: { tool: string; args: string[]; env: string | null }[];
}

function standIns() {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-'));
  const file = join(dir, 'state.json');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { initial } = require(join(CLI, 'state.js')) as { initial: (o: object) => State };
  writeFileSync(file, JSON.stringify(initial({ tenantId: randomUUID(), graphPermissions: catalog.graphApplicationPermissions })));
  const env = { ...process.env, PATH: `${CLI}:${process.env.PATH}`, STANDIN_STATE: file };
  return {
    sh: (script: string) => spawnSync('bash', ['-e', '-c', script], { cwd: ROOT, env, encoding: 'utf8' }),
    state: () => JSON.parse(readFileSync(file, 'utf8')) as State,
    edit: (change: (s: State) => void) => {
      const s = JSON.parse(readFileSync(file, 'utf8')) as State;
      change(s);
      writeFileSync(file, JSON.stringify(s));
    },
  };
}

/** The azd steps: the first sh block after "**With azd**" in the deploy section. */
const azdSteps = /\*\*With azd\*\*[\s\S]*?```sh\n([\s\S]*?)```/.exec(deploySection)![1];
const changes = (s: State) =>
  s.calls.filter(
    (c) =>
      c.tool === 'az' &&
      !(c.args[0] === 'rest' && /^get$/i.test(c.args[2] ?? '')) &&
      !/^(account|functionapp list|ad sp show|ad app list|ad sp list)/.test(c.args.slice(0, 3).join(' ')),
  );

test("the README's azd steps, in their written order, register the app, fill one environment, provision and trust the identity", () => {
  const cli = standIns();
  const run = cli.sh(azdSteps);
  expect(run.stderr).not.toMatch(/ERROR/);
  expect(run.status).toBe(0);
  const s = cli.state();

  // One environment, holding everything the template needs.
  expect(Object.keys(s.azd.envs)).toEqual(['contoso-connectors']);
  const values = s.azd.envs['contoso-connectors'];
  const app = s.apps.find((a) => a.displayName === 'Intune connectors')!;
  expect(values).toMatchObject({ ENTRA_TENANT_ID: s.tenantId, ENTRA_CLIENT_ID: app.appId, ALERT_MAIL_SENDER: 'alerts@contoso.com' });
  expect(Buffer.from(values.SECRETS_KEY, 'base64')).toHaveLength(32);
  expect(s.provisions).toHaveLength(1);
  expect(s.provisions![0].params).toMatchObject({ entraTenantId: s.tenantId, entraClientId: app.appId, secretsKey: values.SECRETS_KEY });

  // The registration: exact name (the one whose name starts the same is untouched), roles, v2 tokens.
  const old = s.apps.find((a) => a.displayName === 'Intune connectors (old)')!;
  expect(old.identifierUris).toBeUndefined();
  expect(old.fics).toEqual([]);
  expect(app.identifierUris).toEqual([`api://${app.appId}`]);
  expect((app.appRoles as { value: string }[]).map((r) => r.value)).toEqual(catalog.appRoles.map((r) => r.value));

  // Every Graph permission granted once to the app's service principal, through appRoleAssignedTo,
  // the first attempt having met Entra ID's replication delay and been retried.
  const graphSp = s.servicePrincipals.find((p) => p.appId === '00000003-0000-0000-c000-000000000000')!;
  const sp = s.servicePrincipals.find((p) => p.appId === app.appId)!;
  const granted = graphSp.assignments
    .filter((a) => a.principalId === sp.id)
    .map((a) => graphSp.appRoles.find((r) => r.id === a.appRoleId)!.value);
  expect(granted.sort()).toEqual([...catalog.graphApplicationPermissions].sort());
  const posts = s.calls.filter((c) => c.args.join(' ').includes('/appRoleAssignedTo'));
  expect(posts).toHaveLength(catalog.graphApplicationPermissions.length + 1);
  expect(s.calls.some((c) => c.args.includes('admin-consent'))).toBe(false);

  // After provisioning: the registration trusts the new identity and knows the redirect URI.
  expect(app.fics).toEqual([
    expect.objectContaining({
      issuer: `https://login.microsoftonline.com/${s.tenantId}/v2.0`,
      subject: s.provisions![0].identity,
      audiences: ['api://AzureADTokenExchange'],
    }),
  ]);
  expect(app.web.redirectUris).toEqual(['https://func-contoso-connectors.azurewebsites.net/api/oauth/entra/callback']);
  // azd calls after `env new` all act on that environment.
  const envNew = s.calls.findIndex((c) => c.tool === 'azd' && c.args[1] === 'new');
  expect(s.calls.slice(envNew + 1).every((c) => c.env === 'contoso-connectors')).toBe(true);
});

test('setup.js --azd with no azd environment selected refuses before changing anything (the old order fails here)', () => {
  const cli = standIns();
  const run = cli.sh('node infra/entra/setup.js --azd');
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/No azd environment is selected.*azd env new <name>.*Nothing was changed/);
  expect(cli.state().calls.map((c) => `${c.tool} ${c.args.join(' ')}`)).toEqual(['azd env list -o json']);
  // And `azd env set` without an environment is what broke the old order.
  expect(cli.sh('azd env set ALERT_MAIL_SENDER alerts@contoso.com').status).toBe(1);
});

test('two registrations with exactly the chosen name: the script refuses and changes nothing', () => {
  const cli = standIns();
  cli.edit((s) => {
    for (let i = 0; i < 2; i++)
      s.apps.push({ id: randomUUID(), appId: randomUUID(), displayName: 'Intune connectors', web: { redirectUris: [] }, fics: [] });
  });
  const run = cli.sh('azd env new contoso-connectors && node infra/entra/setup.js --azd');
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/2 app registrations are named 'Intune connectors'.*Nothing was changed/);
  expect(changes(cli.state())).toEqual([]);
  expect(cli.state().azd.envs['contoso-connectors'].ENTRA_CLIENT_ID).toBeUndefined();
});

test('azd down, then azd up with the same environment: provisioning works again, the registration trusts the new identity, SECRETS_KEY is kept', () => {
  const cli = standIns();
  expect(cli.sh(azdSteps).status).toBe(0);
  const before = cli.state();
  const key = before.azd.envs['contoso-connectors'].SECRETS_KEY;
  const again = cli.sh('azd down && node infra/entra/setup.js --azd && azd up');
  expect(again.stderr).not.toMatch(/ERROR|already exists/);
  expect(again.status).toBe(0);
  const s = cli.state();
  expect(s.provisions).toHaveLength(2);
  expect(s.provisions![1].identity).not.toBe(s.provisions![0].identity);
  const app = s.apps.find((a) => a.displayName === 'Intune connectors')!;
  expect(app.fics).toHaveLength(1);
  expect(app.fics[0].subject).toBe(s.provisions![1].identity);
  expect(s.azd.envs['contoso-connectors'].SECRETS_KEY).toBe(key);
  expect(s.provisions![1].params.secretsKey).toBe(key);
});

test('provisioning stops before anything is created in a region without Flex Consumption, or without the set-up values', () => {
  const cli = standIns();
  const region = cli.sh(
    'azd env new contoso-connectors && node infra/entra/setup.js --azd && azd env set AZURE_LOCATION brazilsoutheast && azd up',
  );
  expect(region.status).toBe(1);
  expect(region.stderr).toMatch(/Region 'brazilsoutheast' offers no Flex Consumption plan\. Pick one of: eastus, northeurope/);
  expect(cli.state().provisions).toBeUndefined();

  const fresh = standIns();
  const missing = fresh.sh('azd env new contoso-connectors && azd up');
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(/has no ENTRA_TENANT_ID, ENTRA_CLIENT_ID, SECRETS_KEY: run `node infra\/entra\/setup.js --azd`/);
  expect(fresh.state().provisions).toBeUndefined();
});
