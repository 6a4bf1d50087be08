import { z } from 'zod';
import { reportConnectorStatus } from '../connectors';
import { open, seal } from '../platform/auth/secrets';
import { clock } from '../platform/clock';
import { conflict, notFound } from '../platform/errors';
import { httpsUrl } from '../platform/settings';
import { ACCOUNT_KEY, tables, type AccountRow } from './model';
import { httpSource, SourceError, type ArchiveSource } from './source';

/**
 * The archive provider account: registered by an admin (credentials sealed at rest), the terms of
 * service accepted (who, when), a connection test, and switching the import on and off.
 */

const SEAL_CONTEXT = 'archive:provider';
export const TERMS_VERSION = '2026-11';

export const accountInput = z
  .object({
    network: z.string().trim().min(1).max(60).default('O2').describe('The mobile network the archive covers.'),
    providerUrl: httpsUrl.describe('Base URL of the provider API, e.g. https://archive.example.com/archive.'),
    username: z.string().min(1).max(200).optional(),
    password: z.string().min(1).max(500).optional(),
    apiKey: z.string().min(8).max(500).optional(),
    autoMapping: z.boolean().default(true).describe("Map each participant by the item's email address (after the custom CSV)."),
  })
  .strict()
  .superRefine((a, ctx) => {
    const password = a.username !== undefined || a.password !== undefined;
    if (password && a.apiKey !== undefined)
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'send either username and password, or apiKey, not both' });
    else if (password && (a.username === undefined || a.password === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [a.username === undefined ? 'username' : 'password'],
        message: 'username and password go together',
      });
    else if (!password && a.apiKey === undefined)
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'send username and password, or apiKey' });
  });

export const accountSchema = z.object({
  network: z.string(),
  providerUrl: z.string(),
  authKind: z.enum(['password', 'apiKey']),
  username: z.string().nullable(),
  autoMapping: z.boolean(),
  enabled: z.boolean(),
  terms: z.object({ version: z.string(), acceptedBy: z.string().nullable(), acceptedAt: z.string().nullable() }),
  connection: z.object({
    state: z.enum(['notTested', 'connected', 'failed']),
    detail: z.string().nullable(),
    testedAt: z.string().nullable(),
  }),
  updatedAt: z.string(),
  updatedBy: z.string(),
});

const view = (a: AccountRow): z.infer<typeof accountSchema> => ({
  network: a.network,
  providerUrl: a.providerUrl,
  authKind: a.authKind,
  username: a.username ?? null,
  autoMapping: a.autoMapping,
  enabled: a.enabled,
  terms: { version: TERMS_VERSION, acceptedBy: a.termsAcceptedBy ?? null, acceptedAt: a.termsAcceptedAt ?? null },
  connection: { state: a.connection, detail: a.connectionDetail ?? null, testedAt: a.testedAt ?? null },
  updatedAt: a.updatedAt,
  updatedBy: a.updatedBy,
});

async function row(): Promise<AccountRow> {
  const got = await tables.account.get(...ACCOUNT_KEY);
  if (!got) throw notFound('No archive provider account is registered; PUT /api/admin/archive/account first.');
  return got.entity;
}

export async function getAccount() {
  return view(await row());
}

/**
 * Registers the account, or replaces its details. New credentials or a new URL need a new
 * connection test, and switch the import off until one passes.
 */
export async function putAccount(input: z.infer<typeof accountInput>, by: string) {
  const now = clock.iso();
  const secret = seal(input.apiKey ?? input.password!, SEAL_CONTEXT);
  const next = await tables.account.modify(...ACCOUNT_KEY, (a) => ({
    partitionKey: ACCOUNT_KEY[0],
    rowKey: ACCOUNT_KEY[1],
    network: input.network,
    providerUrl: input.providerUrl,
    authKind: input.apiKey ? 'apiKey' : 'password',
    username: input.apiKey ? undefined : input.username,
    secret,
    autoMapping: input.autoMapping,
    enabled: false,
    termsAcceptedBy: a?.termsAcceptedBy,
    termsAcceptedAt: a?.termsAcceptedAt,
    connection: 'notTested',
    updatedAt: now,
    updatedBy: by,
  }));
  await reportConnectorStatus(
    'archive',
    'warning',
    'Provider account registered; the import is off.',
    'Accept the terms, test the connection, then switch the import on (Network archive > Provider account).',
  );
  return view(next!);
}

/** Records that `by` accepted the terms of service (the current version). */
export async function acceptTerms(by: string) {
  const now = clock.iso();
  await row();
  const next = await tables.account.modify(...ACCOUNT_KEY, (a) => a && { ...a, termsAcceptedBy: by, termsAcceptedAt: now, updatedAt: now });
  return view(next!);
}

/** The provider of the registered account. */
export function sourceOf(a: AccountRow): ArchiveSource {
  const secret = open(a.secret, SEAL_CONTEXT);
  return httpSource({
    providerUrl: a.providerUrl,
    auth: a.authKind === 'apiKey' ? { kind: 'apiKey', apiKey: secret } : { kind: 'password', username: a.username!, password: secret },
  });
}

/** Pings the provider with the stored credentials and records the outcome. */
export async function testConnection(by: string) {
  const a = await row();
  let state: AccountRow['connection'] = 'connected';
  let detail: string;
  try {
    const pong = await sourceOf(a).ping();
    detail = `Signed in to the provider as ${pong.account} (network ${pong.network}).`;
  } catch (e) {
    if (!(e instanceof SourceError)) throw e;
    state = 'failed';
    detail = e.providerStatus === 401 ? 'The provider refused the username and password, or API key.' : e.detail;
  }
  const now = clock.iso();
  const next = await tables.account.modify(...ACCOUNT_KEY, (r) =>
    r && r.secret === a.secret
      ? { ...r, connection: state, connectionDetail: detail, testedAt: now, updatedAt: now, updatedBy: by }
      : undefined,
  );
  if (state === 'failed')
    await reportConnectorStatus(
      'archive',
      'error',
      detail,
      "Correct the account's address or credentials (Network archive > Provider account) and test the connection again.",
    );
  return view(next!);
}

/** Switches the import on (terms accepted and a passing connection test first) or off. */
export async function setEnabled(enabled: boolean, by: string) {
  const a = await row();
  if (enabled && !a.termsAcceptedAt) throw conflict('Accept the terms of service first (POST /api/admin/archive/terms).');
  if (enabled && a.connection !== 'connected')
    throw conflict('Test the connection first (POST /api/admin/archive/account/test); it must pass before the import is switched on.');
  const now = clock.iso();
  const next = await tables.account.modify(...ACCOUNT_KEY, (r) => r && { ...r, enabled, updatedAt: now, updatedBy: by });
  await reportConnectorStatus('archive', enabled ? 'active' : 'disabled', `Import switched ${enabled ? 'on' : 'off'}.`);
  return view(next!);
}
