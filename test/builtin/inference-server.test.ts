import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import OpenAI, { BadRequestError, toFile, type APIError } from 'openai';
import type { ImageEditParamsNonStreaming } from 'openai/resources/images';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEdit, variantForSeed } from '../../pipeline/builtin/editor.ts';
import { createInferenceClient } from '../../pipeline/inference/inference.client.ts';
import { BUILTIN_MODEL, startInferenceServer } from '../../pipeline/builtin/inference-server.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';
import { sleep } from '../../pipeline/sleep.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/images');
const chelsea = fs.readFileSync(path.join(FIXTURES, 'chelsea.png')); // 451×300
const astronaut = fs.readFileSync(path.join(FIXTURES, 'astronaut.png')); // 512×512

interface VibeMeta {
  op: string;
  strength: number;
  defects: string[];
  seed: number;
}

let server: { url: string; close(): Promise<void> };
let openai: OpenAI;

beforeAll(async () => {
  server = await startInferenceServer();
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

/** A multipart POST with plain fetch, for fields the SDK does not send. */
async function post(fields: Record<string, string | Blob>, url = server.url): Promise<{ status: number; body: { error?: { message: string; type: string; code: string; param: string | null } } & Record<string, unknown> }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${url}/v1/images/edits`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as never };
}
const png = (b: Buffer) => new Blob([b as Uint8Array<ArrayBuffer>], { type: 'image/png' });

/** A valid, all-black 1-bit PNG of width × height: a few tens of kB on disk, however many pixels it declares. */
function blackPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, no filter, no interlace
  const rows = Buffer.alloc((1 + Math.ceil(width / 8)) * height); // filter byte 0 + zero pixels, every row
  const idat = zlib.deflateSync(rows, { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

describe('built-in inference server with the official openai client', () => {
  it('returns n decodable JPEGs at the source size, with the per-seed ground truth', async () => {
    const res = await openai.images.edit({ image: await toFile(chelsea, 'chelsea.png', { type: 'image/png' }), prompt: 'Make it black and white', n: 3 });
    expect(res.data).toHaveLength(3);
    const seeds: number[] = [];
    for (const item of res.data!) {
      const bytes = Buffer.from(item.b64_json!, 'base64');
      const meta = await sharp(bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 451, 300]);
      await sharp(bytes, { failOn: 'truncated' }).raw().toBuffer(); // fully decodable
      const vibe = (item as unknown as { vibe: VibeMeta }).vibe;
      expect(vibe.op).toBe('grayscale');
      expect(vibe).toEqual({ op: 'grayscale', ...variantForSeed(vibe.seed), seed: vibe.seed });
      seeds.push(vibe.seed);
    }
    expect(seeds).toEqual([seeds[0], seeds[0]! + 1, seeds[0]! + 2]);
  });

  it('honours the seed extension field: same seed, same bytes; candidate i renders seed+i', async () => {
    const params = { image: await toFile(astronaut, 'a.png', { type: 'image/png' }), prompt: 'warmer please', n: 2, seed: 41 } as ImageEditParamsNonStreaming;
    const a = await openai.images.edit(params);
    const b = await openai.images.edit({ ...params, image: await toFile(astronaut, 'a.png', { type: 'image/png' }) });
    expect(a.data!.map((d) => d.b64_json)).toEqual(b.data!.map((d) => d.b64_json));
    for (const [i, d] of a.data!.entries()) {
      const expected = await renderEdit(astronaut, { op: 'warmer' }, variantForSeed(41 + i));
      expect(Buffer.from(d.b64_json!, 'base64').equals(expected.bytes), `seed ${41 + i}`).toBe(true);
    }
  });

  it('answers a non-image upload with a 400 naming the image', async () => {
    const err = await openai.images
      .edit({ image: await toFile(Buffer.from('this is plain text, not a picture'), 'notes.png', { type: 'image/png' }), prompt: 'make it sepia' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as APIError).status).toBe(400);
    expect((err as APIError).code).toBe('invalid_image');
    expect((err as APIError).message).toMatch(/image: 'notes.png' is not a decodable image/);
  });

  it('answers an instruction it does not understand with a 400 that lists what it can do', async () => {
    const err = (await openai.images.edit({ image: await toFile(chelsea, 'c.png', { type: 'image/png' }), prompt: 'replace the cat with a dog' }).catch((e: unknown) => e)) as APIError;
    expect(err.status).toBe(400);
    expect(err.code).toBe('unsupported_instruction');
    expect(err.message).toMatch(/not understood.*replace the cat with a dog.*grayscale/);
  });

  it('lists its model and reports health', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual([BUILTIN_MODEL]);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { ok: boolean; ops: string[] };
    expect(health.ok).toBe(true);
    expect(health.ops.length).toBeGreaterThanOrEqual(12);
  });
});

describe('built-in inference server: protocol details and errors', () => {
  it('rejects bad fields with a 400 naming the field', async () => {
    const cases: [Record<string, string | Blob>, string][] = [
      [{ prompt: 'blur it' }, 'image'],
      [{ image: 'text, not a file', prompt: 'blur it' }, 'image'],
      [{ image: png(chelsea) }, 'prompt'],
      [{ image: png(chelsea), prompt: 'blur it', n: '0' }, 'n'],
      [{ image: png(chelsea), prompt: 'blur it', n: 'three' }, 'n'],
      [{ image: png(chelsea), prompt: 'blur it', n: '99' }, 'n'],
      [{ image: png(chelsea), prompt: 'blur it', seed: '-4' }, 'seed'],
      [{ image: png(chelsea), prompt: 'blur it', size: 'big' }, 'size'],
      [{ image: png(chelsea), prompt: 'blur it', response_format: 'url' }, 'response_format'],
      [{ image: png(chelsea), prompt: 'blur it', guidance_scale: 'lots' }, 'guidance_scale'],
      [{ image: png(chelsea), prompt: 'blur it', num_inference_steps: '2.5' }, 'num_inference_steps'],
    ];
    for (const [fields, param] of cases) {
      const { status, body } = await post(fields);
      expect(status, param).toBe(400);
      expect(body.error!.param, param).toBe(param);
      expect(body.error!.type).toBe('invalid_request_error');
      expect(body.error!.message.startsWith(`${param}:`), body.error!.message).toBe(true);
    }
  });

  it('rejects a JSON body and a truncated image with 400', async () => {
    const res = await fetch(`${server.url}/v1/images/edits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_content_type');
    const truncated = fs.readFileSync(path.join(FIXTURES, 'truncated.jpg'));
    const { status, body } = await post({ image: new Blob([truncated as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), prompt: 'blur it' });
    expect(status).toBe(400);
    expect(body.error!.code).toBe('invalid_image');
  });

  it('accepts the diffusion knobs and a size, and resizes the output to it', async () => {
    const { status, body } = await post({ image: png(chelsea), prompt: 'sharpen', n: '2', seed: '5', size: '200x120', num_inference_steps: '30', guidance_scale: '5.5', image_guidance_scale: '1.5' });
    expect(status).toBe(200);
    const data = body.data as { b64_json: string }[];
    expect(data).toHaveLength(2);
    for (const d of data) expect(await sharp(Buffer.from(d.b64_json, 'base64')).metadata()).toMatchObject({ width: 200, height: 120 });
  });

  it('answers 413 for an upload over the byte limit or the pixel limit', async () => {
    const small = await startInferenceServer({ maxUploadBytes: 20_000 });
    const fewPixels = await startInferenceServer({ maxPixels: 100_000 });
    try {
      const big = await post({ image: png(astronaut), prompt: 'blur it' }, small.url);
      expect(big.status).toBe(413);
      expect(big.body.error!.message).toMatch(/20000-byte upload limit/);
      const many = await post({ image: png(astronaut), prompt: 'blur it' }, fewPixels.url);
      expect(many.status).toBe(413);
      expect(many.body.error!.message).toMatch(/512x512 exceeds the 100000-pixel limit/);
      expect((await post({ image: png(chelsea), prompt: 'blur it' }, small.url)).status).toBe(413); // chelsea is > 20 kB too
    } finally {
      await small.close();
      await fewPixels.close();
    }
  });

  it('refuses a size over MAX_IMAGE_PIXELS with a 400 that says so', async () => {
    const { status, body } = await post({ image: png(chelsea), prompt: 'blur it', n: '4', size: '8192x8192' });
    expect(status).toBe(400);
    expect(body.error!.param).toBe('size');
    expect(body.error!.message).toBe(`size: 8192x8192 is 67108864 pixels, over the ${DEFAULT_MAX_PIXELS}-pixel limit (MAX_IMAGE_PIXELS)`);
    const fewPixels = await startInferenceServer({ maxPixels: 100_000 });
    try {
      const tiny = png(blackPng(64, 48));
      expect((await post({ image: tiny, prompt: 'blur it', size: '400x251' }, fewPixels.url)).status).toBe(400);
      const ok = await post({ image: tiny, prompt: 'blur it', size: '400x250' }, fewPixels.url);
      expect([ok.status, ok.body.size]).toEqual([200, '400x250']);
    } finally {
      await fewPixels.close();
    }
  });

  it('answers a 300 MP image (over the 268 MP limit of sharp too) with 413 image_too_large, from its header alone', async () => {
    const bomb = blackPng(20_000, 15_000);
    expect(bomb.length).toBeLessThan(200_000);
    const t0 = performance.now();
    const { status, body } = await post({ image: png(bomb), prompt: 'blur it' });
    expect(status).toBe(413);
    expect(body.error!.code).toBe('image_too_large');
    expect(body.error!.message).toBe(`image: 20000x15000 exceeds the ${DEFAULT_MAX_PIXELS}-pixel limit (MAX_IMAGE_PIXELS)`);
    expect(performance.now() - t0).toBeLessThan(5_000);
    // the same construction under the limit is a real image the server edits
    const small = await post({ image: png(blackPng(64, 48)), prompt: 'invert the colors' });
    expect([small.status, small.body.size]).toEqual([200, '64x48']);
  });

  it('with INFERENCE_API_KEY set, /v1 needs the bearer key (scheme in any case); /health stays open; the client sends it', async () => {
    const keyed = await startInferenceServer({ apiKey: 'k-123' });
    try {
      const form = () => {
        const f = new FormData();
        f.append('image', png(chelsea));
        f.append('prompt', 'blur it');
        return f;
      };
      const edit = (headers: Record<string, string>) => fetch(`${keyed.url}/v1/images/edits`, { method: 'POST', body: form(), headers });
      const none = await edit({});
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
      expect((await edit({ authorization: 'Bearer wrong' })).status).toBe(401);
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) expect((await edit({ authorization: `${scheme} k-123` })).status, scheme).toBe(200);
      expect((await fetch(`${keyed.url}/v1/models`)).status).toBe(401);
      expect((await fetch(`${keyed.url}/health`)).status).toBe(200);

      const base = { urls: [keyed.url], model: BUILTIN_MODEL, timeoutMs: 30_000, maxAttempts: 1 };
      const withKey = await createInferenceClient({ ...base, apiKey: 'k-123' }).edit({ image: chelsea, prompt: 'blur it', n: 2, seed: 7 });
      expect(withKey.images).toHaveLength(2);
      await expect(createInferenceClient(base).edit({ image: chelsea, prompt: 'blur it', n: 1, seed: 7 })).rejects.toThrow(/HTTP 401/);
    } finally {
      await keyed.close();
    }
  });

  it('with one render slot, concurrent requests queue and still return the same bytes', async () => {
    const single = await startInferenceServer({ maxConcurrentRenders: 1 });
    try {
      const fields = (seed: string) => ({ image: png(chelsea), prompt: 'add a blue border', n: '3', seed });
      const [a, b] = await Promise.all([post(fields('10'), single.url), post(fields('20'), single.url)]);
      const ref = await post(fields('10'));
      expect([a.status, b.status]).toEqual([200, 200]);
      expect((a.body.data as unknown[]).length + (b.body.data as unknown[]).length).toBe(6);
      expect(a.body.data).toEqual(ref.body.data);
    } finally {
      await single.close();
    }
  });

  it('answers unknown routes with an OpenAI-style 404', async () => {
    const res = await fetch(`${server.url}/v1/images/generations`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
  });

  it('stays responsive while edits run', async () => {
    const big = await sharp(astronaut).resize(1024, 1024).png().toBuffer();
    const edit = post({ image: png(big), prompt: 'posterize', n: '8', seed: '1' }).then(() => 'edit' as const);
    await sleep(30);
    const health = fetch(`${server.url}/health`).then(async (r) => (await r.json(), 'health' as const));
    expect(await Promise.race([edit, health])).toBe('health');
    await edit;
  });
});

describe('the inference client against the built-in server', () => {
  it('gets K candidates with seeds seed..seed+K−1 and the ground truth, identical to a direct render', async () => {
    const client = createInferenceClient({ urls: [server.url], model: BUILTIN_MODEL, timeoutMs: 30_000, maxAttempts: 2 });
    const res = await client.edit({ image: chelsea, prompt: 'Give it a sepia tone', n: 4, seed: 1000 });
    expect(res.url).toBe(server.url);
    expect(res.images.map((i) => i.seed)).toEqual([1000, 1001, 1002, 1003]);
    for (const img of res.images) {
      expect([img.width, img.height]).toEqual([451, 300]);
      expect(img.meta).toMatchObject({ op: 'sepia', seed: img.seed, ...variantForSeed(img.seed) });
      expect(img.bytes.equals((await renderEdit(chelsea, { op: 'sepia' }, variantForSeed(img.seed))).bytes)).toBe(true);
    }
    expect(await client.health()).toEqual([{ url: server.url, ok: true }]);
  });
});
