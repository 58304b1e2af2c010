/**
 * Hard-check throughput on 1–2 MP JPEG pairs, one core: full `runHardChecks` (decode, validate,
 * face detection on both images, face rule, change map) against the floor of decoding both
 * images with sharp in the same run. Target from issue 4: the full check ≤ 2× the floor.
 * Run: npx tsx test/bench/checks.bench.ts
 */
import path from 'node:path';
import sharp from 'sharp';
import { runHardChecks, type HardCheckOptions } from '../../pipeline/checks.ts';
import { getFaceDetector } from '../../pipeline/faces/blazeface.ts';

sharp.concurrency(1); // per core: libvips on one thread, like the ONNX session
sharp.cache(false);

const dir = path.join(import.meta.dirname, '../fixtures/images');
const opts: HardCheckOptions = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: 40_000_000 };

/** Builds (source, edit) JPEG pairs of 1.0–1.9 MP from the fixture photos. */
async function pairs(): Promise<{ name: string; source: Buffer; edit: Buffer }[]> {
  const out: { name: string; source: Buffer; edit: Buffer }[] = [];
  const sizes: [string, number, number][] = [
    ['astronaut.png', 1200, 1200],
    ['coffee.png', 1500, 1000],
    ['rocket.jpg', 1600, 1067],
    ['chelsea.png', 1400, 931],
    ['camera.png', 1024, 1024],
  ];
  for (const [file, w, h] of sizes) {
    const source = await sharp(path.join(dir, file)).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    // A region edit: a warm tint over a central rectangle, re-encoded.
    const patch = await sharp({ create: { width: Math.round(w / 3), height: Math.round(h / 3), channels: 4, background: { r: 255, g: 120, b: 0, alpha: 0.5 } } })
      .png()
      .toBuffer();
    const edit = await sharp(source).composite([{ input: patch, left: Math.round(w / 3), top: Math.round(h / 3) }]).jpeg({ quality: 88 }).toBuffer();
    out.push({ name: `${file} ${w}×${h}`, source, edit });
  }
  // A group photo: 3×2 astronauts (six faces, each ~6 % of the width).
  const cell = await sharp(path.join(dir, 'astronaut.png')).resize(500).toBuffer();
  const group = await sharp({ create: { width: 1500, height: 1000, channels: 3, background: '#556677' } })
    .composite([0, 1, 2].flatMap((i) => [0, 1].map((j) => ({ input: cell, left: i * 500, top: j * 500 }))))
    .jpeg({ quality: 90 })
    .toBuffer();
  const block = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#20a040' } }).png().toBuffer();
  const groupEdit = await sharp(group).composite([{ input: block, left: 1150, top: 780 }]).jpeg({ quality: 88 }).toBuffer();
  out.push({ name: 'group 1500×1000', source: group, edit: groupEdit });
  return out;
}

async function timeIt(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await fn();
  return (performance.now() - t0) / rounds;
}

const decodeBoth = (s: Buffer, e: Buffer) =>
  Promise.all([s, e].map((b) => sharp(b).rotate().toColourspace('srgb').raw().toBuffer()));

await getFaceDetector();
const ROUNDS = 6;
const all = await pairs();
const results: Record<string, { floor: number; check: number }> = {};
console.log('pair                       MP    decode-both ms  fine ms  ratio  fast ms  ratio  faces  passed');
for (const p of all) {
  const floor = await timeIt(ROUNDS, () => decodeBoth(p.source, p.edit));
  const fine = await timeIt(ROUNDS, () => runHardChecks(p.source, p.edit, opts));
  const fast = await timeIt(ROUNDS, () => runHardChecks(p.source, p.edit, { ...opts, faceSearch: 'fast' }));
  const r = await runHardChecks(p.source, p.edit, opts);
  const mp = (r.source.width * r.source.height) / 1e6;
  for (const [k, v] of [['fine', fine], ['fast', fast]] as const) {
    results[k] ??= { floor: 0, check: 0 };
    results[k].floor += floor;
    results[k].check += v;
  }
  console.log(
    `${p.name.padEnd(26)} ${mp.toFixed(2)}  ${floor.toFixed(1).padStart(14)}  ${fine.toFixed(1).padStart(7)}  ${(fine / floor).toFixed(2).padStart(5)}  ${fast
      .toFixed(1)
      .padStart(7)}  ${(fast / floor).toFixed(2).padStart(5)}  ${String(r.source.faces.length).padStart(5)}  ${r.passed}`,
  );
}
const n = all.length;
console.log(`\nfloor, decode both with sharp: ${((n * 1000) / results.fine!.floor).toFixed(1)} pairs/s per core`);
for (const k of ['fine', 'fast'] as const) {
  console.log(`full hard check (${k}):        ${((n * 1000) / results[k]!.check).toFixed(1)} checks/s per core, ${(results[k]!.check / results[k]!.floor).toFixed(2)}× the floor (target ≤ 2×)`);
}
