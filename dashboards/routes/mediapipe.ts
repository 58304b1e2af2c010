/**
 * MediaPipe for the request view's browser face detector, served by the dashboard itself (no
 * CDN, behind the token gate like every other route): the tasks-vision ES module and its WASM
 * runtime from `@mediapipe/tasks-vision`, and the two face models from `@mediapipe/face_detection`
 * with the NormalizationOptions metadata the Tasks API needs added (see mediapipe-model.ts).
 *
 *   GET /mediapipe/vision_bundle.mjs
 *   GET /mediapipe/wasm/vision_wasm_internal.{js,wasm} (and the module and nosimd pairs)
 *   GET /mediapipe/models/face_detection_{full,short}_range.tflite
 *   GET /mediapipe/version.json   {tasksVision, faceDetection, models: {name: sha256}}
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { withNormalizationMetadata } from './mediapipe-model.ts';

const require = createRequire(import.meta.url);
const TASKS_DIR = path.dirname(require.resolve('@mediapipe/tasks-vision')); // main: vision_bundle.cjs at the package root
const FACE_DIR = path.dirname(require.resolve('@mediapipe/face_detection'));

export const BROWSER_MODELS = ['face_detection_full_range', 'face_detection_short_range'] as const;
export type BrowserModel = (typeof BROWSER_MODELS)[number];

const WASM_FILES = new Set(['vision_wasm_internal.js', 'vision_wasm_internal.wasm', 'vision_wasm_module_internal.js', 'vision_wasm_module_internal.wasm', 'vision_wasm_nosimd_internal.js', 'vision_wasm_nosimd_internal.wasm']);

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

const cache = new Map<string, Promise<Asset>>();

function asset(key: string, type: string, load: () => Promise<Uint8Array>): Promise<Asset> {
  let a = cache.get(key);
  if (!a) {
    a = load().then((bytes) => ({ body: new Uint8Array(bytes), type, etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` }));
    a.catch(() => cache.delete(key));
    cache.set(key, a);
  }
  return a;
}

async function send(c: Context, a: Promise<Asset>): Promise<Response> {
  const { body, type, etag } = await a;
  c.header('ETag', etag);
  c.header('Cache-Control', 'private, max-age=86400'); // a day: the files change only with the packages
  if (c.req.header('if-none-match') === etag) return c.body(null, 304);
  c.header('Content-Type', type);
  return c.body(body);
}

const modelAsset = (name: BrowserModel) =>
  asset(`model:${name}`, 'application/octet-stream', async () => withNormalizationMetadata(new Uint8Array(await readFile(path.join(FACE_DIR, `${name}.tflite`)))));

async function packageVersion(dir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The model version stored with browser results: package versions and the served model's hash. */
export async function browserModelVersions(): Promise<{ tasksVision: string; faceDetection: string; models: Record<BrowserModel, string> }> {
  const models = {} as Record<BrowserModel, string>;
  for (const m of BROWSER_MODELS) models[m] = (await modelAsset(m)).etag.slice(1, 17);
  return { tasksVision: await packageVersion(TASKS_DIR), faceDetection: await packageVersion(FACE_DIR), models };
}

export function mediapipeRoutes(): Hono {
  const app = new Hono();
  app.get('/vision_bundle.mjs', (c) => send(c, asset('bundle', 'text/javascript; charset=utf-8', async () => new Uint8Array(await readFile(path.join(TASKS_DIR, 'vision_bundle.mjs'))))));
  app.get('/wasm/:file', (c) => {
    const file = c.req.param('file');
    if (!WASM_FILES.has(file)) return c.json({ error: `${file}: not found` }, 404);
    const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8';
    return send(c, asset(`wasm:${file}`, type, async () => new Uint8Array(await readFile(path.join(TASKS_DIR, 'wasm', file)))));
  });
  app.get('/models/:file', (c) => {
    const name = c.req.param('file').replace(/\.tflite$/, '') as BrowserModel;
    if (!BROWSER_MODELS.includes(name) || !c.req.param('file').endsWith('.tflite')) return c.json({ error: `${c.req.param('file')}: not found` }, 404);
    return send(c, modelAsset(name));
  });
  app.get('/version.json', async (c) => c.json(await browserModelVersions()));
  return app;
}
