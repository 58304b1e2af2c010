/**
 * The pages: plain HTML + ES modules + CSS from dashboards/web, served as they are (no build
 * step). /static/NAME serves a file of that folder (names checked, no traversal) with an ETag
 * from its size and mtime.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';

export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const NAME_RE = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*\.(html|js|css|svg|png|ico)$/;

async function sendFile(c: Context, name: string): Promise<Response> {
  if (!NAME_RE.test(name)) return c.json({ error: `${name}: not found` }, 404);
  const file = path.join(WEB_DIR, name);
  let info;
  try {
    info = await stat(file);
  } catch {
    return c.json({ error: `${name}: not found` }, 404);
  }
  const etag = `"${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}"`;
  c.header('ETag', etag);
  c.header('Cache-Control', 'no-cache'); // revalidate: cheap 304s, and a new deploy shows at once
  if (c.req.header('if-none-match') === etag) return c.body(null, 304);
  c.header('Content-Type', TYPES[path.extname(name)] ?? 'application/octet-stream');
  return c.body(new Uint8Array(await readFile(file)));
}

/** Page routes and /static. */
export function pageRoutes(): Hono {
  const app = new Hono();
  app.get('/', (c) => sendFile(c, 'overview.html'));
  app.get('/browse', (c) => sendFile(c, 'browse.html'));
  app.get('/request/:id{[0-9]+}', (c) => sendFile(c, 'request.html'));
  app.get('/exports', (c) => sendFile(c, 'exports.html'));
  app.get('/calibrate', (c) => sendFile(c, 'calibrate.html'));
  app.get('/static/*', (c) => sendFile(c, c.req.path.slice('/static/'.length)));
  app.get('/favicon.ico', (c) => c.body(null, 204));
  return app;
}
