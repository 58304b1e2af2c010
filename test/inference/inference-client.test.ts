import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import net from 'node:net';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, parseRetryAfter, RateLimitError, RemoteError, retriedByQueue, VibeError } from '../../pipeline/errors/index.ts';
import { createInferenceClient, validateImage, type EditRequest, type InferenceClientOptions } from '../../pipeline/inference/inference.client.ts';
import { throwIfRateLimited } from '../../workers/processor.ts';
import { startFaultServer, type FaultServer } from './fault-server.ts';

let source: Buffer;
const servers: FaultServer[] = [];

beforeAll(async () => {
  source = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3366cc' } }).png().toBuffer();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fault(...script: Parameters<typeof startFaultServer>[0][]): Promise<FaultServer> {
  const s = await startFaultServer(script[0]);
  servers.push(s);
  return s;
}

function client(urls: string[], over: Partial<InferenceClientOptions> = {}) {
  return createInferenceClient({ urls, model: 'test-model', timeoutMs: 2_000, maxAttempts: 3, backoffMs: 20, ...over });
}

const req = (over: Partial<EditRequest> = {}): EditRequest => ({ image: source, prompt: 'make it warmer', n: 2, seed: 100, ...over });

/** Runs `p`, expecting a rejection, and returns the error. */
async function failure(p: Promise<unknown>): Promise<VibeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail').toBeInstanceOf(VibeError);
  return err as VibeError;
}

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

describe('inference client: the request it sends', () => {
  it('sends the image, prompt, n, seed, model, b64_json and the diffusion knobs; returns one image per seed', async () => {
    const s = await fault(['ok']);
    const res = await client([s.url]).edit(req({ n: 3, seed: 7, size: '64x48', extra: { num_inference_steps: 30, guidance_scale: 5.5 } }));
    expect(s.requests).toEqual([
      { prompt: 'make it warmer', n: 3, seed: 7, model: 'test-model', response_format: 'b64_json', imageBytes: source.length, extra: { size: '64x48', num_inference_steps: '30', guidance_scale: '5.5' } },
    ]);
    expect(res.images.map((i) => [i.seed, i.width, i.height, i.meta?.seed])).toEqual([
      [7, 64, 48, 7],
      [8, 64, 48, 8],
      [9, 64, 48, 9],
    ]);
    expect(res.url).toBe(s.url);
    expect(res.model).toBe('test-model');
    expect(res.latencyMs).toBeGreaterThan(0);
  });

  it('sends the API key as a bearer token when one is configured', async () => {
    const s = await fault(['ok']);
    await client([s.url], { apiKey: 'sk-test-123' }).edit(req({ n: 1 }));
    expect(s.requests[0]!.authorization).toBe('Bearer sk-test-123');
  });

  it('rejects a bad n or seed before sending anything', async () => {
    const s = await fault(['ok']);
    expect((await failure(client([s.url]).edit(req({ n: 0 })))).subject).toBe('n');
    expect((await failure(client([s.url]).edit(req({ seed: -1 })))).subject).toBe('seed');
    expect(s.hits).toBe(0);
  });
});

