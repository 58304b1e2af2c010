/**
 * Client of the inference core (`POST {url}/v1/images/edits`, OpenAI protocol plus the `seed`
 * extension). One call asks for K candidates with seeds seed, seed+1, …, so a retried job asks
 * for the same seeds. Retries 5xx, timeouts and resets with backoff inside the call (bounded by
 * maxAttempts); 429/503 are thrown as RateLimitError so the queue slows down instead of burning
 * attempts; other 4xx are final. Every returned image is decoded before it is handed back.
 */
import sharp from 'sharp';
import { ImageError, parseRetryAfter, RateLimitError, RemoteError, VibeError } from '../errors/index.ts';
import { inferenceCalls } from '../metrics.ts';
import { sleep } from '../sleep.ts';

export interface EditRequest {
  image: Buffer;
  prompt: string;
  /** Candidates wanted (K). */
  n: number;
  /** Seed of the first candidate; candidate i uses seed + i. */
  seed: number;
  size?: string;
  signal?: AbortSignal;
  extra?: { num_inference_steps?: number; guidance_scale?: number; image_guidance_scale?: number };
}

export interface EditedImage {
  bytes: Buffer;
  width: number;
  height: number;
  seed: number;
  /** The server's `data[i].vibe` when present (the built-in core's ground truth). */
  meta?: Record<string, unknown>;
}

export interface EditResult {
  images: EditedImage[];
  /** Wall time of the successful HTTP call, milliseconds. */
  latencyMs: number;
  url: string;
  model: string;
}

export interface InferenceClient {
  edit(req: EditRequest): Promise<EditResult>;
  health(): Promise<{ url: string; ok: boolean }[]>;
}

export interface InferenceClientOptions {
  urls: string[];
  model: string;
  timeoutMs: number; // per HTTP call
  maxAttempts: number; // HTTP calls per edit(), over all URLs
  apiKey?: string;
  /** First backoff delay, milliseconds (doubles per attempt, jittered, capped at 10 s). */
  backoffMs?: number;
}

const DEFAULT_BACKOFF_MS = 250; // 0.25 s, doubling
const MAX_BACKOFF_MS = 10_000; // 10 s
const DEFAULT_RETRY_AFTER_MS = 1_000; // 429/503 without a retry-after header
const UNHEALTHY_MS = 5_000; // how long a URL that failed goes to the back of the line
const HEALTH_TIMEOUT_MS = 5_000;

function sniffMime(b: Buffer): { type: string; ext: string } {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47) return { type: 'image/png', ext: 'png' };
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { type: 'image/jpeg', ext: 'jpg' };
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return { type: 'image/webp', ext: 'webp' };
  return { type: 'application/octet-stream', ext: 'bin' };
}

/**
 * Width and height read straight from a PNG IHDR or a JPEG SOF header, saving a sharp call per
 * image. Undefined for other formats, and for JPEGs with EXIF (orientation may swap the sides).
 */
function headerSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString('latin1', 12, 16) === 'IHDR') {
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = b.readUInt16BE(i + 2);
    if (marker === 0xe1 && b.toString('latin1', i + 4, i + 8) === 'Exif') return undefined;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  return undefined;
}

/**
 * Checks that `bytes` are a complete, decodable image and returns its (upright) size. JPEGs must
 * end with the EOI marker (FFD9); the whole stream is decoded (at reduced scale) so truncation shows.
 */
export async function validateImage(bytes: Buffer, subject: string): Promise<{ width: number; height: number }> {
  if (bytes.length === 0) throw new ImageError('empty image', { subject });
  const mime = sniffMime(bytes);
  if (mime.type === 'image/jpeg') {
    let end = bytes.length;
    while (end > 2 && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--; // tolerate padding
    if (bytes[end - 2] !== 0xff || bytes[end - 1] !== 0xd9) throw new ImageError(`truncated JPEG (${bytes.length} bytes, no FFD9 end marker)`, { subject });
  }
  try {
    let size = headerSize(bytes);
    if (!size) {
      const meta = await sharp(bytes, { failOn: 'truncated' }).metadata();
      if (!meta.width || !meta.height) throw new Error('no dimensions');
      size = meta.autoOrient ?? { width: meta.width, height: meta.height };
    }
    if (!(size.width > 0 && size.height > 0)) throw new Error(`bad dimensions ${size.width}x${size.height}`);
    await sharp(bytes, { failOn: 'truncated' }).resize(32, 32, { fit: 'inside' }).raw().toBuffer();
    return size;
  } catch (err) {
    throw new ImageError(`not a decodable image (${bytes.length} bytes, starts ${bytes.subarray(0, 8).toString('hex')}): ${(err as Error).message}`, { subject, cause: err });
  }
}

interface ApiImage {
  b64_json?: unknown;
  vibe?: unknown;
}

/** What one HTTP attempt ended with, when it did not produce images. */
type AttemptFailure =
  | { kind: 'final'; error: VibeError }
  | { kind: 'rate'; error: RateLimitError; retryAfterMs: number }
  | { kind: 'retry'; error: VibeError };

function messageOf(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error.message === 'string') return j.error.message;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON: use the text */
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300) || '(empty body)';
}

