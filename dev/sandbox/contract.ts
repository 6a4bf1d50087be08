import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The Graph contract: an OpenAPI subset of Graph v1.0 (reference/graph-v1.0-openapi-subset.json).
 * Every request the app sends to the sandbox and every response the sandbox gives is checked
 * against it: the path and method must exist, query options must be declared, and JSON bodies must
 * validate against their schemas (derived types chosen by @odata.type). Request bodies may not carry
 * properties the schema does not define, which catches misspelt property names.
 */

type Json = Record<string, unknown>;
interface Operation {
  template: string;
  parameters: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
  permissions?: string;
}

const REFERENCE = join(__dirname, '..', '..', '..', 'dev', 'sandbox', 'reference');
export const SUBSET_PATH = join(REFERENCE, 'graph-v1.0-openapi-subset.json');
/** Documented v1.0 operations the subset lacks, kept apart so the subset stays as published. */
export const EXTENSIONS_PATH = join(REFERENCE, 'graph-v1.0-extensions.json');
const REF = '#/components/schemas/';

/**
 * A path segment matches a template's literal segment case-insensitively, also in Graph's long
 * spellings: `microsoft.graph.remoteLock` for the action `remoteLock`, `microsoft.graph.iosVppApp`
 * for the cast `graph.iosVppApp`.
 */
export function segmentMatches(template: string, part: string): boolean {
  if (template.startsWith('{')) return true;
  const t = template.toLowerCase();
  const p = part.toLowerCase();
  return p === t || p === `microsoft.graph.${t}` || p === `microsoft.${t}`;
}

export class GraphContract {
  private readonly doc: Json & {
    paths: Record<string, Record<string, Json>>;
    components: { schemas: Record<string, Json>; responses: Record<string, Json>; parameters: Record<string, Json> };
  };
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: { segments: string[]; template: string }[];
  /** Schemas the subset names but does not define; bodies of these are not checked. */
  readonly undefinedSchemas = new Set<string>();

