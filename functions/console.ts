import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { z } from 'zod';
import { httpFunction } from '../shared/platform/app';
import { notFound } from '../shared/platform/errors';

/**
 * The admin console: the static page in console/ (HTML, one script module, one style sheet), served
 * by the app itself. It calls the admin API with the browser session, so it holds no token; the
 * policy lets it load only its own files and talk only to its own origin.
 */
const tags = ['console'];
const DIR = resolve(__dirname, '..', '..', 'console');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const FILES = new Map(
  readdirSync(DIR)
    .filter((f) => TYPES[extname(f)])
    .map((f) => [f, readFileSync(join(DIR, f))]),
);
const HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};
const file = (name: string) => ({ status: 200, headers: { ...HEADERS, 'Content-Type': TYPES[extname(name)] }, body: FILES.get(name) });

httpFunction('console', {
  method: 'GET',
  route: 'console',
  auth: 'anonymous',
  doc: {
    summary: 'The admin console (a page; it signs the admin in with Entra ID and calls the admin API)',
    tags,
    responses: { 200: { description: 'The page.', schema: z.string(), contentType: 'text/html' } },
  },
  handler: () => file('index.html'),
});

httpFunction('consoleFile', {
  method: 'GET',
  route: 'console/{file}',
  auth: 'anonymous',
  params: z.object({ file: z.string().max(64) }),
  doc: {
    summary: "The console's script, strings and style sheet",
    tags,
    responses: {
      200: { description: 'The file.', schema: z.string(), contentType: 'text/javascript' },
      404: { description: 'No such file of the console.' },
    },
  },
  handler: ({ params }) => {
    if (!FILES.has(params.file) || params.file === 'index.html') throw notFound(`The console has no file '${params.file}'.`);
    return file(params.file);
  },
});
