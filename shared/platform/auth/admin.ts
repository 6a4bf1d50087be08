import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { catalog, type AppRole } from '../../manifests';
import { config, type Config } from '../config';
import { AppError, forbidden, unauthorized } from '../errors';

/** App roles of the admin API, declared in the manifests and on the app registration (infra/connectors.json). */
export const APP_ROLES = catalog.appRoles.map((r) => r.value as AppRole);
export type { AppRole };

/** The roles each role grants as well, as the manifests declare (writing includes reading). */
const IMPLIED = new Map<string, readonly string[]>(catalog.appRoles.map((r) => [r.value, r.includes ?? []]));

export interface Principal {
  tenantId: string;
  /** Object id of the caller (user or service principal). */
  objectId?: string;
  /** Client (application) id the token was issued to. */
  clientId?: string;
  name?: string;
  roles: string[];
  /** How the caller signed in: a bearer token (scripts) or a browser session. */
  via: 'bearer' | 'session';
}

const jwksByUrl = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
/** The signing keys of the app's own tenant: Entra ID signs every tenant's tokens with this set, and no caller picks the URL. */
function jwks(cfg: Config) {
  const url = `${cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '')}/${cfg.ENTRA_TENANT_ID}/discovery/v2.0/keys`;
  let set = jwksByUrl.get(url);
  if (!set) jwksByUrl.set(url, (set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 })));
  return set;
}

/** Clock skew allowed on exp/nbf/iat: the 5 minutes Microsoft's own libraries allow. */
export const CLOCK_SKEW_SECONDS = 300;

/**
 * Validates an Entra ID v2 access token for the admin API: RS256 only, signature first, then the
 * tenant on the allow-list, the issuer exactly `<authority>/<tid>/v2.0` for the token's own tenant,
 * and the audience the app's client id. Every failure is a 401 that says what was wrong.
 */
export async function authenticate(authorization: string | null | undefined, cfg: Config = config()): Promise<Principal> {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) throw unauthorized('Send an Entra ID access token for this app in the Authorization header: "Bearer <token>".');
  const token = m[1];
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'RS256')
      throw unauthorized(`Token is signed with ${String(header.alg)}; only RS256 tokens from Entra ID are accepted.`);
    decodeJwt(token);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw unauthorized('The bearer token is not a well-formed JWT.');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, jwks(cfg), {
      algorithms: ['RS256'],
      requiredClaims: ['exp', 'iat', 'tid'],
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (e) {
    throw unauthorized(reason(e));
  }
  const tid = typeof payload.tid === 'string' ? payload.tid : '';
  if (!cfg.ADMIN_ALLOWED_TENANTS.includes(tid.toLowerCase()) && !cfg.ADMIN_ALLOWED_TENANTS.includes(tid)) {
    throw unauthorized(`Tokens from tenant ${tid} are not accepted by this app.`);
  }
  const issuer = `${cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '')}/${tid}/v2.0`;
  if (payload.iss !== issuer)
    throw unauthorized(`The token's issuer is not ${issuer}; use an Entra ID v2 token from the token's own tenant.`);
  const audiences = [cfg.ENTRA_CLIENT_ID, `api://${cfg.ENTRA_CLIENT_ID}`];
  const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!aud.some((a) => a && audiences.includes(a)))
    throw unauthorized(`The token's audience is not this app; request a token for api://${cfg.ENTRA_CLIENT_ID}/.default.`);
  return {
    tenantId: tid,
    objectId: typeof payload.oid === 'string' ? payload.oid : undefined,
    clientId: typeof payload.azp === 'string' ? payload.azp : typeof payload.appid === 'string' ? payload.appid : undefined,
    name: typeof payload.name === 'string' ? payload.name : undefined,
    roles: Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [],
    via: 'bearer',
  };
}

function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'The token has expired; get a new one.';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf' || e.claim === 'iat') return 'The token is not valid yet.';
    return `The token's ${e.claim} claim is invalid.`;
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'The token signature does not verify against the tenant keys.';
  if (e instanceof errors.JWKSNoMatchingKey) return 'The token was signed with a key the tenant does not publish.';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'Only RS256 tokens are accepted.';
  if (e instanceof errors.JWKSTimeout || (e instanceof Error && /fetch|ECONNREFUSED|ENOTFOUND/i.test(e.message))) {
    return 'The tenant signing keys could not be fetched to check the token; try again.';
  }
  return 'The token could not be validated.';
}

/** The roles a principal holds, directly or through a role that implies them. */
export function grantedRoles(principal: Principal): string[] {
  const held = new Set<string>(principal.roles);
  for (const r of principal.roles) for (const implied of IMPLIED.get(r) ?? []) held.add(implied);
  return [...held];
}

/** 403 unless the principal holds `role` (directly or through a role that implies it). */
export function authorize(principal: Principal, role: AppRole): void {
  if (!grantedRoles(principal).includes(role))
    throw forbidden(
      `This operation needs the app role '${role}'; the caller holds ${principal.roles.length ? principal.roles.map((r) => `'${r}'`).join(', ') : 'no app role'}.`,
    );
}
