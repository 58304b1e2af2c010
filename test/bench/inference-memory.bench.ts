/**
 * Memory of the built-in inference server under the largest requests it accepts
 * (`npx tsx test/bench/inference-memory.bench.ts [--pixels P] [--n N] [--concurrency C]`).
 *
 * Starts `vibe-curate serve-inference` as its own process with MAX_IMAGE_PIXELS=P (default the
 * shipped 40 MP), uploads a photo of exactly that many pixels (a fixture scaled up, JPEG) asking
 * for N candidates (default 4) at full size, and reads the server's RSS from /proc/PID/status:
 * idle, the peak of one such request alone (the baseline), then the peak under C (default 16) of
 * them at once. Prints the peaks and the ratio of the growth over idle, concurrent vs alone:
 * with decode, render, resize and encode inside the server's slots it stays near the number of
 * slots (the CPU count), not C.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const PIXELS = arg('pixels', DEFAULT_MAX_PIXELS);
const N = arg('n', 4);
const CONCURRENCY = arg('concurrency', 16);
const MiB = 1024 * 1024;

async function status(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)![1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function edit(url: string, image: Buffer, n: number, seed: number): Promise<number> {
  const form = new FormData();
  form.append('image', new Blob([image as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), 'big.jpg');
  form.append('prompt', 'make it warmer');
  form.append('n', String(n));
  form.append('seed', String(seed));
  const res = await fetch(`${url}/v1/images/edits`, { method: 'POST', body: form });
  const body = (await res.json()) as { data?: { b64_json: string }[]; error?: { message: string } };
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${body.error?.message}`);
  return body.data!.reduce((a, d) => a + d.b64_json.length, 0);
}

const side = Math.floor(Math.sqrt(PIXELS));
const image = await sharp(path.join(ROOT, 'test/fixtures/images/astronaut.png')).resize(side, side).jpeg({ quality: 90 }).toBuffer();
const tiny = await sharp(path.join(ROOT, 'test/fixtures/images/astronaut.png')).resize(64, 64).jpeg().toBuffer();

const child = spawn(process.execPath, [path.join(ROOT, 'bin/vibe-curate.mjs'), 'serve-inference', '--port', '0'], {
  env: { ...process.env, MAX_IMAGE_PIXELS: String(PIXELS), INFERENCE_API_KEY: '' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /inference core: (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`serve-inference exited ${code}: ${out}`)));
  });
  const pid = child.pid!;
  await edit(url, tiny, 1, 1); // warm-up: code paths loaded, sharp initialised
  const idle = (await status(pid)).rss;

  let t0 = performance.now();
  await edit(url, image, N, 100);
  const aloneMs = performance.now() - t0;
  const alone = (await status(pid)).hwm;

  t0 = performance.now();
  const bytes = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => edit(url, image, N, 1000 + i * N)));
  const concurrentMs = performance.now() - t0;
  const concurrent = (await status(pid)).hwm;

  const mb = (b: number) => `${(b / MiB).toFixed(0)} MB`;
  console.log(`inference server memory: ${side}x${side} JPEG (${(image.length / MiB).toFixed(1)} MB upload, MAX_IMAGE_PIXELS=${PIXELS}), n=${N} at full size, ${os.availableParallelism()} CPUs (render and edit slots)`);
  console.log(`  idle RSS                          ${mb(idle)}`);
  console.log(`  peak RSS, 1 request alone          ${mb(alone)}   (+${mb(alone - idle)} over idle, ${(aloneMs / 1000).toFixed(1)} s)`);
  console.log(`  peak RSS, ${CONCURRENCY} requests at once      ${mb(concurrent)}   (+${mb(concurrent - idle)} over idle, ${(concurrentMs / 1000).toFixed(1)} s, ${mb(bytes.reduce((a, b) => a + b, 0))} of base64 returned)`);
  console.log(`  growth over idle, ${CONCURRENCY} at once vs 1 alone: ${((concurrent - idle) / Math.max(1, alone - idle)).toFixed(2)}x (unbounded would approach ${CONCURRENCY}x)`);
} finally {
  child.kill('SIGTERM');
}
