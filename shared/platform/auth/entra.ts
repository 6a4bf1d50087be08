import { ConfidentialClientApplication } from '@azure/msal-node';
import type { Config } from '../config';

/** This app as an Entra ID confidential client (msal-node): Graph tokens and admin sign-in both use it. */
export function confidentialClient(cfg: Config): ConfidentialClientApplication {
  const host = cfg.ENTRA_AUTHORITY_HOST.replace(/\/$/, '');
  const publicCloud = /^https:\/\/login\.(microsoftonline\.com|microsoftonline\.us|partner\.microsoftonline\.cn)$/i.test(host);
  return new ConfidentialClientApplication({
    auth: {
      clientId: cfg.ENTRA_CLIENT_ID,
      clientSecret: cfg.ENTRA_CLIENT_SECRET,
      authority: `${host}/${cfg.ENTRA_TENANT_ID}`,
      // A host MSAL does not know (the local sandbox) must be declared so MSAL skips cloud discovery.
      ...(publicCloud ? {} : { knownAuthorities: [new URL(host).host] }),
    },
  });
}
