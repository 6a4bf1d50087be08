import { graph, GraphApiError } from './client';

/**
 * The Intune and directory objects the connectors share, typed once, with their readers. Each
 * reader asks Graph for the fields the caller names ($select), and a Graph 404 reads as undefined.
 */

/** A managed device (Intune), with the fields any connector reads. */
export interface ManagedDevice {
  id: string;
  deviceName: string;
  operatingSystem?: string | null;
  osVersion?: string | null;
  phoneNumber?: string | null;
  model?: string | null;
  userId?: string | null;
  userPrincipalName?: string | null;
  userDisplayName?: string | null;
  emailAddress?: string | null;
  /** The Entra device's deviceId (not its object id). */
  azureADDeviceId?: string | null;
  managedDeviceOwnerType?: 'company' | 'personal' | 'unknown' | null;
  complianceState?: string;
  managementAgent?: string;
  managementState?: string;
  deviceActionResults?: { actionName?: string; startDateTime?: string }[];
}

export interface User {
  id: string;
  displayName?: string | null;
  mail?: string | null;
  userPrincipalName?: string | null;
  preferredLanguage?: string | null;
}

/** A member of a group: a user, device or other directory object (mail only on users). */
export interface DirectoryObject {
  id: string;
  mail?: string | null;
}

/** The object with `fields` (and its id) read. */
export type Read<T extends { id: string }, K extends keyof T> = Pick<T, K | 'id'>;

/** Whether Graph answered that the object is not there. */
export const isMissing = (e: unknown): boolean => e instanceof GraphApiError && e.graphStatus === 404;

/** The value, or undefined when Graph answers 404; any other failure is thrown. */
export async function unlessMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

const select = (fields: readonly string[]) => [...new Set(['id', ...fields])].join(',');

export function readManagedDevice<K extends keyof ManagedDevice>(
  id: string,
  fields: readonly K[],
): Promise<Read<ManagedDevice, K> | undefined> {
  return unlessMissing(
    graph().get<Read<ManagedDevice, K>>(`/deviceManagement/managedDevices/${encodeURIComponent(id)}`, { $select: select(fields) }),
  );
}

/** Every managed device, page by page. */
export function listManagedDevices<K extends keyof ManagedDevice>(fields: readonly K[]): AsyncGenerator<Read<ManagedDevice, K>> {
  return graph().list<Read<ManagedDevice, K>>('/deviceManagement/managedDevices', { $select: select(fields), $top: 1000 });
}

/** Every managed device, in one array. */
export function allManagedDevices<K extends keyof ManagedDevice>(fields: readonly K[]): Promise<Read<ManagedDevice, K>[]> {
  return graph().all<Read<ManagedDevice, K>>('/deviceManagement/managedDevices', { $select: select(fields), $top: 1000 });
}

export function readUser<K extends keyof User>(id: string, fields: readonly K[]): Promise<Read<User, K> | undefined> {
  return unlessMissing(graph().get<Read<User, K>>(`/users/${encodeURIComponent(id)}`, { $select: select(fields) }));
}

/** Every user of the tenant, page by page. */
export function listUsers<K extends keyof User>(fields: readonly K[]): AsyncGenerator<Read<User, K>> {
  return graph().list<Read<User, K>>('/users', { $select: select(fields), $top: 999 });
}

/** Every member of a group, page by page. */
export function listGroupMembers<K extends keyof DirectoryObject>(
  groupId: string,
  fields: readonly K[],
): AsyncGenerator<Read<DirectoryObject, K>> {
  return graph().list<Read<DirectoryObject, K>>(`/groups/${encodeURIComponent(groupId)}/members`, { $select: select(fields) });
}

/** Whether the group exists. */
export async function groupExists(id: string): Promise<boolean> {
  return (await unlessMissing(graph().get(`/groups/${encodeURIComponent(id)}`, { $select: 'id' }))) !== undefined;
}
