/**
 * The built-in CPU inference core: an HTTP server that speaks OpenAI's `POST /v1/images/edits`
 * (plus the `seed`, `num_inference_steps`, `guidance_scale`, `image_guidance_scale` extension
 * fields), `GET /v1/models` and `GET /health`. Edits are real sharp operations chosen by the
 * instruction grammar; candidate i renders the variant of seed+i and reports it in
 * `data[i].vibe`, so tests and the demo know the ground truth.
 */
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Server } from 'node:http';
import pLimit from 'p-limit';
import sharp, { type Metadata } from 'sharp';
import { ImageError } from '../errors/index.ts';
import { decodeSource, renderDecoded, variantForSeed, type RgbPixels } from './editor.ts';
import { EDIT_OPS, parseInstruction, SAMPLE_INSTRUCTIONS } from './instruction-grammar.ts';
import { DEFAULT_MAX_PIXELS } from '../images.ts';

/** The model id the built-in core reports (matches INFERENCE_MODEL's default). */
export const BUILTIN_MODEL = 'vibe-builtin-cpu';

export interface InferenceServerOptions {
  port?: number; // 0 (default): a free port
  host?: string; // default 127.0.0.1
  maxUploadBytes?: number; // default 50 MiB, like OpenAI's limit
  maxPixels?: number; // default 40 MP: decompression-bomb guard
  /** Candidates rendered at once over all requests (default: the CPU count); the rest wait, so memory stays bounded. */
  maxConcurrentRenders?: number;
  /** Edit requests holding decoded pixels at once (default: maxConcurrentRenders); the rest wait before decoding. */
  maxConcurrentEdits?: number;
  /** When set, /v1/* needs `Authorization: Bearer KEY` (INFERENCE_API_KEY); /health stays open. */
  apiKey?: string;
}

const DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024; // 50 MiB
const MAX_N = 16;
const MAX_SIDE = 8192; // pixels, either side of `size`; width × height is capped at maxPixels too

type ErrorType = 'invalid_request_error' | 'server_error' | 'not_found_error';

/** An OpenAI-style error reply: `{error:{message,type,param,code}}`. */
function apiError(c: Context, status: 400 | 401 | 404 | 413 | 500, message: string, code: string, param: string | null = null, type: ErrorType = 'invalid_request_error') {
  return c.json({ error: { message, type, param, code } }, status);
}

class FieldError extends Error {
  constructor(
    readonly param: string,
    message: string,
    readonly code = 'invalid_value',
    readonly status: 400 | 413 = 400,
  ) {
    super(message);
  }
}

type Body = Record<string, string | File | (string | File)[]>;

function field(body: Body, name: string): string | File | undefined {
  const v = body[name] ?? body[`${name}[]`];
  return Array.isArray(v) ? v[0] : v;
}

