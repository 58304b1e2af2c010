/**
 * Inference core benchmark (`npx tsx test/bench/inference.bench.ts`).
 *
 * 1. The built-in server's edits per second at 1024×1024 (HTTP, multipart, decode, op, per-seed
 *    defects, JPEG, base64), against the bare sharp operations it performs (decode, op, JPEG), at
 *    the same concurrency on the same machine. Prints both and the ratio.
 * 2. The inference client's throughput against a real local server with a fixed 200 ms latency
 *    at concurrency 32 (target ≥ 85 % of 32 / 0.2 s = 160 req/s), against bare fetch calls to
 *    the same server in the same run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { createInferenceClient } from '../../pipeline/inference/inference.client.ts';
import { BUILTIN_MODEL, startInferenceServer } from '../../pipeline/builtin/inference-server.ts';
import { Worker } from 'node:worker_threads';

const ROOT = path.resolve(import.meta.dirname, '../..');
const REQUESTS = 8; // built-in server requests per op mix pass
const N = 4; // candidates per request (K)
const CONCURRENCY_CPU = Math.max(1, Math.min(4, os.availableParallelism())); // concurrent requests in part 1
const CLIENT_CONCURRENCY = 32;
const LATENCY_MS = 200;
const CLIENT_REQUESTS = 960; // ≈ 6 s at the 160 req/s ideal

/** The ops of the mix and the bare sharp pipeline each one amounts to. */
const MIX: { prompt: string; bare: (s: Sharp) => Sharp }[] = [
  { prompt: 'make it black and white', bare: (s) => s.recomb([[0.2126, 0.7152, 0.0722], [0.2126, 0.7152, 0.0722], [0.2126, 0.7152, 0.0722]]) },
  { prompt: 'make it warmer', bare: (s) => s.linear([1.18, 1.04, 0.8], [10, 2, -10]) },
  { prompt: 'blur the photo', bare: (s) => s.blur(8) },
  { prompt: 'sharpen the details', bare: (s) => s.sharpen({ sigma: 2.4 }) },
  { prompt: 'make the colors more vivid', bare: (s) => s.modulate({ saturation: 2 }) },
  { prompt: 'zoom in 1.5x', bare: (s) => s.extract({ left: 171, top: 171, width: 683, height: 683 }).resize(1024, 1024) },
  { prompt: 'rotate 90 degrees', bare: (s) => s.rotate(90) },
  { prompt: 'shift the hue by 90 degrees', bare: (s) => s.modulate({ hue: 90 }) },
];

async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function partServer(): Promise<void> {
  const source = await sharp(fs.readFileSync(path.join(ROOT, 'test/fixtures/images/astronaut.png'))).resize(1024, 1024).jpeg({ quality: 92 }).toBuffer();
  const server = await startInferenceServer();
  const client = createInferenceClient({ urls: [server.url], model: BUILTIN_MODEL, timeoutMs: 120_000, maxAttempts: 1 });
  try {
    await client.edit({ image: source, prompt: MIX[0]!.prompt, n: 1, seed: 0 }); // warm-up
    const jobs = REQUESTS * MIX.length;
    let t0 = performance.now();
    const defects = await pool(jobs, CONCURRENCY_CPU, async (i) => {
      const res = await client.edit({ image: source, prompt: MIX[i % MIX.length]!.prompt, n: N, seed: i * N });
      return res.images.filter((im) => (im.meta?.defects as string[]).length > 0).length;
    });
    const serverSecs = (performance.now() - t0) / 1000;
    const serverRate = (jobs * N) / serverSecs;

    await sharp(source).jpeg({ quality: 90 }).toBuffer(); // warm-up
    t0 = performance.now();
    await pool(jobs * N, CONCURRENCY_CPU, async (i) => {
      const op = MIX[Math.floor(i / N) % MIX.length]!;
      return op.bare(sharp(source)).jpeg({ quality: 90 }).toBuffer();
    });
    const bareSecs = (performance.now() - t0) / 1000;
    const bareRate = (jobs * N) / bareSecs;
    const withDefects = defects.reduce((a, b) => a + b, 0);
    console.log(`built-in server @1024x1024: ${serverRate.toFixed(2)} edits/s (${jobs} requests × n=${N}, concurrency ${CONCURRENCY_CPU}, ${withDefects} of ${jobs * N} with a defect)`);
    console.log(`bare sharp ops  @1024x1024: ${bareRate.toFixed(2)} edits/s (decode + op + JPEG, same mix and concurrency)`);
    console.log(`ratio server / bare sharp: ${(serverRate / bareRate).toFixed(2)}`);
  } finally {
    await server.close();
  }
}

