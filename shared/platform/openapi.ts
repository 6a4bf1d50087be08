import { z } from 'zod';
import type { HttpOperation } from './app';

/** OpenAPI 3.1 description of the app's HTTP functions, built from their declarations. */

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details.',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong and what to fix.' },
    errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

/** `admin/tem/{id:guid}/x/{rest?}` → `/api/admin/tem/{id}/x/{rest}` */
export function openApiPath(route: string, prefix = 'api'): string {
  return `/${prefix}/${route}`.replace(/\{\*?([A-Za-z0-9_]+)(:[^}]*)?\??\}/g, '{$1}');
}

export function buildOpenApi(operations: HttpOperation[], info: { title: string; version: string; serverUrl?: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = openApiPath(op.route);
    const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const paramShapes = op.params instanceof z.ZodObject ? (op.params.shape as Record<string, z.ZodType>) : {};
    const queryShapes = op.query instanceof z.ZodObject ? (op.query.shape as Record<string, z.ZodType>) : {};
    const parameters = [
      ...pathParams.map((name) => ({
        name,
        in: 'path',
        required: true,
        schema: paramShapes[name] ? jsonSchema(paramShapes[name], 'input') : { type: 'string' },
      })),
      ...Object.entries(queryShapes).map(([name, s]) => ({
        name,
        in: 'query',
        required: !s.safeParse(undefined).success,
        schema: jsonSchema(s, 'input'),
        ...(s.description ? { description: s.description } : {}),
      })),
      ...Object.entries(op.doc.headers ?? {}).map(([name, description]) => ({
        name,
        in: 'header',
        required: true,
        description,
        schema: { type: 'string' },
      })),
    ];
    const responses: Record<string, unknown> = {};
    const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
    for (const [status, r] of Object.entries(op.doc.responses)) {
      responses[status] = {
        description: r.description,
        // Every error answers problem details; a success documents its own body.
        ...(r.schema
          ? { content: { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema, 'output') } } }
          : Number(status) >= 400
            ? { content: problem }
            : {}),
      };
    }
    const errorStatuses = ['400', ...(op.auth === 'anonymous' ? [] : ['401', '403']), '500'];
    const forbidden =
      op.auth === 'signedIn'
        ? 'A state-changing request with the session cookie that did not come from this app.'
        : `The caller lacks the app role ${op.auth}, or a state-changing request with the session cookie did not come from this app.`;
    for (const s of errorStatuses)
      responses[s] ??= {
        description: s === '401' ? 'No valid bearer token or session.' : s === '403' ? forbidden : 'Problem details.',
        content: problem,
      };
    (paths[path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.name,
      summary: op.doc.summary,
      ...(op.doc.description ? { description: op.doc.description } : {}),
      tags: op.doc.tags,
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body, 'input') } } } } : {}),
      responses,
      ...(op.auth === 'anonymous'
        ? { security: [] }
        : { security: [{ entra: [] }, { session: [] }], ...(op.auth === 'signedIn' ? {} : { 'x-app-role': op.auth }) }),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'Admin API, webhooks and OAuth endpoints of the Intune connector back ends. Admin calls need an Entra ID v2 access token for the app (scope api://<client-id>/.default), or a browser session from /api/auth/signin, holding the app role named by x-app-role.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: {
        entra: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Entra ID v2 access token; audience = the app client id.',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'connector_session',
          description:
            'Browser session from GET /api/auth/signin (named __Host-session when served over https); state-changing requests must come from the app origin.',
        },
      },
    },
  };
}
