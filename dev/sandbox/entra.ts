import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';
import { DEMO, demoUsers, type DemoClient, type DemoUser } from './demo';
import { redirect, sendHtml, sendJson, type SandboxRequest } from './http';

/**
 * Entra ID v2 endpoints as standard clients (MSAL, jose) expect them: OpenID configuration, JWKS,
 * the token endpoint (client credentials and authorization code with PKCE), authorize and admin
 * consent redirects. Tokens are RS256 with tid, iss, aud, roles.
 */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
const TOKEN_LIFETIME = 3600;

export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
}

interface PendingCode {
  client: DemoClient;
  user: DemoUser;
  tenantId: string;
  redirectUri: string;
  scope: string;
  challenge?: string;
  expires: number;
}

export class Entra {
  private privateKey!: KeyLike;
  private publicKey!: KeyLike;
  private jwk!: JWK;
  readonly kid = `sandbox-${randomBytes(6).toString('hex')}`;
  private readonly codes = new Map<string, PendingCode>();
  /** What the admin-consent page answers: grant, or deny as if the admin cancelled. */
  consentDecision: 'grant' | 'deny' = 'grant';
  /** Client ids an admin has consented to, per tenant. */
  readonly consents = new Set<string>();
  readonly users = demoUsers();

  constructor(
    private readonly origin: () => string,
    readonly clients: DemoClient[],
    readonly tenants: Set<string>,
  ) {}

  async init(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.jwk = { ...(await exportJWK(publicKey)), kid: this.kid, use: 'sig', alg: 'RS256' };
  }

  issuer(tenantId: string): string {
    return `${this.origin()}/${tenantId}/v2.0`;
  }

  resolveTenant(segment: string): string | undefined {
    const s = segment.toLowerCase();
    if (this.tenants.has(s)) return s;
    if (s === 'organizations' || s === 'common' || s === DEMO.domain) return DEMO.tenantId;
    return undefined;
  }

  client(clientId: string | null | undefined): DemoClient | undefined {
    return this.clients.find((c) => c.clientId === clientId);
  }

