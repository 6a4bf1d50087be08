import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * A local TLS certificate for the sandbox (localhost, 127.0.0.1), generated on first use and never
 * committed. Processes that call the sandbox over https trust it through NODE_EXTRA_CA_CERTS; MSAL
 * refuses authorities that are not https, so the sandbox's Entra ID endpoints need it.
 */
export interface Certificate {
  key: string;
  cert: string;
  certPath: string;
}

export const CERT_DIR = join(process.cwd(), '.dev', 'certs');

export async function ensureCertificate(dir = CERT_DIR): Promise<Certificate> {
  const certPath = join(dir, 'sandbox-cert.pem');
  const keyPath = join(dir, 'sandbox-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, 'utf8');
    // Renew a week before expiry.
    if (new Date(new X509Certificate(cert).validTo).getTime() - Date.now() > 7 * 864e5)
      return { key: readFileSync(keyPath, 'utf8'), cert, certPath };
  }
  mkdirSync(dir, { recursive: true });
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * 864e5),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert);
  return { key: pems.private, cert: pems.cert, certPath };
}
