import { GraphContract } from '../../dev/sandbox/contract';
import { graph } from '../../shared/graph/client';
import { startEnv, type TestEnv } from '../helpers/env';

/**
 * The contract check itself: requests outside the Graph v1.0 subset, misspelt properties and bad
 * enum values are refused, and sandbox responses are validated. (Every integration suite also
 * asserts that nothing it sent or received violated the contract.)
 */
const contract = new GraphContract();
const none = new URLSearchParams();

describe('GraphContract', () => {
  test('paths and methods must exist in the subset; Graph spellings of actions and casts are accepted', () => {
    expect(contract.checkRequest('GET', '/me', none, undefined)).toEqual(['GET /me is not in the Graph v1.0 subset']);
    expect(contract.checkRequest('DELETE', '/users/abc', none, undefined)[0]).toMatch(/not in the Graph v1.0 subset/);
    expect(contract.checkRequest('POST', '/deviceManagement/managedDevices/x/remoteLock', none, undefined)).toEqual([]);
    expect(contract.checkRequest('POST', '/deviceManagement/managedDevices/x/microsoft.graph.remoteLock', none, undefined)).toEqual([]);
    expect(contract.find('GET', '/deviceAppManagement/mobileApps/microsoft.graph.iosVppApp')?.template).toBe(
      '/deviceAppManagement/mobileApps/graph.iosVppApp',
    );
    expect(contract.find('GET', '/deviceAppManagement/mobileApps/123')?.template).toBe('/deviceAppManagement/mobileApps/{mobileApp-id}');
  });

  test('query options must be declared for the operation', () => {
    expect(contract.checkRequest('GET', '/users', new URLSearchParams({ $top: '5', $select: 'id' }), undefined)).toEqual([]);
    expect(contract.checkRequest('GET', '/users', new URLSearchParams({ foo: 'bar' }), undefined)).toEqual([
      "GET /users does not take query option 'foo'",
    ]);
  });

  test('request bodies: misspelt properties, wrong types and unknown enum values are violations', () => {
    const ok = {
      '@odata.type': '#microsoft.graph.iosGeneralDeviceConfiguration',
      displayName: 'Block roaming',
      cellularBlockDataRoaming: true,
      cellularBlockGlobalBackgroundFetchWhileRoaming: true,
    };
    expect(contract.checkRequest('POST', '/deviceManagement/deviceConfigurations', none, ok)).toEqual([]);
    const misspelt = { ...ok, cellularBlockGlobalBackgroundDataRoaming: true };
    expect(contract.checkRequest('POST', '/deviceManagement/deviceConfigurations', none, misspelt)).toEqual([
      "POST /deviceManagement/deviceConfigurations body has property 'cellularBlockGlobalBackgroundDataRoaming', which microsoft.graph.iosGeneralDeviceConfiguration does not define",
    ]);
    expect(
      contract.checkRequest('POST', '/deviceManagement/deviceConfigurations', none, { ...ok, cellularBlockDataRoaming: 'yes' })[0],
    ).toMatch(/cellularBlockDataRoaming must be boolean/);
    const template = {
      '@odata.type': '#microsoft.graph.notificationMessageTemplate',
      displayName: 'x',
      brandingOptions: 'includeCompanyLogo',
      roleScopeTagIds: [],
    };
    expect(contract.checkRequest('POST', '/deviceManagement/notificationMessageTemplates', none, template)).toEqual([]);
    expect(
      contract.checkRequest('POST', '/deviceManagement/remoteAssistancePartners', none, {
        '@odata.type': '#microsoft.graph.remoteAssistancePartner',
        onboardingStatus: 'almostThere',
      })[0],
    ).toMatch(/must be equal to one of the allowed values/);
    expect(contract.checkRequest('POST', '/deviceManagement/managedDevices/x/remoteLock', none, { force: true })).toEqual([
      'POST /deviceManagement/managedDevices/{managedDevice-id}/remoteLock takes no body',
    ]);
  });

  test('responses are validated, derived types by @odata.type, collections item by item', () => {
    const device = {
      '@odata.type': '#microsoft.graph.managedDevice',
      id: '1',
      complianceState: 'noncompliant',
      managedDeviceOwnerType: 'company',
    };
    expect(contract.checkResponse('GET', '/deviceManagement/managedDevices', 200, { value: [device] })).toEqual([]);
    expect(
      contract.checkResponse('GET', '/deviceManagement/managedDevices', 200, {
        value: [{ ...device, complianceState: 'nonCompliant' }],
      })[0],
    ).toMatch(/value\/0\/complianceState must be equal to one of the allowed values/);
    expect(contract.checkResponse('GET', '/deviceManagement/managedDevices/1', 200, { id: '1' })[0]).toMatch(
      /must have required property '@odata.type'/,
    );
    expect(contract.checkResponse('POST', '/deviceManagement/managedDevices/1/remoteLock', 204, undefined)).toEqual([]);
    expect(
      contract.checkResponse('GET', '/users/1', 404, {
        error: {
          code: 'Request_ResourceNotFound',
          message: 'x',
          innerError: { date: '2025-02-13T10:17:05', 'request-id': 'r', 'client-request-id': 'c' },
        },
      }),
    ).toEqual([]);
    expect(contract.checkResponse('GET', '/users/1', 404, { oops: true })[0]).toMatch(/required property 'error'/);
  });

  test('application permissions are read from the subset', () => {
    expect(contract.permissionsFor('GET', '/deviceManagement/managedDevices')).toEqual([
      'DeviceManagementManagedDevices.Read.All',
      'DeviceManagementManagedDevices.ReadWrite.All',
    ]);
    expect(contract.permissionsFor('POST', '/deviceManagement/managedDevices/x/remoteLock')).toEqual([
      'DeviceManagementManagedDevices.PrivilegedOperations.All',
    ]);
  });
});

describe('the sandbox enforces the contract over HTTP', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(() => env?.stop());

  test('a request outside the subset is refused with 400 and recorded as a violation', async () => {
    await expect(graph().get('/me')).rejects.toMatchObject({ graphStatus: 400 });
    await expect(graph().post('/deviceManagement/managedDevices/x/remoteLock', { now: true })).rejects.toMatchObject({
      graphStatus: 400,
      graphMessage: expect.stringMatching(/takes no body/),
    });
    expect(env.sandbox.graph.violations).toEqual([
      'request: GET /me is not in the Graph v1.0 subset',
      'request: POST /deviceManagement/managedDevices/{managedDevice-id}/remoteLock takes no body',
    ]);
  });
});