/**
 * A real HTTP server with a fixed latency in its own thread (its own event loop, so the server's
 * work does not queue behind the client's): drains the upload, waits, answers a prepared reply.
 */
async function startLatencyServer(latencyMs: number, reply: string): Promise<{ url: string; hits(): Promise<number>; close(): Promise<void> }> {
  const code = `
    const http = require('node:http');
    const { parentPort, workerData } = require('node:worker_threads');
    let hits = 0;
    const server = http.createServer((req, res) => {
      hits++;
      req.resume();
      req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(workerData.reply), workerData.latencyMs));
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
    parentPort.on('message', (m) => {
      if (m === 'hits') parentPort.postMessage({ hits });
      if (m === 'close') { server.closeAllConnections(); server.close(() => process.exit(0)); }
    });`;
  const worker = new Worker(code, { eval: true, workerData: { latencyMs, reply } });
  const next = () => new Promise<Record<string, number>>((resolve) => worker.once('message', resolve));
  const { port } = await next();
  return {
    url: `http://127.0.0.1:${port}`,
    async hits() {
      const p = next();
      worker.postMessage('hits');
      return (await p).hits!;
    },
    async close() {
      worker.postMessage('close');
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

async function partClient(): Promise<void> {
  const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const reply = JSON.stringify({ created: 0, data: Array.from({ length: N }, (_, i) => ({ b64_json: image.toString('base64'), vibe: { seed: i } })) });
  const server = await startLatencyServer(LATENCY_MS, reply);
  try {
    // Baseline: bare fetch + FormData to the same server, no validation, no retries.
    let t0 = performance.now();
    await pool(CLIENT_REQUESTS, CLIENT_CONCURRENCY, async (i) => {
      const form = new FormData();
      form.append('image', new Blob([image as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), 'image.jpg');
      form.append('prompt', 'make it warmer');
      form.append('n', String(N));
      form.append('seed', String(i));
      const res = await fetch(`${server.url}/v1/images/edits`, { method: 'POST', body: form });
      await res.json();
    });
    const bareRate = CLIENT_REQUESTS / ((performance.now() - t0) / 1000);

    const client = createInferenceClient({ urls: [server.url], model: 'bench', timeoutMs: 10_000, maxAttempts: 2 });
    t0 = performance.now();
    await pool(CLIENT_REQUESTS, CLIENT_CONCURRENCY, (i) => client.edit({ image, prompt: 'make it warmer', n: N, seed: i }));
    const rate = CLIENT_REQUESTS / ((performance.now() - t0) / 1000);
    const ideal = CLIENT_CONCURRENCY / (LATENCY_MS / 1000);
    console.log(`client @ concurrency ${CLIENT_CONCURRENCY}, ${LATENCY_MS} ms server latency, n=${N} (64x64 JPEGs, each decoded): ${rate.toFixed(1)} req/s = ${((100 * rate) / ideal).toFixed(1)} % of ideal ${ideal} req/s (target >= 85 %)`);
    console.log(`bare fetch, same server and concurrency: ${bareRate.toFixed(1)} req/s = ${((100 * bareRate) / ideal).toFixed(1)} % of ideal; client / bare fetch: ${(rate / bareRate).toFixed(2)}`);
    console.log(`server hits: ${await server.hits()} for ${2 * CLIENT_REQUESTS} requests (no retries needed)`);
  } finally {
    await server.close();
  }
}

const only = process.argv[2];
if (only !== 'client') await partServer();
if (only !== 'server') await partClient();