describe('inference client: faults', () => {
  it('retries 500s with backoff and succeeds', async () => {
    const s = await fault([{ status: 500 }, { status: 502 }, 'ok']);
    const res = await client([s.url]).edit(req());
    expect(res.images).toHaveLength(2);
    expect(s.hits).toBe(3);
    expect(s.requests.map((r) => r.seed)).toEqual([100, 100, 100]); // a retry asks for the same seeds
  });

  it('gives up after maxAttempts 500s with a retryable error naming the status', async () => {
    const s = await fault([{ status: 500, message: 'CUDA out of memory' }]);
    const err = await failure(client([s.url], { maxAttempts: 3 }).edit(req()));
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.code).toBe('REMOTE_RETRYABLE');
    expect((err as RemoteError).status).toBe(500);
    expect(err.oneLine()).toMatch(/\/v1\/images\/edits: HTTP 500: CUDA out of memory \(after 3 attempts/);
    expect(retriedByQueue(err)).toBe(false); // retried by the client; its attempts are spent
    expect(s.hits).toBe(3);
  });

  it('turns 429 with retry-after into RATE_LIMITED at once, without burning attempts', async () => {
    const s = await fault([{ status: 429, headers: { 'retry-after': '2' }, message: 'slow down' }]);
    const err = (await failure(client([s.url], { maxAttempts: 5 }).edit(req()))) as RemoteError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect([err.code, err.status, err.retryAfterMs]).toEqual(['RATE_LIMITED', 429, 2000]);
    expect(err.message).toMatch(/slow down/);
    expect(s.hits).toBe(1);
  });

  it('treats 503 as rate limiting too, with a default wait when there is no retry-after', async () => {
    const s = await fault([{ status: 503 }]);
    const err = (await failure(client([s.url]).edit(req()))) as RemoteError;
    expect([err.code, err.status, err.retryAfterMs]).toEqual(['RATE_LIMITED', 503, 1000]);
    expect(s.hits).toBe(1);
  });

  it('times out a slow reply, retries, and gives up with the timeout as the reason', async () => {
    const s = await fault([{ slowMs: 1_500 }]);
    const t0 = Date.now();
    const err = await failure(client([s.url], { timeoutMs: 250, maxAttempts: 2 }).edit(req()));
    expect(err.code).toBe('REMOTE_RETRYABLE');
    expect(err.message).toMatch(/timed out after 250 ms \(after 2 attempts/);
    expect(s.hits).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1_400);
  });

  it('recovers when only the first reply is slow', async () => {
    const s = await fault([{ slowMs: 1_000 }, 'ok']);
    const res = await client([s.url], { timeoutMs: 250 }).edit(req());
    expect(res.images).toHaveLength(2);
    expect(s.hits).toBe(2);
  });

  it('retries a body cut off mid-way and a reset connection', async () => {
    const s = await fault(['cut-body', 'reset', 'ok']);
    const res = await client([s.url]).edit(req());
    expect(res.images).toHaveLength(2);
    expect(s.hits).toBe(3);
    s.script(['cut-body']);
    const err = await failure(client([s.url], { maxAttempts: 2 }).edit(req()));
    expect(err.code).toBe('REMOTE_RETRYABLE');
    expect(err.message).toMatch(/connection failed|unreadable body/);
    expect(s.hits).toBe(5);
  });

  it('validates the images: a truncated JPEG, a truncated PNG and non-image bytes end as ImageError', async () => {
    const s = await fault(['truncated-jpeg']);
    const jpegErr = await failure(client([s.url], { maxAttempts: 2 }).edit(req()));
    expect(jpegErr).toBeInstanceOf(ImageError);
    expect(jpegErr.oneLine()).toMatch(/data\[1\] \(seed 101\): truncated JPEG .*no FFD9 end marker/);
    expect(s.hits).toBe(2);

    s.script(['truncated-png']);
    const pngErr = await failure(client([s.url], { maxAttempts: 1 }).edit(req()));
    expect(pngErr).toBeInstanceOf(ImageError);
    expect(pngErr.message).toMatch(/not a decodable image/);

    s.script(['non-image']);
    const textErr = await failure(client([s.url], { maxAttempts: 1 }).edit(req()));
    expect(textErr).toBeInstanceOf(ImageError);
    expect(textErr.message).toMatch(/not a decodable image \(23 bytes/);
    expect(retriedByQueue(textErr)).toBe(false);
    expect(s.hits).toBe(4);
  });

  it('retries a transiently bad image and then stores the good ones', async () => {
    const s = await fault(['non-image', 'ok']);
    const res = await client([s.url]).edit(req());
    expect(res.images).toHaveLength(2);
    expect(s.hits).toBe(2);
  });

  it('treats fewer images than asked, and an unreadable 200, as errors', async () => {
    const s = await fault(['fewer']);
    const err = await failure(client([s.url], { maxAttempts: 2 }).edit(req({ n: 3 })));
    expect(err.message).toMatch(/returned 2 images, expected 3/);
    expect(s.hits).toBe(2);
    s.script(['bad-json']);
    const bad = await failure(client([s.url], { maxAttempts: 1 }).edit(req()));
    expect(bad.message).toMatch(/HTTP 200 with an unreadable body/);
  });

  it('makes other 4xx final, with the server message, after one hit', async () => {
    const s = await fault([{ status: 400, message: "prompt: instruction not understood: 'dance'" }]);
    const err = (await failure(client([s.url], { maxAttempts: 4 }).edit(req()))) as RemoteError;
    expect([err.code, err.status]).toEqual(['REMOTE_FINAL', 400]);
    expect(err.message).toBe("HTTP 400: prompt: instruction not understood: 'dance'");
    expect(retriedByQueue(err)).toBe(false);
    expect(s.hits).toBe(1);
  });

  it('stops at once when the caller aborts', async () => {
    const s = await fault([{ slowMs: 1_500 }]);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('job cancelled')), 100);
    const t0 = Date.now();
    await expect(client([s.url], { timeoutMs: 5_000 }).edit(req({ signal: ac.signal }))).rejects.toThrow(/job cancelled/);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(s.hits).toBe(1);
  });
});

