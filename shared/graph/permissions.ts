import { catalog, type GraphPermission } from '../manifests';

/**
 * The Microsoft Graph application permissions the app needs, least privilege, and why (from the
 * manifests). The Entra set-up script grants exactly these, the README lists them, and the sandbox
 * tenant grants the app only these, so a call needing anything else fails in the tests.
 */
export const GRAPH_PERMISSIONS = catalog.graphPermissions as Readonly<Record<GraphPermission, string>>;

export type { GraphPermission };
