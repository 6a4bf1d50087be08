import { clock } from '../platform/clock';
import { badRequest, payloadTooLarge, unsupportedMediaType } from '../platform/errors';
import { brandingInput, LOGO_MAX_BYTES, LOGO_TYPES, type Branding } from './inputs';
import { logoStore, tables, type BrandingRow } from './model';
import type { BrandingView } from './templates';

/** Company branding for notification emails: name and contact in one row, the logo in a blob. */

const PK = 'branding';
const RK = 'tenant';
const LOGO = 'logo';
export const LOGO_CID = 'company-logo';

function toBranding(row?: BrandingRow): Branding {
  const base = brandingInput.parse({ companyName: row?.companyName ?? '', contact: row ? (JSON.parse(row.contact) as unknown) : {} });
  return {
    ...base,
    logo: row?.logoType ? { contentType: row.logoType, bytes: row.logoBytes ?? 0, updatedAt: row.logoUpdatedAt ?? row.updatedAt } : null,
  };
}

export async function getBranding(): Promise<Branding> {
  return toBranding((await tables.branding.get(PK, RK))?.entity);
}

export async function putBranding(input: ReturnType<typeof brandingInput.parse>): Promise<Branding> {
  const existing = (await tables.branding.get(PK, RK))?.entity;
  const row: BrandingRow = {
    ...(existing ?? {}),
    partitionKey: PK,
    rowKey: RK,
    companyName: input.companyName,
    contact: JSON.stringify(input.contact),
    updatedAt: clock.iso(),
  };
  await tables.branding.upsert(row);
  return toBranding(row);
}

/** Stores a PNG or JPEG logo; the type is checked from the bytes, not only the header. */
export async function putLogo(body: Buffer, contentType: string | null): Promise<Branding> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (!(LOGO_TYPES as readonly string[]).includes(type))
    throw unsupportedMediaType(`Send the logo as ${LOGO_TYPES.join(' or ')} (Content-Type), not '${type || 'none'}'.`);
  if (body.length === 0) throw badRequest('The logo is empty.');
  if (body.length > LOGO_MAX_BYTES)
    throw payloadTooLarge(`The logo is ${body.length} bytes; the limit is ${LOGO_MAX_BYTES} (${LOGO_MAX_BYTES / 1024} KiB).`);
  const png = body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const jpeg = body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff;
  if ((type === 'image/png' && !png) || (type === 'image/jpeg' && !jpeg))
    throw badRequest(`The body is not a ${type === 'image/png' ? 'PNG' : 'JPEG'} image.`);
  // Replace: blobs here are create-once, so remove the old logo first.
  await logoStore.delete(LOGO);
  await logoStore.putOnce(LOGO, body, type);
  const existing = (await tables.branding.get(PK, RK))?.entity;
  const now = clock.iso();
  const row: BrandingRow = {
    companyName: '',
    contact: '{}',
    ...(existing ?? {}),
    partitionKey: PK,
    rowKey: RK,
    logoType: type,
    logoBytes: body.length,
    logoUpdatedAt: now,
    updatedAt: now,
  };
  await tables.branding.upsert(row);
  return toBranding(row);
}

export async function deleteLogo(): Promise<Branding> {
  await logoStore.delete(LOGO);
  const existing = (await tables.branding.get(PK, RK))?.entity;
  if (!existing) return toBranding();
  const { logoType: _t, logoBytes: _b, logoUpdatedAt: _u, ...rest } = existing;
  const row: BrandingRow = { ...rest, updatedAt: clock.iso() };
  await tables.branding.upsert(row);
  return toBranding(row);
}

/** Branding as a mail needs it: the logo (if any) as an inline attachment. */
export async function mailBranding(): Promise<{ view: BrandingView; logo?: { contentType: string; bytes: Buffer } }> {
  const b = await getBranding();
  const bytes = b.logo ? await logoStore.get(LOGO) : undefined;
  const logo = b.logo && bytes ? { contentType: b.logo.contentType, bytes } : undefined;
  return { view: { companyName: b.companyName, contact: b.contact, logoCid: logo ? LOGO_CID : undefined }, logo };
}
