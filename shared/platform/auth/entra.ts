import { ConfidentialClientApplication, ManagedIdentityApplication } from '@azure/msal-node';
import type { Config } from '../config';

/** Which credential proves the app registration's identity to Entra ID, as health reports it. */
export type AppCredential =
  | { kind: 'managedIdentity'; managedIdentityClientId: string }
  | { kind: 'clientSecret'; expiresOn: string | null; daysLeft: number | null };

export function appCredential(cfg: Config, now: number): AppCredential {
  if (cfg.ENTRA_MANAGED_IDENTITY_CLIENT_ID)
    return { kind: 'managedIdentity', managedIdentityClientId: cfg.ENTRA_MANAGED_IDENTITY_CLIENT_ID };
  const expires = cfg.ENTRA_CLIENT_SECRET_EXPIRES;
  return {
    kind: 'clientSecret',
    expiresOn: expires ?? null,
    daysLeft: expires ? Math.floor((Date.parse(`${expires}T00:00:00Z`) - now) / 86_400_000) : null,
  };
}

/** The audience Entra ID expects of a managed identity's token used as a client assertion, per cloud. */
function tokenExchangeAudience(authorityHost: string): string {
  if (/microsoftonline\.us$/i.test(authorityHost)) return 'api://AzureADTokenExchangeUSGov';
  if (/chinacloudapi\.cn$|partner\.microsoftonline\.cn$/i.test(authorityHost)) return 'api://AzureADTokenExchangeChina';
  return 'api://AzureADTokenExchange';
}

const identities = new Map<string, ManagedIdentityApplication>();

/** This app as an Entra ID confidential client (msal-node): Graph tokens and admin sign-in both use it. */
export function confidentialClient(cfg: Config): ConfidentialClientApplication {
  const host = cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '');
  const publicCloud = /^https:\/\/login\.(microsoftonline\.com|microsoftonline\.us|partner\.microsoftonline\.cn)$/i.test(host);
  const miClientId = cfg.ENTRA_MANAGED_IDENTITY_CLIENT_ID;
  const credential = miClientId
    ? {
        // The app registration trusts the function app's managed identity (a federated identity
        // credential): that identity's token, from the platform's identity endpoint, is the assertion.
        clientAssertion: async () => {
          let mi = identities.get(miClientId);
          if (!mi)
            identities.set(
              miClientId,
              (mi = new ManagedIdentityApplication({ managedIdentityIdParams: { userAssignedClientId: miClientId } })),
            );
          return (await mi.acquireToken({ resource: tokenExchangeAudience(new URL(host).hostname) })).accessToken;
        },
      }
    : { clientSecret: cfg.ENTRA_CLIENT_SECRET };
  return new ConfidentialClientApplication({
    auth: {
      clientId: cfg.ENTRA_CLIENT_ID,
      ...credential,
      authority: `${host}/${cfg.ENTRA_TENANT_ID}`,
      // A host MSAL does not know (the local sandbox) must be declared so MSAL skips cloud discovery.
      ...(publicCloud ? {} : { knownAuthorities: [new URL(host).host] }),
    },
  });
}
