import { createHash } from 'node:crypto';
import { DEMO } from './demo';
import type { Entity, TenantStore } from './graph/framework';

/**
 * The demo tenant's directory and devices: users, groups, Entra devices and Intune managed devices,
 * company-owned and personal, with phone numbers. Ids are derived from names, so they are stable.
 */
export const stableId = (name: string) => {
  const h = createHash('sha256').update(`demo:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const USERS = [
  ['adele', 'Adele Vance', 'Sales', 'en-US'],
  ['alex', 'Alex Wilber', 'Marketing', 'en-GB'],
  ['diego', 'Diego Siciliani', 'Field Engineering', 'es-ES'],
  ['grady', 'Grady Archie', 'Field Engineering', 'en-US'],
  ['isaiah', 'Isaiah Langer', 'Sales', 'de-DE'],
  ['johanna', 'Johanna Lorenz', 'Finance', 'de-DE'],
  ['lee', 'Lee Gu', 'IT', 'en-US'],
  ['megan', 'Megan Bowen', 'IT', 'fr-FR'],
] as const;

/** [key, user, os, osVersion, owner, phone, compliance, agent, model] */
const DEVICES = [
  ['adele-iphone', 'adele', 'iOS', '17.5.1', 'company', '+447700900101', 'compliant', 'mdm', 'iPhone 15'],
  ['alex-iphone', 'alex', 'iOS', '17.4', 'company', '+447700900102', 'noncompliant', 'mdm', 'iPhone 14'],
  ['diego-android', 'diego', 'Android', '14', 'company', '+447700900103', 'compliant', 'mdm', 'Pixel 8'],
  ['grady-android', 'grady', 'Android', '13', 'company', '+447700900104', 'compliant', 'mdm', 'Galaxy S23'],
  ['isaiah-iphone', 'isaiah', 'iOS', '16.7', 'personal', '+447700900105', 'compliant', 'mdm', 'iPhone 13'],
  ['johanna-android', 'johanna', 'Android', '12', 'personal', '+447700900106', 'noncompliant', 'mdm', 'Galaxy A54'],
  ['lee-laptop', 'lee', 'Windows', '10.0.22631.3880', 'company', null, 'compliant', 'mdm', 'Surface Laptop 5'],
  ['megan-mac', 'megan', 'macOS', '14.5', 'company', null, 'noncompliant', 'jamf', 'MacBook Pro'],
  ['megan-ipad', 'megan', 'iOS', '17.5', 'company', '+447700900108', 'noncompliant', 'jamf', 'iPad Pro'],
  ['lee-windows-tablet', 'lee', 'Windows', '10.0.19045.4651', 'company', '+447700900107', 'compliant', 'mdm', 'Surface Pro 9'],
  // The kinds TeamViewer's remote assistance does not support.
  ['isaiah-hololens', 'isaiah', 'Windows', '10.0.20348.2582', 'company', null, 'compliant', 'mdm', 'HoloLens 2'],
  ['lee-surface-hub', 'lee', 'Windows', '10.0.19045.4651', 'company', null, 'compliant', 'mdm', 'Surface Hub 2S'],
  ['johanna-laptop', 'johanna', 'Windows 10 S', '10.0.19045.4651', 'company', null, 'compliant', 'mdm', 'Surface Laptop SE'],
  ['grady-scanner', 'grady', 'Android', '13', 'company', null, 'compliant', 'googleCloudDevicePolicyController', 'Zebra TC52'],
] as const;

export function seedTenant(store: TenantStore): void {
  const created = '2025-01-06T09:00:00Z';
  for (const [key, name, department, lang] of USERS) {
    const [given, surname] = name.split(' ');
    const upn = `${key}@${DEMO.domain}`;
    store.table('users').set(stableId(`user:${key}`), {
      '@odata.type': '#microsoft.graph.user',
      id: stableId(`user:${key}`),
      displayName: name,
      givenName: given,
      surname,
      userPrincipalName: upn,
      mail: upn,
      department,
      preferredLanguage: lang,
      accountEnabled: true,
    });
  }
  for (const [key, user, os, osVersion, owner, phone, compliance, agent, model] of DEVICES)
    putDevice(store, { key, user, os, osVersion, owner, phone, compliance, agent, model });
  const group = (key: string, displayName: string, members: string[]) => {
    const id = stableId(`group:${key}`);
    store.table('groups').set(id, {
      '@odata.type': '#microsoft.graph.group',
      id,
      displayName,
      description: `${displayName} (demo)`,
      mailNickname: key,
      mailEnabled: false,
      securityEnabled: true,
      groupTypes: [],
      createdDateTime: created,
    });
    store.groupMembers.set(id, new Set(members.map((m) => stableId(`user:${m}`))));
  };
  group('intune-admins', 'Intune Admins', ['lee', 'megan']);
  group('sales', 'Sales', ['adele', 'isaiah']);
  group('field-engineers', 'Field Engineers', ['diego', 'grady']);
  group('compliance-managers', 'Compliance Managers', ['johanna', 'megan']);
}

interface DeviceSpec {
  key: string;
  user: string;
  os: string;
  osVersion: string;
  owner: 'company' | 'personal';
  phone: string | null;
  compliance: string;
  agent: string;
  model: string;
}

/** An Intune managed device with its Entra device object. */
export function putDevice(store: TenantStore, d: DeviceSpec): Entity {
  const aad = stableId(`aad:${d.key}`);
  const u = store.table('users').get(stableId(`user:${d.user}`))!;
  store.table('devices').set(stableId(`device:${d.key}`), {
    '@odata.type': '#microsoft.graph.device',
    id: stableId(`device:${d.key}`),
    deviceId: aad,
    displayName: d.key,
    operatingSystem: d.os,
    operatingSystemVersion: d.osVersion,
    accountEnabled: true,
    isManaged: true,
    deviceOwnership: d.owner === 'company' ? 'Company' : 'Personal',
  });
  const md: Entity = {
    '@odata.type': '#microsoft.graph.managedDevice',
    id: stableId(`managed:${d.key}`),
    deviceName: d.key,
    userId: u.id,
    userPrincipalName: u.userPrincipalName,
    userDisplayName: u.displayName,
    emailAddress: u.mail,
    managedDeviceOwnerType: d.owner,
    operatingSystem: d.os,
    osVersion: d.osVersion,
    complianceState: d.compliance,
    managementAgent: d.agent,
    managementState: 'managed',
    azureADDeviceId: aad,
    azureADRegistered: true,
    deviceRegistrationState: 'registered',
    deviceEnrollmentType: d.owner === 'company' ? 'appleBulkWithUser' : 'userEnrollment',
    enrolledDateTime: '2025-01-06T09:00:00Z',
    lastSyncDateTime: '2026-11-20T08:00:00Z',
    complianceGracePeriodExpirationDateTime: '9999-12-31T23:59:59Z',
    phoneNumber: d.phone,
    subscriberCarrier: d.phone ? 'O2 - UK' : null,
    model: d.model,
    manufacturer:
      d.os === 'iOS' || d.os === 'macOS'
        ? 'Apple'
        : d.os.startsWith('Windows')
          ? 'Microsoft'
          : d.model.startsWith('Pixel')
            ? 'Google'
            : d.model.startsWith('Zebra')
              ? 'Zebra Technologies'
              : 'Samsung',
    serialNumber: createHash('md5').update(d.key).digest('hex').slice(0, 12).toUpperCase(),
    imei: d.phone ? `35${createHash('md5').update(`imei:${d.key}`).digest('hex').replace(/\D/g, '').padEnd(13, '7').slice(0, 13)}` : null,
    isSupervised: d.owner === 'company' && d.os === 'iOS',
    isEncrypted: true,
    jailBroken: 'False',
    deviceCategoryDisplayName: '',
    exchangeAccessState: 'none',
    exchangeAccessStateReason: 'none',
    partnerReportedThreatState: 'unknown',
    deviceActionResults: [],
    totalStorageSpaceInBytes: 128 * 1024 ** 3,
    freeStorageSpaceInBytes: 64 * 1024 ** 3,
  };
  store.table('managedDevices').set(md.id, md);
  return md;
}

/**
 * Adds `count` managed devices (each with its Entra device object and a unique phone number) for
 * load and failure tests. Returns the new devices.
 */
export function addManagedDevices(
  store: TenantStore,
  count: number,
  owner: 'company' | 'personal' = 'company',
  os: 'iOS' | 'Android' = 'iOS',
): Entity[] {
  const start = store.table('managedDevices').size;
  return Array.from({ length: count }, (_, i) =>
    putDevice(store, {
      key: `bulk-${start + i}`,
      user: 'grady',
      os,
      osVersion: os === 'iOS' ? '17.5' : '14',
      owner,
      phone: `+44770091${String(start + i).padStart(4, '0')}`,
      compliance: 'compliant',
      agent: 'mdm',
      model: os === 'iOS' ? 'iPhone 15' : 'Pixel 8',
    }),
  );
}
