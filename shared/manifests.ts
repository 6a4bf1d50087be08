import { archive } from './archive/manifest';
import { compliance } from './compliance/manifest';
import { buildCatalog } from './platform/manifest';
import { platform } from './platform/platform';
import { remoteAssistance } from './remote-assistance/manifest';
import { tem } from './tem/manifest';
import { vpp } from './vpp/manifest';

/** Every connector, in the order admins see them: adding a connector is its folder and one line here. */
export const CONNECTOR_MANIFESTS = [tem, compliance, vpp, archive, remoteAssistance] as const;

/** The central lists of the app, built from the manifests. */
export const catalog = buildCatalog(platform, CONNECTOR_MANIFESTS);

type Part = typeof platform | (typeof CONNECTOR_MANIFESTS)[number];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

export type TableName = Part['tables'][number];
export type QueueBaseName = Part['queues'][number];
export type ContainerName = Part['containers'][number];
export type SettingsShape = UnionToIntersection<Part['settings']>;
export type AppRole = Part['appRoles'][number]['value'];
export type GraphPermission = Extract<keyof UnionToIntersection<Part['graphPermissions']>, string>;
export type ConnectorId = (typeof CONNECTOR_MANIFESTS)[number]['id'];
