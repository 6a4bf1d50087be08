import { z } from 'zod';
import { renderCatalog } from '../../dev/catalog';
import { catalog, CONNECTOR_MANIFESTS } from '../../shared/manifests';
import { buildCatalog, defineConnector, infraCatalog } from '../../shared/platform/manifest';
import { platform } from '../../shared/platform/platform';
import { fixture } from '../fixtures/connector/manifest';

/** The central lists come from the manifests: a connector folder with a manifest reaches all of them. */
const withFixture = buildCatalog(platform, [...CONNECTOR_MANIFESTS, fixture]);

test('a new connector manifest reaches storage, settings, roles, permissions, the listing and the infrastructure file', () => {
  expect(withFixture.tables).toContain('fixturerows');
  expect(withFixture.queues).toContain('fixture-jobs');
  expect(withFixture.containers).toContain('fixture-files');
  expect(withFixture.connectors.map((c) => c.id)).toEqual(['tem', 'compliance', 'vpp', 'archive', 'remote-assistance', 'fixture']);
  expect(withFixture.appRoles.map((r) => r.value)).toContain('Fixture.Manage');
  expect(withFixture.graphPermissions['Sites.Read.All']).toBe('fixture: read sites');
  // A permission two parts need names both reasons.
  expect(withFixture.graphPermissions['Mail.Send']).toMatch(/^tem: .*; compliance: .*; vpp: .*; fixture: fixture mail$/);
  // The one config schema reads the fixture's setting with its default and its error message.
  const schema = z.object(withFixture.settings);
  expect(schema.shape).toHaveProperty('FIXTURE_BATCH_SIZE');
  expect(z.object({ FIXTURE_BATCH_SIZE: withFixture.settings.FIXTURE_BATCH_SIZE }).parse({})).toEqual({ FIXTURE_BATCH_SIZE: 10 });
  expect(() => z.object({ FIXTURE_BATCH_SIZE: withFixture.settings.FIXTURE_BATCH_SIZE }).parse({ FIXTURE_BATCH_SIZE: '500' })).toThrow(
    /at most 100/,
  );
  // infra/connectors.json (Bicep and the Entra set-up) would create and grant it.
  const infra = infraCatalog(withFixture);
  expect(infra.queues).toEqual(expect.arrayContaining(['fixture-jobs', 'fixture-jobs-poison']));
  expect(infra.graphApplicationPermissions).toContain('Sites.Read.All');
  expect(renderCatalog(withFixture)).not.toBe(renderCatalog());
});

test('the app runs on the catalog of its own manifests', () => {
  expect(catalog.connectors.map((c) => c.id)).toEqual(['tem', 'compliance', 'vpp', 'archive', 'remote-assistance']);
  expect(catalog.tables).not.toContain('fixturerows');
});

test('a name two manifests both claim is refused, naming both', () => {
  const clash = defineConnector({ ...fixture, id: 'clash', tables: ['temledger'], queues: [], containers: [], settings: {}, appRoles: [] });
  expect(() => buildCatalog(platform, [...CONNECTOR_MANIFESTS, clash])).toThrow("Table 'temledger' is declared by both 'tem' and 'clash'");
  const setting = defineConnector({
    ...fixture,
    id: 'again',
    tables: [],
    queues: [],
    containers: [],
    appRoles: [],
    settings: { ENTRA_TENANT_ID: z.string() },
  });
  expect(() => buildCatalog(platform, [setting])).toThrow("Setting 'ENTRA_TENANT_ID' is declared by both 'platform' and 'again'");
});