/** Creates a client over one or more inference URLs (healthy first, failover on error). */
export function createInferenceClient(opts: InferenceClientOptions): InferenceClient {
  if (opts.urls.length === 0) throw new VibeError('BAD_CONFIG', 'no inference URL configured', { subject: 'INFERENCE_URL' });
  if (!(opts.maxAttempts >= 1)) throw new VibeError('BAD_CONFIG', `maxAttempts must be ≥ 1, got ${opts.maxAttempts}`, { subject: 'INFERENCE_MAX_ATTEMPTS' });
  const urls = opts.urls.map((u) => u.replace(/\/+$/, ''));
  const backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  /** Per URL: the time before which it is considered unhealthy (failed or rate limited). */
  const downUntil = new Map<string, number>(urls.map((u) => [u, 0]));
  let rr = 0;

  /** This call's preference order: the configured URLs rotated by one per call, to spread load. */
  function plan(): string[] {
    const start = rr++ % urls.length;
    return [...urls.slice(start), ...urls.slice(0, start)];
  }

  /** The URL to try next: the first healthy one in `order`, else the one that recovers soonest. */
  function pick(order: string[]): string {
    const now = Date.now();
    return order.find((u) => downUntil.get(u)! <= now) ?? [...order].sort((a, b) => downUntil.get(a)! - downUntil.get(b)!)[0]!;
  }

  async function attempt(url: string, req: EditRequest): Promise<{ images: EditedImage[]; latencyMs: number } | AttemptFailure> {
    const endpoint = `${url}/v1/images/edits`;
    const form = new FormData();
    const mime = sniffMime(req.image);
    form.append('image', new Blob([req.image as Uint8Array<ArrayBuffer>], { type: mime.type }), `image.${mime.ext}`);
    form.append('prompt', req.prompt);
    form.append('n', String(req.n));
    form.append('model', opts.model);
    form.append('response_format', 'b64_json');
    form.append('seed', String(req.seed));
    if (req.size) form.append('size', req.size);
    for (const [k, v] of Object.entries(req.extra ?? {})) if (v !== undefined) form.append(k, String(v));

    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const t0 = performance.now();
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        body: form,
        signal,
        headers: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : undefined,
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      if (req.signal?.aborted) throw err; // the caller gave up: no retry, no failover
      const why = timeout.aborted ? `timed out after ${opts.timeoutMs} ms` : `connection failed: ${describeCause(err)}`;
      return { kind: 'retry', error: new RemoteError('REMOTE_RETRYABLE', why, { subject: endpoint, cause: err }) };
    }
    const latencyMs = performance.now() - t0;

    if (status === 429 || status === 503) {
      const retryAfterMs = parseRetryAfter(headers) ?? DEFAULT_RETRY_AFTER_MS;
      return {
        kind: 'rate',
        retryAfterMs,
        error: new RateLimitError(`HTTP ${status}, retry after ${retryAfterMs} ms: ${messageOf(text)}`, { subject: endpoint, status, retryAfterMs }),
      };
    }
    if (status >= 400 && status < 500) {
      return { kind: 'final', error: new RemoteError('REMOTE_FINAL', `HTTP ${status}: ${messageOf(text)}`, { subject: endpoint, status }) };
    }
    if (status >= 500 || status < 200 || status >= 300) {
      return { kind: 'retry', error: new RemoteError('REMOTE_RETRYABLE', `HTTP ${status}: ${messageOf(text)}`, { subject: endpoint, status }) };
    }

    let data: ApiImage[];
    try {
      const body = JSON.parse(text) as { data?: unknown };
      if (!Array.isArray(body.data)) throw new Error("no 'data' array");
      data = body.data as ApiImage[];
    } catch (err) {
      return { kind: 'retry', error: new RemoteError('REMOTE_RETRYABLE', `HTTP ${status} with an unreadable body (${text.length} bytes): ${(err as Error).message}`, { subject: endpoint, status, cause: err }) };
    }
    if (data.length < req.n) {
      return { kind: 'retry', error: new RemoteError('REMOTE_RETRYABLE', `returned ${data.length} images, expected ${req.n}`, { subject: endpoint, status }) };
    }
    const checked = await Promise.all(
      data.slice(0, req.n).map(async (item, i): Promise<EditedImage | VibeError> => {
        const subject = `${endpoint} data[${i}] (seed ${req.seed + i})`;
        if (typeof item?.b64_json !== 'string') return new ImageError("no 'b64_json' in the reply (is response_format=b64_json honoured?)", { subject });
        const bytes = Buffer.from(item.b64_json, 'base64');
        try {
          const { width, height } = await validateImage(bytes, subject);
          const meta = item.vibe && typeof item.vibe === 'object' ? (item.vibe as Record<string, unknown>) : undefined;
          return { bytes, width, height, seed: req.seed + i, ...(meta ? { meta } : {}) };
        } catch (err) {
          return err as ImageError;
        }
      }),
    );
    const bad = checked.find((x): x is VibeError => x instanceof VibeError);
    if (bad) return { kind: 'retry', error: bad };
    const images = checked as EditedImage[];
    return { images, latencyMs };
  }

  return {
    async edit(req) {
      if (!Number.isInteger(req.n) || req.n < 1) throw new VibeError('BAD_INPUT', `n must be a positive integer, got ${req.n}`, { subject: 'n' });
      if (!Number.isSafeInteger(req.seed) || req.seed < 0) throw new VibeError('BAD_INPUT', `seed must be a non-negative integer, got ${req.seed}`, { subject: 'seed' });
      let last: AttemptFailure | undefined;
      let lastUrl = urls[0]!;
      let rateLimited: RateLimitError | undefined;
      const order = plan();
      for (let i = 0; i < opts.maxAttempts; i++) {
        const url = pick(order);
        // Everything rate limited: stop and let the queue wait instead of burning attempts.
        if (rateLimited && downUntil.get(url)! > Date.now()) break;
        lastUrl = url;
        const out = await attempt(url, req);
        inferenceCalls.inc({ outcome: !('kind' in out) ? 'ok' : out.kind === 'rate' ? 'rate_limited' : out.kind === 'final' ? 'refused' : 'error' });
        if (!('kind' in out)) {
          downUntil.set(url, 0);
          return { images: out.images, latencyMs: out.latencyMs, url, model: opts.model };
        }
        last = out;
        if (out.kind === 'final') throw out.error;
        if (out.kind === 'rate') {
          downUntil.set(url, Date.now() + out.retryAfterMs);
          rateLimited = !rateLimited || out.retryAfterMs < (rateLimited.retryAfterMs ?? Infinity) ? out.error : rateLimited;
          if (urls.length === 1) break;
          continue;
        }
        downUntil.set(url, Date.now() + UNHEALTHY_MS);
        if (i + 1 < opts.maxAttempts) {
          const next = pick(order);
          // Failing over to another healthy URL needs no wait; retrying the same one backs off.
          if (next === url || downUntil.get(next)! > Date.now()) {
            const delay = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** i) * (0.75 + 0.5 * Math.random());
            await sleep(delay, req.signal);
          }
        }
      }
      if (rateLimited) throw rateLimited; // every URL failed or asked us to slow down: let the queue wait
      const err = last!.error;
      const reason = `${err.message} (after ${opts.maxAttempts} attempt${opts.maxAttempts === 1 ? '' : 's'}, last at ${lastUrl})`;
      if (err instanceof ImageError) throw new ImageError(reason, { subject: err.subject, cause: err });
      throw new RemoteError('REMOTE_RETRYABLE', reason, { subject: err.subject, status: err instanceof RemoteError ? err.status : undefined, cause: err });
    },

    async health() {
      return Promise.all(
        urls.map(async (url) => {
          try {
            const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(Math.min(opts.timeoutMs, HEALTH_TIMEOUT_MS)) });
            await res.arrayBuffer();
            downUntil.set(url, res.ok ? 0 : Date.now() + UNHEALTHY_MS);
            return { url, ok: res.ok };
          } catch {
            downUntil.set(url, Date.now() + UNHEALTHY_MS);
            return { url, ok: false };
          }
        }),
      );
    },
  };
}

function describeCause(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.cause?.code, e.cause?.message ?? e.message].filter(Boolean).join(' ') || String(err);
}
