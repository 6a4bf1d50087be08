import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { version } from '../../package.json';
import { registry } from '../../shared/platform/app';
import { buildOpenApi } from '../../shared/platform/openapi';

/**
 * Checks real answers of the app against its OpenAPI document: the operation exists, the status is
 * one it documents, and the body validates against the documented schema (no undocumented field:
 * the document's objects allow no additional properties).
 */

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } };

let doc: Doc | undefined;
let routes: { method: string; pattern: RegExp; path: string; op: Operation }[] = [];
const validators = new Map<string, ValidateFunction>();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

async function load(): Promise<void> {
  // A suite that runs the host in a child process has not loaded the app here: load it for its declarations.
  if (!registry.operations.length) await import('../../functions/index');
  if (doc && routes.length === registry.operations.length) return;
  doc = buildOpenApi(registry.operations, { title: 'test', version }) as unknown as Doc;
  ajv.removeSchema('openapi');
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  validators.clear();
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      op,
      pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    })),
  );
}

/** What is wrong with this answer by the document; an empty list when nothing is. */
export async function openApiViolations(
  method: string,
  url: string,
  status: number,
  contentType: string | null,
  body: unknown,
): Promise<string[]> {
  await load();
  const pathname = new URL(url).pathname;
  // A literal route wins over a parameterised one (…/lines/sync over …/lines/{phoneNumber}).
  const matches = routes.filter((r) => r.method === method && r.pattern.test(pathname));
  const route = matches.find((r) => !r.path.includes('{')) ?? matches[0];
  const what = `${method} ${pathname} → ${status}`;
  if (!route) return [`${what}: no such operation in the OpenAPI document`];
  const response = route.op.responses[String(status)];
  if (!response) return [`${what}: status not documented for ${route.path}`];
  if (body === undefined) return [];
  const media = (contentType ?? '').split(';')[0].trim();
  const content = response.content?.[media];
  if (!content) return [`${what}: ${media || 'a body'} not documented`];
  const key = `${route.method} ${route.path} ${status} ${media}`;
  let validate = validators.get(key);
  if (!validate) {
    const schema = JSON.parse(JSON.stringify(content.schema).replaceAll('"#/components/', '"openapi#/components/')) as object;
    validate = ajv.compile(schema);
    validators.set(key, validate);
  }
  return validate(body)
    ? []
    : (validate.errors ?? []).map((e) => `${what}: ${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`);
}