  constructor(path = SUBSET_PATH, extensions: string | null = EXTENSIONS_PATH) {
    this.doc = JSON.parse(readFileSync(path, 'utf8')) as typeof this.doc;
    if (extensions) {
      const ext = JSON.parse(readFileSync(extensions, 'utf8')) as {
        paths: Record<string, Record<string, Json>>;
        components: { schemas: Record<string, Json> };
      };
      Object.assign(this.doc.paths, ext.paths);
      Object.assign(this.doc.components.schemas, ext.components.schemas);
    }
    const schemas = this.doc.components.schemas;
    const missing = new Set<string>();
    JSON.stringify(this.doc, (_k, v: unknown) => {
      if (typeof v === 'string' && v.startsWith(REF) && !schemas[v.slice(REF.length)]) missing.add(v.slice(REF.length));
      return v;
    });
    for (const name of missing) {
      schemas[name] = { type: 'object', 'x-not-in-subset': true };
      this.undefinedSchemas.add(name);
    }
    // Known divergence: real Graph sends innerError.date without a zone ("2025-02-13T10:17:05"),
    // while the CSDL-derived schema types it as a zoned date-time. The sandbox sends what Graph sends.
    const inner = schemas['microsoft.graph.ODataErrors.InnerError'] as { properties?: Record<string, unknown> } | undefined;
    if (inner?.properties?.date) inner.properties.date = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}' };
    this.ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
    addFormats(this.ajv);
    for (const f of ['int32', 'int64', 'base64url', 'double', 'float', 'decimal', 'int8', 'int16', 'uint8']) this.ajv.addFormat(f, true);
    this.ajv.addSchema({ $id: 'graph', components: { schemas } });
    this.templates = Object.keys(this.doc.paths)
      .map((t) => ({ template: t, segments: t.split('/').filter(Boolean) }))
      // Literal segments before parameters, so /mobileApps/graph.iosVppApp wins over /mobileApps/{id}.
      .sort((a, b) => a.segments.filter((s) => s.startsWith('{')).length - b.segments.filter((s) => s.startsWith('{')).length);
  }

  /** The operation for a request path (relative to /v1.0) and method, or undefined. */
  find(method: string, path: string): Operation | undefined {
    const parts = path
      .split('?')[0]
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    for (const t of this.templates) {
      if (t.segments.length !== parts.length) continue;
      if (!t.segments.every((s, i) => segmentMatches(s, parts[i]))) continue;
      const item = this.doc.paths[t.template];
      const op = item[method.toLowerCase()] as Json | undefined;
      if (!op) continue;
      const parameters = [...((item.parameters as unknown as Json[]) ?? []), ...((op.parameters as Json[]) ?? [])].map((p) =>
        this.deref(p),
      );
      return {
        template: t.template,
        parameters,
        requestBody: op.requestBody as Json | undefined,
        responses: op.responses as Record<string, Json>,
        permissions: op['x-required-application-permissions'] as string | undefined,
      };
    }
    return undefined;
  }

  private deref(o: Json): Json {
    const ref = o.$ref as string | undefined;
    if (!ref) return o;
    const [, , kind, name] = ref.split('/');
    return (this.doc.components as unknown as Record<string, Record<string, Json>>)[kind][name];
  }

  private validator(schemaName: string): ValidateFunction {
    let v = this.validators.get(schemaName);
    if (!v) this.validators.set(schemaName, (v = this.ajv.compile({ $ref: `graph${REF}${schemaName}` })));
    return v;
  }

  /** The mapping from @odata.type to schema name declared on a schema (or its allOf parts). */
  private mapping(schemaName: string): Record<string, string> {
    const s = this.doc.components.schemas[schemaName];
    const parts = [s, ...((s?.allOf as Json[]) ?? [])];
    const out: Record<string, string> = {};
    for (const p of parts) {
      const m = (p?.discriminator as { mapping?: Record<string, string> } | undefined)?.mapping;
      if (m) for (const [k, v] of Object.entries(m)) out[k] = v.slice(REF.length);
    }
    return out;
  }

  /** Property names a schema defines, through its allOf chain. */
  private properties(schemaName: string, seen = new Set<string>()): Set<string> {
    const out = new Set<string>();
    if (seen.has(schemaName)) return out;
    seen.add(schemaName);
    const s = this.doc.components.schemas[schemaName];
    const visit = (part: Json) => {
      if (part.$ref) for (const p of this.properties((part.$ref as string).slice(REF.length), seen)) out.add(p);
      for (const p of Object.keys((part.properties as Json) ?? {})) out.add(p);
      for (const sub of (part.allOf as Json[]) ?? []) visit(sub);
    };
    if (s) visit(s);
    return out;
  }

  private validateBody(body: unknown, schemaName: string, where: string, strictProperties: boolean): string[] {
    if (this.undefinedSchemas.has(schemaName)) return [];
    const problems: string[] = [];
    let name = schemaName;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const t = (body as Json)['@odata.type'];
      const mapped = typeof t === 'string' ? this.mapping(schemaName)[t] : undefined;
      if (mapped) name = mapped;
    }
    const v = this.validator(name);
    if (!v(body))
      problems.push(...(v.errors ?? []).slice(0, 5).map((e) => `${where} ${e.instancePath || '(root)'} ${e.message} (schema ${name})`));
    if (strictProperties && body && typeof body === 'object' && !Array.isArray(body)) {
      const known = this.properties(name);
      const refBody = this.doc.components.schemas[name]?.additionalProperties !== undefined;
      for (const key of Object.keys(body)) {
        if (key.includes('@odata.') || key.startsWith('@') || refBody) continue;
        if (!known.has(key)) problems.push(`${where} has property '${key}', which ${name} does not define`);
      }
    }
    // Collections: check each item against its own derived type too.
    const value = (body as Json | null)?.value;
    const itemRef = this.collectionItem(name);
    if (Array.isArray(value) && itemRef)
      value.forEach((item, i) => problems.push(...this.validateBody(item, itemRef, `${where} value[${i}]`, false)));
    return problems;
  }

  private collectionItem(schemaName: string): string | undefined {
    const s = this.doc.components.schemas[schemaName];
    for (const part of [s, ...((s?.allOf as Json[]) ?? [])]) {
      const items = ((part?.properties as Json | undefined)?.value as Json | undefined)?.items as Json | undefined;
      if (items?.$ref) return (items.$ref as string).slice(REF.length);
    }
    return undefined;
  }

  private static schemaOf(content: Json | undefined): string | undefined {
    const schema = ((content?.['application/json'] as Json | undefined)?.schema as Json | undefined) ?? undefined;
    const ref = schema?.$ref as string | undefined;
    return ref?.startsWith(REF) ? ref.slice(REF.length) : undefined;
  }

  checkRequest(method: string, path: string, query: URLSearchParams, body: unknown): string[] {
    const op = this.find(method, path);
    if (!op) return [`${method} ${path} is not in the Graph v1.0 subset`];
    const problems: string[] = [];
    const allowed = new Set(op.parameters.filter((p) => p.in === 'query').map((p) => String(p.name).toLowerCase()));
    if (allowed.size) allowed.add('$skiptoken');
    for (const key of query.keys())
      if (!allowed.has(key.toLowerCase())) problems.push(`${method} ${op.template} does not take query option '${key}'`);
    if (op.requestBody) {
      const name = GraphContract.schemaOf(this.deref(op.requestBody).content as Json);
      if (body === undefined && this.deref(op.requestBody).required) problems.push(`${method} ${op.template} needs a JSON body`);
      else if (name && body !== undefined) problems.push(...this.validateBody(body, name, `${method} ${op.template} body`, true));
    } else if (body !== undefined && body !== null && !(typeof body === 'object' && Object.keys(body).length === 0)) {
      problems.push(`${method} ${op.template} takes no body`);
    }
    return problems;
  }

  checkResponse(method: string, path: string, status: number, body: unknown): string[] {
    const op = this.find(method, path);
    if (!op) return [];
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => op.responses[k]);
    if (!key) return [`${method} ${op.template} answered ${status}, which the subset does not list`];
    const response = this.deref(op.responses[key]);
    const name = GraphContract.schemaOf(response.content as Json);
    if (!name)
      return body === undefined || body === null || body === ''
        ? []
        : status >= 400
          ? this.validateBody(body, 'microsoft.graph.ODataErrors.ODataError', `${status} body`, false)
          : [];
    if (body === undefined) return [`${method} ${op.template} answered ${status} without the JSON body the subset describes (${name})`];
    return this.validateBody(body, name, `${method} ${op.template} ${status} body`, false);
  }

  /** Alternatives of application permissions the operation needs, e.g. [["A.Read.All"], ["A.ReadWrite.All"]]. */
  permissionsFor(method: string, path: string): string[] | undefined {
    const text = this.find(method, path)?.permissions;
    if (!text) return undefined;
    return [...text.matchAll(/\b([A-Z][A-Za-z]+(?:\.[A-Za-z]+)+)\b/g)]
      .map((m) => m[1])
      .filter((p) => /\.(All|Read|ReadWrite|Send)$/.test(p) || /\.All$/.test(p));
  }
}
