import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { catalog } from '../shared/manifests';
import { infraCatalog } from '../shared/platform/manifest';

/**
 * infra/connectors.json, what Bicep (loadJsonContent) and infra/entra/setup.js read, built from the
 * manifests. `npm run catalog` writes it after a manifest changes; a test fails while it is stale.
 */
export const CATALOG_FILE = resolve(__dirname, '..', '..', 'infra', 'connectors.json');

export const renderCatalog = (c = catalog) => `${JSON.stringify(infraCatalog(c), null, 2)}\n`;

if (require.main === module) {
  const text = renderCatalog();
  const stale = readFileSync(CATALOG_FILE, 'utf8') !== text;
  if (stale) writeFileSync(CATALOG_FILE, text);
  console.log(stale ? `Wrote ${CATALOG_FILE}.` : `${CATALOG_FILE} is up to date.`);
}
