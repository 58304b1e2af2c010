/**
 * Serves finished exports over HTTP: `GET|HEAD /:name/manifest.json` and `/:name/:shard`
 * (mount at `/exports`). Only `manifest.json` and the files its shardlist names are served, so
 * nothing outside the export directory (and nothing half-written) is reachable; names are also
 * checked against a strict pattern and the resolved path must stay inside the directory.
 * Shards support a single `Range` (206 / 416), a strong `ETag` (the shard's sha256 from the
 * manifest; the manifest's own sha256 for manifest.json), `If-None-Match` (weak comparison:
 * `W/"…"` matches) and `If-Range` (strong comparison).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import { MANIFEST_FILE, type Manifest } from '../../pipeline/export/manifest.ts';

export interface ExportRoutesOptions {
  /** The directory of the export called `name` (e.g. `findExportDir(db, name)`), or null. */
  resolveExportDir(name: string): Promise<string | null>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const contentType = (file: string) =>
  file.endsWith('.json') ? 'application/json' : file.endsWith('.tar') ? 'application/x-tar' : file.endsWith('.parquet') ? 'application/vnd.apache.parquet' : 'application/octet-stream';

/** Parses one `bytes=` range against `size`: a [start, end] pair, 'unsatisfiable', or null (serve all). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null; // several ranges or another unit: answer with the whole file
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return null; // syntactically invalid: ignore
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

/** Whether an If-None-Match header matches `etag` by weak comparison (`W/"x"` matches `"x"`), or is `*`. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

/** The hono sub-app for `/exports`. */
export function exportRoutes(opts: ExportRoutesOptions): Hono {
  const app = new Hono();

  const serve = async (c: Context, name: string, file: string) => {
    if (!NAME_RE.test(name) || !NAME_RE.test(file) || file.includes('..')) return c.json({ error: 'bad export or file name' }, 400);
    const dir = await opts.resolveExportDir(name);
    if (!dir) return c.json({ error: `no export ${name}` }, 404);
    let root: string;
    let manifestText: string;
    try {
      root = await realpath(dir);
      manifestText = await readFile(path.join(root, MANIFEST_FILE), 'utf8');
    } catch {
      return c.json({ error: `export ${name} is not complete` }, 404);
    }
    let etag: string;
    if (file === MANIFEST_FILE) {
      etag = `"${createHash('sha256').update(manifestText).digest('hex')}"`;
    } else {
      let manifest: Manifest;
      try {
        manifest = JSON.parse(manifestText) as Manifest;
      } catch {
        return c.json({ error: `export ${name} has a broken manifest` }, 500);
      }
      const entry = manifest.shardlist?.find((s) => s.url === file);
      if (!entry) return c.json({ error: `no file ${file} in export ${name}` }, 404);
      etag = `"${entry.sha256}"`;
    }
    let full: string;
    let size: number;
    try {
      full = await realpath(path.join(root, file));
      if (path.dirname(full) !== root) return c.json({ error: 'outside the export directory' }, 400);
      const s = await stat(full);
      if (!s.isFile()) return c.json({ error: `no file ${file}` }, 404);
      size = s.size;
    } catch {
      return c.json({ error: `no file ${file} in export ${name}` }, 404);
    }

    const headers: Record<string, string> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Content-Type': contentType(file),
      'Cache-Control': 'no-cache',
    };
    if (noneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);

    // If-Range compares strongly (RFC 9110 13.1.5): a weak tag or a date never matches, so the whole file is sent.
    const ifRange = c.req.header('if-range')?.trim();
    const range = ifRange && ifRange !== etag ? null : parseRange(c.req.header('range'), size);
    if (range === 'unsatisfiable') return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${size}` });
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = String(length);
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    if (c.req.method === 'HEAD' || length === 0) return c.body(null, status, headers);
    const body = Readable.toWeb(createReadStream(full, { start, end })) as unknown as ReadableStream<Uint8Array>;
    return c.body(body, status, headers);
  };

  app.on(['GET', 'HEAD'], '/:name/:file', (c) => serve(c, c.req.param('name'), c.req.param('file')));
  return app;
}