describe('inference client: several URLs', () => {
  it('fails over from a dead URL and from a 500 to a healthy one, then keeps the healthy one first', async () => {
    const bad = await fault([{ status: 500 }]);
    const good = await fault(['ok']);
    const c = client([await deadUrl(), bad.url, good.url]);
    const first = await c.edit(req());
    expect(first.url).toBe(good.url);
    expect(bad.hits).toBe(1);
    for (let i = 0; i < 4; i++) expect((await c.edit(req())).url).toBe(good.url);
    expect(bad.hits).toBe(1); // marked unhealthy: not asked again for a while
    expect(good.hits).toBe(5);
  });

  it('sends a rate-limited URL to the back and uses the other', async () => {
    const limited = await fault([{ status: 429, headers: { 'retry-after': '30' } }]);
    const good = await fault(['ok']);
    const c = client([limited.url, good.url]);
    for (let i = 0; i < 3; i++) expect((await c.edit(req())).url).toBe(good.url);
    expect(limited.hits).toBe(1);
  });

  it('is RATE_LIMITED when every URL asks to slow down, with the shortest wait', async () => {
    const a = await fault([{ status: 429, headers: { 'retry-after': '5' } }]);
    const b = await fault([{ status: 503, headers: { 'retry-after-ms': '1500' } }]);
    const err = (await failure(client([a.url, b.url], { maxAttempts: 6 }).edit(req()))) as RemoteError;
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(1500);
    expect(a.hits + b.hits).toBe(2);
  });

  it('spreads load over healthy URLs and reports health per URL', async () => {
    const a = await fault(['ok']);
    const b = await fault(['ok']);
    const dead = await deadUrl();
    const c = client([a.url, b.url, dead]);
    for (let i = 0; i < 6; i++) await c.edit(req());
    expect(a.hits).toBeGreaterThanOrEqual(2);
    expect(b.hits).toBeGreaterThanOrEqual(2);
    expect(await c.health()).toEqual([
      { url: a.url, ok: true },
      { url: b.url, ok: true },
      { url: dead, ok: false },
    ]);
  });
});

describe('validateImage', () => {
  it('returns the upright size of PNG, baseline and progressive JPEG, WebP and EXIF-rotated JPEG', async () => {
    const base = sharp({ create: { width: 40, height: 30, channels: 3, background: '#884422' } });
    expect(await validateImage(await base.clone().png().toBuffer(), 'png')).toEqual({ width: 40, height: 30 });
    expect(await validateImage(await base.clone().jpeg().toBuffer(), 'jpeg')).toEqual({ width: 40, height: 30 });
    expect(await validateImage(await base.clone().jpeg({ progressive: true }).toBuffer(), 'progressive')).toEqual({ width: 40, height: 30 });
    expect(await validateImage(await base.clone().webp().toBuffer(), 'webp')).toEqual({ width: 40, height: 30 });
    expect(await validateImage(await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(), 'exif')).toEqual({ width: 30, height: 40 });
  });

  it('rejects empty, truncated and corrupt bytes, naming the subject', async () => {
    const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#884422' } }).jpeg().toBuffer();
    await expect(validateImage(Buffer.alloc(0), 'a.jpg')).rejects.toThrow(/empty image/);
    await expect(validateImage(jpeg.subarray(0, jpeg.length - 10), 'b.jpg')).rejects.toThrow(/no FFD9/);
    const corrupt = Buffer.from(jpeg);
    corrupt.fill(0x00, 200, jpeg.length - 2); // entropy data wiped, end marker kept
    const err = await validateImage(corrupt, 'c.jpg').catch((e: unknown) => e as ImageError);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).oneLine()).toMatch(/^c\.jpg: not a decodable image/);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds, milliseconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(parseRetryAfter(new Headers({ 'retry-after': '0.5' }), now)).toBe(500);
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:07 GMT' }), now)).toBe(7000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(new Headers(), now)).toBeUndefined();
  });
});

describe('RateLimitError in a real BullMQ worker (translated by workers/processor.ts)', () => {
  const connection = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  afterAll(async () => {
    await connection.quit();
  });

  it('puts the job back to wait for the retry-after without using an attempt, then completes it', async () => {
    const s = await fault([
      { status: 429, headers: { 'retry-after-ms': '300' } },
      { status: 429, headers: { 'retry-after-ms': '300' } },
      'ok',
    ]);
    const name = `inference-ratelimit-${process.pid}-${Date.now()}`;
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, { connection: connection.duplicate() });
    const c = client([s.url]);
    const worker = new Worker(
      name,
      async () => {
        try {
          const res = await c.edit(req());
          return res.images.map((i) => i.seed);
        } catch (err) {
          throw await throwIfRateLimited(err, queue);
        }
      },
      { connection: connection.duplicate(), autorun: true },
    );
    try {
      await events.waitUntilReady();
      const t0 = Date.now();
      const job = await queue.add('edit', {}, { attempts: 1 }); // a burned attempt would fail the job
      const result = (await job.waitUntilFinished(events, 15_000)) as number[];
      expect(result).toEqual([100, 101]);
      expect(s.hits).toBe(3);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550); // waited out two retry-afters
      const done = (await queue.getJob(job.id!))!;
      expect(done.attemptsMade).toBeLessThanOrEqual(1);
      expect(await done.getState()).toBe('completed');
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