function textField(body: Body, name: string): string | undefined {
  const v = field(body, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new FieldError(name, `${name}: expected a text field, got a file`);
  return v.trim() === '' ? undefined : v.trim();
}

function intField(body: Body, name: string, min: number, max: number): number | undefined {
  const v = textField(body, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new FieldError(name, `${name}: expected an integer from ${min} to ${max}, got '${v.slice(0, 40)}'`);
  return n;
}

function numField(body: Body, name: string, min: number, max: number): number | undefined {
  const v = textField(body, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new FieldError(name, `${name}: expected a number from ${min} to ${max}, got '${v.slice(0, 40)}'`);
  return n;
}

function parseSize(v: string | undefined, maxPixels: number): { width: number; height: number } | undefined {
  if (v === undefined || v === 'auto') return undefined;
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(v);
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new FieldError('size', `size: expected 'auto' or WIDTHxHEIGHT up to ${MAX_SIDE}, got '${v.slice(0, 40)}'`);
  }
  if (width * height > maxPixels) {
    throw new FieldError('size', `size: ${width}x${height} is ${width * height} pixels, over the ${maxPixels}-pixel limit (MAX_IMAGE_PIXELS)`);
  }
  return { width, height };
}

/** Whether the request carries `Authorization: Bearer KEY` (the scheme in any case), compared in constant time. */
function hasKey(c: Context, key: string): boolean {
  const m = /^bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

const DRAIN_LIMIT = 512 * 1024 * 1024; // 512 MiB: past this an oversized upload is cut off instead of drained

/**
 * Reads the request body up to `max` bytes. An oversized body is still read to its end (and
 * discarded, up to DRAIN_LIMIT) so the client, still sending, gets the 413 instead of a reset.
 */
async function readBody(req: Request, max: number): Promise<Buffer | 'too_large'> {
  if (!req.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size <= max) chunks.push(value);
    else if (size > DRAIN_LIMIT) {
      await reader.cancel();
      break;
    }
  }
  return size > max ? 'too_large' : Buffer.concat(chunks);
}

/** Parses a multipart (or urlencoded) body into fields; repeated fields become arrays. */
async function parseForm(raw: Buffer, type: string): Promise<Body> {
  const form = await new Response(raw as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }).formData();
  const body: Body = {};
  form.forEach((v, k) => {
    const prev = body[k];
    body[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  });
  return body;
}

/** The uploaded `image` file's bytes and name (400 when it is missing or a text field). */
async function imageField(body: Body): Promise<{ bytes: Buffer; name: string }> {
  const image = field(body, 'image');
  if (image === undefined) throw new FieldError('image', "image: missing; send the source image as the multipart file field 'image'", 'missing_required_parameter');
  if (typeof image === 'string') throw new FieldError('image', 'image: expected a file upload, got a text field', 'invalid_image');
  return { bytes: Buffer.from(await image.arrayBuffer()), name: image.name || 'upload' };
}

/** Builds the Hono app (usable with `app.request` in tests, or served by startInferenceServer). */
export function createInferenceApp(opts: InferenceServerOptions = {}): Hono {
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const renderSlots = Math.max(1, opts.maxConcurrentRenders ?? os.availableParallelism());
  const render = pLimit(renderSlots);
  const admit = pLimit(Math.max(1, opts.maxConcurrentEdits ?? renderSlots));
  const started = Math.floor(Date.now() / 1000);
  const app = new Hono();

  app.get('/health', (c) => c.json({ ok: true, model: BUILTIN_MODEL, ops: EDIT_OPS }));

  const key = opts.apiKey;
  if (key) {
    app.use('/v1/*', async (c, next) => {
      if (hasKey(c, key)) return next();
      c.header('WWW-Authenticate', 'Bearer');
      return apiError(c, 401, 'missing or wrong API key: send Authorization: Bearer INFERENCE_API_KEY', 'invalid_api_key');
    });
  }

  app.get('/v1/models', (c) =>
    c.json({ object: 'list', data: [{ id: BUILTIN_MODEL, object: 'model', created: started, owned_by: 'vibe-curate' }] }),
  );

  app.post('/v1/images/edits', async (c) => {
    const type = c.req.header('content-type') ?? '';
    let raw: Buffer | 'too_large' | undefined = await readBody(c.req.raw, maxUploadBytes);
    if (raw === 'too_large') return apiError(c, 413, `request body exceeds the ${maxUploadBytes}-byte upload limit`, 'payload_too_large');
    if (!/^multipart\/form-data|^application\/x-www-form-urlencoded/i.test(type)) {
      return apiError(c, 400, `expected a multipart/form-data body, got '${type || 'no content-type'}'`, 'invalid_content_type');
    }
    let body: Body;
    try {
      body = await parseForm(raw, type);
      raw = undefined; // the form holds what is needed: one copy of the upload less while this request waits
    } catch (err) {
      return apiError(c, 400, `malformed multipart body: ${(err as Error).message}`, 'invalid_body');
    }
    try {
      const { bytes, name: imageName } = await imageField(body);
      const prompt = textField(body, 'prompt');
      if (prompt === undefined) throw new FieldError('prompt', 'prompt: missing; send the edit instruction', 'missing_required_parameter');
      const spec = parseInstruction(prompt);
      if (!spec) {
        const examples = SAMPLE_INSTRUCTIONS.slice(0, 4).map((s) => `'${s.instruction}'`).join(', ');
        throw new FieldError('prompt', `prompt: instruction not understood by the built-in editor: '${prompt.slice(0, 120)}' (supported edits: ${EDIT_OPS.join(', ')}; e.g. ${examples})`, 'unsupported_instruction');
      }
      const n = intField(body, 'n', 1, MAX_N) ?? 1;
      const seed = intField(body, 'seed', 0, Number.MAX_SAFE_INTEGER - MAX_N) ?? Math.floor(Math.random() * 2 ** 31);
      const format = textField(body, 'response_format') ?? 'b64_json';
      if (format !== 'b64_json') throw new FieldError('response_format', `response_format: only 'b64_json' is supported, got '${format.slice(0, 40)}'`);
      const outputFormat = textField(body, 'output_format') ?? 'jpeg';
      if (!['jpeg', 'png', 'webp'].includes(outputFormat)) throw new FieldError('output_format', `output_format: expected jpeg, png or webp, got '${outputFormat.slice(0, 40)}'`);
      if ((textField(body, 'stream') ?? 'false') !== 'false') throw new FieldError('stream', 'stream: streaming is not supported by the built-in core');
      const size = parseSize(textField(body, 'size'), maxPixels);
      // Diffusion knobs are accepted (and validated) for protocol compatibility; global ops ignore them.
      intField(body, 'num_inference_steps', 1, 1000);
      numField(body, 'guidance_scale', 0, 100);
      numField(body, 'image_guidance_scale', 0, 100);
      body = {}; // let the parsed form (a second copy of the upload) go before waiting for a slot

      let meta: Metadata;
      try {
        // The header only (no decoding), with sharp's own pixel limit off so that any image over ours gets 413, not 400.
        meta = await sharp(bytes, { limitInputPixels: false }).metadata();
      } catch {
        throw new FieldError('image', `image: '${imageName}' is not a decodable image (PNG, JPEG, WebP, …)`, 'invalid_image');
      }
      if ((meta.width ?? 0) * (meta.height ?? 0) > maxPixels) {
        throw new FieldError('image', `image: ${meta.width}x${meta.height} exceeds the ${maxPixels}-pixel limit (MAX_IMAGE_PIXELS)`, 'image_too_large', 413);
      }
      // Decoding, every render, resize and encode run inside the two semaphores: memory grows with
      // the slots, not with the number of requests or the n and size they ask for.
      const { data, width: srcWidth, height: srcHeight } = await admit(async () => {
        let src: RgbPixels;
        try {
          src = await decodeSource(bytes, maxPixels);
        } catch (err) {
          const why = err instanceof ImageError ? err.message : String(err);
          throw new FieldError('image', `image: '${imageName}' is ${why}`, 'invalid_image');
        }
        const data = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            render(async () => {
              const variant = variantForSeed(seed + i);
              const out = await renderDecoded(src, spec, variant);
              let encoded = out.bytes;
              if (size && (size.width !== out.width || size.height !== out.height)) {
                encoded = await sharp(encoded).resize(size.width, size.height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
              }
              if (outputFormat !== 'jpeg') encoded = await sharp(encoded).toFormat(outputFormat as 'png' | 'webp').toBuffer();
              return {
                b64_json: encoded.toString('base64'),
                vibe: { op: spec.op, ...(spec.amount !== undefined ? { amount: spec.amount } : {}), strength: variant.strength, defects: variant.defects, seed: seed + i },
              };
            }),
          ),
        );
        return { data, width: src.width, height: src.height };
      });
      const w = size?.width ?? srcWidth;
      const h = size?.height ?? srcHeight;
      return c.json({ created: Math.floor(Date.now() / 1000), data, output_format: outputFormat, size: `${w}x${h}` });
    } catch (err) {
      if (err instanceof FieldError) return apiError(c, err.status, err.message, err.code, err.param);
      throw err;
    }
  });

  app.notFound((c) => apiError(c, 404, `no route ${c.req.method} ${c.req.path}`, 'not_found', null, 'not_found_error'));
  app.onError((err, c) => apiError(c, 500, `internal error: ${err.message}`, 'internal_error', null, 'server_error'));
  return app;
}

/**
 * Starts the built-in inference core on `host:port` (defaults 127.0.0.1 and a free port).
 * `close()` stops accepting, drops idle keep-alive connections and resolves when closed.
 */
export async function startInferenceServer(opts: InferenceServerOptions = {}): Promise<{ url: string; close(): Promise<void> }> {
  const app = createInferenceApp(opts);
  const host = opts.host ?? '127.0.0.1';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port ?? 0, hostname: host }) as Server;
    s.once('listening', () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      return closed;
    },
  };
}