  /** Signs an access token; exposed so tests can mint edge cases (expired, other audience). */
  async sign(claims: JWTPayload, opts: { tenantId: string; audience: string; lifetime?: number; issuedAt?: number }): Promise<string> {
    const now = opts.issuedAt ?? Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: opts.tenantId, ver: '2.0', ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.kid })
      .setIssuer(this.issuer(opts.tenantId))
      .setAudience(opts.audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + (opts.lifetime ?? TOKEN_LIFETIME))
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** Checks a token this sandbox issued (for its Graph); returns the claims or a reason. */
  async verify(token: string, audiences: string[]): Promise<{ claims?: JWTPayload; error?: string }> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { algorithms: ['RS256'], audience: audiences });
      const tid = typeof payload.tid === 'string' ? payload.tid : '';
      if (!this.tenants.has(tid) || payload.iss !== this.issuer(tid)) return { error: 'Invalid issuer or tenant.' };
      return { claims: payload };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  private audienceFor(scope: string): { audience: string; kind: 'graph' | 'app'; appClientId?: string } | undefined {
    const s = scope.split(/\s+/).find((x) => x.endsWith('/.default'));
    if (!s) return undefined;
    const resource = s.slice(0, -'/.default'.length);
    if (resource === GRAPH_RESOURCE || resource === this.origin()) return { audience: GRAPH_RESOURCE, kind: 'graph' };
    const id = resource.replace(/^api:\/\//, '');
    const app = this.client(id);
    if (app) return { audience: app.clientId, kind: 'app', appClientId: app.clientId };
    return undefined;
  }

  async clientCredentialsToken(
    client: DemoClient,
    tenantId: string,
    scope: string,
  ): Promise<IssuedToken | { error: string; description: string; code: number; status: number }> {
    const target = this.audienceFor(scope);
    if (!target)
      return {
        error: 'invalid_scope',
        description: `AADSTS1002012: The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        code: 1002012,
        status: 400,
      };
    if (client.tenantId !== tenantId)
      return {
        error: 'unauthorized_client',
        description: `AADSTS700016: Application with identifier '${client.clientId}' was not found in the directory '${tenantId}'.`,
        code: 700016,
        status: 400,
      };
    const roles = target.kind === 'graph' ? client.graphPermissions : client.roles;
    const token = await this.sign(
      {
        azp: client.clientId,
        appid: client.clientId,
        azpacr: '1',
        oid: servicePrincipalId(client.clientId),
        sub: servicePrincipalId(client.clientId),
        idtyp: 'app',
        ...(roles.length ? { roles } : {}),
      },
      { tenantId, audience: target.audience },
    );
    return { access_token: token, token_type: 'Bearer', expires_in: TOKEN_LIFETIME, ext_expires_in: TOKEN_LIFETIME };
  }

  private redirectAllowed(client: DemoClient, uri: string): boolean {
    if (client.redirectUris.includes(uri)) return true;
    // The demo app accepts loopback redirects on any port, so tests and local runs need no registration step.
    try {
      const u = new URL(uri);
      return client.clientId === DEMO.app.clientId && (u.hostname === 'localhost' || u.hostname === '127.0.0.1');
    } catch {
      return false;
    }
  }

  /**
   * App Service's managed identity endpoint (what IDENTITY_ENDPOINT names in a function app): a token
   * for the app's user-assigned identity, checked by the IDENTITY_HEADER secret and the identity's client id.
   */
  private async managedIdentityToken(req: SandboxRequest, res: ServerResponse): Promise<void> {
    const q = req.url.searchParams;
    const mi = DEMO.managedIdentity;
    if (req.headers['x-identity-header'] !== mi.header)
      return sendJson(res, 401, { statusCode: 401, message: 'The X-IDENTITY-HEADER header is missing or wrong.' });
    const resource = q.get('resource');
    if (!resource) return sendJson(res, 400, { statusCode: 400, message: 'The resource parameter is required.' });
    if ((q.get('client_id') ?? mi.clientId) !== mi.clientId)
      return sendJson(res, 400, {
        statusCode: 400,
        message: 'Unable to load the proper Managed Identity: no identity with this client_id is assigned to the app.',
      });
    const now = Math.floor(Date.now() / 1000);
    const token = await this.sign(
      { oid: mi.principalId, sub: mi.principalId, azp: mi.clientId, appid: mi.clientId, idtyp: 'app' },
      { tenantId: DEMO.tenantId, audience: resource, issuedAt: now },
    );
    sendJson(res, 200, {
      access_token: token,
      expires_on: String(now + TOKEN_LIFETIME),
      resource,
      token_type: 'Bearer',
      client_id: mi.clientId,
    });
  }

  /** A client assertion that is a token of a federated credential the client trusts; the reason it is not, if not. */
  private async federatedAssertionError(client: DemoClient, assertion: string, tenantId: string): Promise<string | undefined> {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(assertion, this.publicKey, { algorithms: ['RS256'] }));
    } catch (e) {
      return (e as { code?: string }).code === 'ERR_JWT_EXPIRED'
        ? 'AADSTS700024: Client assertion is not within its valid time range.'
        : `AADSTS50013: Assertion failed signature validation. (${(e as Error).message})`;
    }
    const audiences = ([] as string[]).concat(claims.aud ?? []);
    const match = (client.federatedCredentials ?? []).some(
      (f) => claims.iss === this.issuer(tenantId) && claims.sub === f.subject && audiences.some((a) => f.audiences.includes(a)),
    );
    return match
      ? undefined
      : `AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '${claims.iss}'. Assertion Subject: '${claims.sub}'. Assertion Audience: '${audiences.join(',')}'.`;
  }

  /** Handles /{tenant}/... and the managed identity endpoint; false when the path is neither. */
  async handle(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    if (req.path === '/msi/token') {
      await this.managedIdentityToken(req, res);
      return true;
    }
    const m =
      /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token|oauth2\/v2\.0\/authorize|adminconsent|v2\.0\/adminconsent)$/.exec(
        req.path,
      );
    if (!m) return false;
    const tenantId = this.resolveTenant(m[1]);
    if (!tenantId) {
      sendJson(res, 400, entraError('invalid_tenant', `AADSTS90002: Tenant '${m[1]}' not found.`, 90002));
      return true;
    }
    const base = `${this.origin()}/${tenantId}`;
    switch (m[2]) {
      case 'v2.0/.well-known/openid-configuration':
        sendJson(res, 200, {
          issuer: this.issuer(tenantId),
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/oauth2/v2.0/token`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token'],
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          tenant_region_scope: 'EU',
          cloud_instance_name: 'microsoftonline.com',
        });
        return true;
      case 'discovery/v2.0/keys':
        sendJson(res, 200, { keys: [this.jwk] });
        return true;
      case 'oauth2/v2.0/token':
        await this.token(req, res, tenantId);
        return true;
      case 'oauth2/v2.0/authorize':
        this.authorize(req, res, tenantId);
        return true;
      default:
        this.adminConsent(req, res, tenantId);
        return true;
    }
  }

  private async token(req: SandboxRequest, res: ServerResponse, tenantId: string): Promise<void> {
    if (req.method !== 'POST')
      return sendJson(res, 405, entraError('invalid_request', 'AADSTS900561: The endpoint only accepts POST requests.', 900561));
    const form = req.form();
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (basic) [clientId, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':').map(decodeURIComponent);
    const client = this.client(clientId);
    if (!client)
      return sendJson(
        res,
        400,
        entraError(
          'unauthorized_client',
          `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
          700016,
        ),
      );
    const assertion = form.get('client_assertion');
    if (assertion && form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      const refused = await this.federatedAssertionError(client, assertion, tenantId);
      if (refused) return sendJson(res, 401, entraError('invalid_client', refused, Number(/AADSTS(\d+)/.exec(refused)![1])));
    } else if (!secret || secret !== client.clientSecret)
      return sendJson(
        res,
        401,
        entraError(
          'invalid_client',
          `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${client.clientId}'.`,
          7000215,
        ),
      );
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      const result = await this.clientCredentialsToken(client, tenantId, form.get('scope') ?? '');
      if ('error' in result) return sendJson(res, result.status, entraError(result.error, result.description, result.code));
      return sendJson(res, 200, result, { 'Cache-Control': 'no-store' });
    }
    if (grant === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!code || code.expires < Date.now() || code.client.clientId !== client.clientId || code.tenantId !== tenantId)
        return sendJson(
          res,
          400,
          entraError(
            'invalid_grant',
            'AADSTS70008: The provided authorization code or refresh token has expired or was already used.',
            70008,
          ),
        );
      if (form.get('redirect_uri') !== code.redirectUri)
        return sendJson(
          res,
          400,
          entraError('invalid_grant', 'AADSTS70009: The redirect_uri does not match the one used in the authorization request.', 70009),
        );
      if (code.challenge) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge)
          return sendJson(
            res,
            400,
            entraError(
              'invalid_grant',
              'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.',
              501481,
            ),
          );
      }
      const target = this.audienceFor(code.scope) ?? { audience: GRAPH_RESOURCE };
      const { user } = code;
      const person = { oid: user.oid, sub: user.oid, name: user.name, preferred_username: user.upn, idtyp: 'user' };
      // App roles assigned to the user reach tokens for the app itself (its API), as in Entra ID.
      const roles = target.audience === client.clientId && user.roles.length ? { roles: user.roles } : {};
      const access = await this.sign(
        {
          azp: client.clientId,
          ...person,
          ...roles,
          scp:
            code.scope
              .split(/\s+/)
              .filter((s) => !s.includes('/'))
              .join(' ') || 'user_impersonation',
        },
        { tenantId, audience: target.audience },
      );
      const idToken = code.scope.split(/\s+/).includes('openid')
        ? await this.sign({ ...person, ...(user.roles.length ? { roles: user.roles } : {}) }, { tenantId, audience: client.clientId })
        : undefined;
      return sendJson(
        res,
        200,
        {
          token_type: 'Bearer',
          scope: code.scope,
          expires_in: TOKEN_LIFETIME,
          ext_expires_in: TOKEN_LIFETIME,
          access_token: access,
          ...(idToken ? { id_token: idToken } : {}),
        },
        { 'Cache-Control': 'no-store' },
      );
    }
    return sendJson(
      res,
      400,
      entraError('unsupported_grant_type', `AADSTS70003: The app requested an unsupported grant type '${grant}'.`, 70003),
    );
  }

  /** The client and where to send the browser back; an error page (no redirect) when either is wrong, as Entra does. */
  private redirectTarget(q: URLSearchParams, res: ServerResponse, page: string): { client: DemoClient; target: URL } | undefined {
    const client = this.client(q.get('client_id'));
    const redirectUri = q.get('redirect_uri') ?? '';
    if (!client)
      return void sendHtml(
        res,
        400,
        page,
        `AADSTS700016: Application with identifier '${q.get('client_id')}' was not found in the directory.`,
      );
    if (!this.redirectAllowed(client, redirectUri))
      return void sendHtml(
        res,
        400,
        page,
        `AADSTS50011: The redirect URI '${redirectUri}' does not match the redirect URIs configured for the application.`,
      );
    return { client, target: new URL(redirectUri) };
  }

  /**
   * The sign-in page: GET shows the demo users to pick from (a form that POSTs back here with
   * `user`); the chosen user gets a code. Parameters may come in the query or the form.
   */
  private authorize(req: SandboxRequest, res: ServerResponse, tenantId: string): void {
    const q = new URLSearchParams(req.url.searchParams);
    if (req.method === 'POST') for (const [k, v] of req.form()) q.set(k, v);
    const found = this.redirectTarget(q, res, 'Sign in');
    if (!found) return;
    const { client, target } = found;
    const redirectUri = q.get('redirect_uri')!;
    const state = q.get('state');
    if (state !== null) target.searchParams.set('state', state);
    const fail = (error: string, description: string) => {
      target.searchParams.set('error', error);
      target.searchParams.set('error_description', description);
      redirect(res, target.toString());
    };
    if (q.get('response_type') !== 'code') return fail('unsupported_response_type', 'AADSTS700054: response_type must be code.');
    const challenge = q.get('code_challenge') ?? undefined;
    if (challenge && q.get('code_challenge_method') !== 'S256')
      return fail('invalid_request', 'AADSTS501491: code_challenge_method must be S256.');
    const chosen = q.get('user');
    if (chosen === null) return this.signInPage(res, q);
    if (chosen === 'cancel') return fail('access_denied', 'AADSTS65004: User declined to consent to access the app.');
    const user = this.users.find((u) => u.upn.toLowerCase() === chosen.toLowerCase());
    if (!user)
      return void sendHtml(res, 400, 'Sign in', `AADSTS50034: The user account ${chosen} does not exist in the ${DEMO.domain} directory.`);
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, {
      client,
      user,
      tenantId,
      redirectUri,
      scope: q.get('scope') ?? '',
      challenge,
      expires: Date.now() + 10 * 60_000,
    });
    target.searchParams.set('code', code);
    redirect(res, target.toString());
  }

  private signInPage(res: ServerResponse, q: URLSearchParams): void {
    const esc = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const hidden = [...q].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
    const buttons = this.users
      .map(
        (u) =>
          `<li><button name="user" value="${esc(u.upn)}">${esc(u.name)}</button> ${esc(u.upn)}: ${esc(u.roles.join(', ') || 'no app role')}</li>`,
      )
      .join('');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head><body><h1>Sign in to ${esc(DEMO.tenantName)}</h1><form method="post">${hidden}<ul>${buttons}</ul><button name="user" value="cancel">Cancel</button></form></body></html>`,
    );
  }

  private adminConsent(req: SandboxRequest, res: ServerResponse, tenantId: string): void {
    const q = req.url.searchParams;
    const found = this.redirectTarget(q, res, 'Admin consent');
    if (!found) return;
    const { client, target } = found;
    if (this.consentDecision === 'deny') {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'AADSTS65004: User declined to consent to access the app.');
    } else {
      this.consents.add(`${tenantId}/${client.clientId}`);
      target.searchParams.set('admin_consent', 'True');
      target.searchParams.set('tenant', tenantId);
      const scope = q.get('scope');
      if (scope) target.searchParams.set('scope', scope);
    }
    const state = q.get('state');
    if (state !== null) target.searchParams.set('state', state);
    redirect(res, target.toString());
  }
}

export function servicePrincipalId(clientId: string): string {
  const h = createHash('sha256').update(`sp:${clientId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function entraError(error: string, description: string, code: number) {
  const traceId = randomUUID();
  return {
    error,
    error_description: `${description}\r\nTrace ID: ${traceId}\r\nTimestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: traceId,
    correlation_id: randomUUID(),
  };
}
