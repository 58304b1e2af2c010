/**
 * Images for the dashboard: originals streamed from the blob store, thumbnails resized with
 * sharp and cached on disk under DATA_DIR/thumbs (named by content hash and width, so a cache
 * entry never goes stale), and the change map of a candidate. All carry an ETag and
 * Cache-Control, and a matching If-None-Match gets 304.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import sharp from 'sharp';
import { z } from 'zod';
import type { BlobStore } from '../../pipeline/blobs.ts';
import type { Db } from '../../db/client.ts';
import { candidatePair, imageBlob } from '../../db/repositories/request-view.repository.ts';

/** Thumbnail widths we render (pixels); a request for another width gets the next larger. */
export const THUMB_WIDTHS = [96, 160, 256, 384, 512, 768] as const;

const MIME: Record<string, string> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif', tif: 'image/tiff', tiff: 'image/tiff' };

/** Renders the change map (PNG) of an edit against its source, from the two blobs' bytes. */
export type ChangeMapFn = (source: Buffer, edit: Buffer) => Promise<Buffer>;

export interface ImageDeps {
  db: Db;
  blobs: BlobStore;
  /** Where thumbnails are cached (DATA_DIR/thumbs). */
  thumbDir: string;
  changeMap?: ChangeMapFn;
}

function notModified(c: Context, etag: string): boolean {
  const inm = c.req.header('if-none-match');
  return inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}`);
}

async function cachedFile(file: string, make: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch {
    const bytes = await make();
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, bytes);
    await rename(tmp, file); // atomic: a concurrent reader sees the old state or the whole file
    return bytes;
  }
}

const kindSchema = z.enum(['source', 'candidate']);
const idSchema = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const widthSchema = z.coerce.number().int().min(16).max(4096).optional();

/** The /img sub-app: `/img/:kind/:id[?w=N]` and `/img/change/:id`. */
export function imageRoutes(deps: ImageDeps): Hono {
  const app = new Hono();

  app.get('/change/:id', async (c) => {
    const cid = idSchema.safeParse(c.req.param('id'));
    if (!cid.success) return c.json({ error: 'id: expected a positive integer' }, 400);
    if (!deps.changeMap) return c.json({ error: 'change map: not available in this build' }, 501);
    const pair = await candidatePair(deps.db, cid.data);
    if (!pair) return c.json({ error: `candidate ${cid.data}: not found` }, 404);
    const etag = `"chg-${pair.sha256.slice(0, 32)}"`;
    c.header('ETag', etag);
    c.header('Cache-Control', 'private, max-age=86400');
    if (notModified(c, etag)) return c.body(null, 304);
    const file = path.join(deps.thumbDir, 'change', pair.sha256.slice(0, 2), `${pair.sha256}.png`);
    const changeMap = deps.changeMap;
    const bytes = await cachedFile(file, async () =>
      changeMap(await deps.blobs.get(pair.sourceBlob), await deps.blobs.get(pair.editBlob)),
    );
    c.header('Content-Type', 'image/png');
    return c.body(new Uint8Array(bytes));
  });

  app.get('/:kind/:id', async (c) => {
    const kind = kindSchema.safeParse(c.req.param('kind'));
    const iid = idSchema.safeParse(c.req.param('id'));
    const w = widthSchema.safeParse(c.req.query('w') || undefined);
    if (!kind.success) return c.json({ error: 'kind: expected source or candidate' }, 400);
    if (!iid.success) return c.json({ error: 'id: expected a positive integer' }, 400);
    if (!w.success) return c.json({ error: 'w: expected an integer width 16–4096' }, 400);
    const img = await imageBlob(deps.db, kind.data, iid.data);
    if (!img) return c.json({ error: `${kind.data} ${iid.data}: not found` }, 404);
    c.header('Cache-Control', 'private, max-age=86400');
    if (w.data === undefined) {
      const etag = `"${img.sha256}"`;
      c.header('ETag', etag);
      if (notModified(c, etag)) return c.body(null, 304);
      const ext = img.blob.slice(img.blob.lastIndexOf('.') + 1);
      c.header('Content-Type', MIME[ext] ?? 'application/octet-stream');
      return c.body(new Uint8Array(await deps.blobs.get(img.blob)));
    }
    const width = THUMB_WIDTHS.find((t) => t >= w.data!) ?? THUMB_WIDTHS[THUMB_WIDTHS.length - 1]!;
    const etag = `"${img.sha256}-w${width}"`;
    c.header('ETag', etag);
    if (notModified(c, etag)) return c.body(null, 304);
    const file = path.join(deps.thumbDir, img.sha256.slice(0, 2), `${img.sha256}-w${width}.webp`);
    const bytes = await cachedFile(file, async () =>
      sharp(await deps.blobs.get(img.blob))
        .rotate()
        .resize({ width, height: width, fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 78 })
        .toBuffer(),
    );
    c.header('Content-Type', 'image/webp');
    return c.body(new Uint8Array(bytes));
  });

  return app;
}
