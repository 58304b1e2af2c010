/**
 * The grid-artifact check: accuracy on its ground truth and its cost beside the other hard checks.
 *
 * Accuracy (test/checks/artifact-truth.ts): every fixture photo and textured photograph at 384 px;
 * negatives are the built-in editor's clean edits for all 21 ops of its grammar; positives are
 * clean edits of four ops (a colour, a tone, a blur and a mirror) with the editor's checkerboard
 * defect at cells 1–8 px (periods 2–16) and amplitudes 6–30 grey levels. Targets: recall ≥ 95 %
 * from amplitude 6, false positives ≤ 1 %.
 *
 * Cost: `runHardChecks` on 1–1.7 MP pairs (the pipeline's pattern: K = 4 edits of one source,
 * the source decoded and searched once) with ARTIFACT_CHECK=off (the baseline) and on, taking
 * turns in the same run, one core. Target: on ≤ 1.25 × off.
 * Run: npx tsx test/bench/artifacts.bench.ts [--quick]
 */
import path from 'node:path';
import sharp from 'sharp';
import { artifactCheck } from '../../pipeline/checks/artifact-check.ts';
import { changeCheck } from '../../pipeline/checks/change-check.ts';
import { clearSourceCache, runHardChecks, type HardCheckOptions } from '../../pipeline/checks/index.ts';
import { getFaceDetector } from '../../pipeline/faces/blazeface.ts';
import { decodeImage } from '../../pipeline/images.ts';
import { buildTruth, loadTruthSources } from '../checks/artifact-truth.ts';
import { TWIN_INSTRUCTIONS } from '../builtin/twins.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

sharp.concurrency(1);
sharp.cache(false);
const quick = process.argv.includes('--quick');

// ---------- accuracy ----------
const AMPS = quick ? [6, 20] : [6, 8, 12, 20, 30];
const CELLS = [1, 2, 3, 4, 5, 6, 7, 8];
const sources = await loadTruthSources(384);
const cases = await buildTruth(quick ? sources.slice(0, 4) : sources, {
  negativeInstructions: quick ? TWIN_INSTRUCTIONS.slice(0, 6) : TWIN_INSTRUCTIONS,
  positiveInstructions: ['Make the colors warmer, like golden hour', 'Increase the contrast', 'Blur the whole picture', 'Mirror the image horizontally'],
  cells: CELLS,
  amps: AMPS,
});
const byAmp = new Map<number, { n: number; hit: number }>();
const byPeriod = new Map<number, { n: number; hit: number }>();
const negatives = { photo: { n: 0, fp: 0 }, texture: { n: 0, fp: 0 } };
let checkMs = 0;
let worstNegative = -Infinity;
for (const c of cases) {
  const [src, edit] = await Promise.all([decodeImage(c.source.bytes, c.source.name), decodeImage(c.edit, 'edit')]);
  const cc = await changeCheck(src, edit, { pixelThreshold: 40 });
  const t0 = performance.now();
  const r = artifactCheck(src, edit, { changeBox: cc.largestComponentBox, faceBoxes: [] }, 'on');
  checkMs += performance.now() - t0;
  const fail = r.status === 'fail' ? 1 : 0;
  if (c.label === 'positive') {
    for (const [m, k] of [[byAmp, c.amp!], [byPeriod, 2 * c.cell!]] as const) {
      const e = m.get(k) ?? { n: 0, hit: 0 };
      e.n++;
      e.hit += fail;
      m.set(k, e);
    }
  } else {
    const g = c.source.textured ? negatives.texture : negatives.photo;
    g.n++;
    g.fp += fail;
    worstNegative = Math.max(worstNegative, r.score);
  }
}
const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)} %`;
const pos = [...byAmp.values()].reduce((s, e) => ({ n: s.n + e.n, hit: s.hit + e.hit }), { n: 0, hit: 0 });
console.log(`ground truth: ${pos.n} checkered edits, ${negatives.photo.n + negatives.texture.n} clean edits (${negatives.texture.n} of textured photographs)`);
console.log(`recall by amplitude (grey levels): ${[...byAmp].map(([a, e]) => `${a}: ${pct(e.hit, e.n)}`).join(', ')}`);
console.log(`recall by period (px):             ${[...byPeriod].sort((a, b) => a[0] - b[0]).map(([p, e]) => `${p}: ${pct(e.hit, e.n)}`).join(', ')}`);
console.log(`recall, all amplitudes ≥ 6:        ${pct(pos.hit, pos.n)} (target ≥ 95 %)`);
const fp = negatives.photo.fp + negatives.texture.fp;
const nn = negatives.photo.n + negatives.texture.n;
console.log(`false positives:                   ${pct(fp, nn)} (${fp}/${nn}; photos ${negatives.photo.fp}/${negatives.photo.n}, textured ${negatives.texture.fp}/${negatives.texture.n}; target ≤ 1 %); highest clean score ${worstNegative.toFixed(3)}`);
console.log(`artifact check alone at 384 px:    ${(checkMs / cases.length).toFixed(2)} ms per check`);

// ---------- cost beside the hard checks ----------
const K = 4;
const dir = path.join(import.meta.dirname, '../fixtures/images');
async function request(file: string, w: number, h: number) {
  const source = await sharp(path.join(dir, file)).resize(w, h, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  const colours = ['#ff7800', '#2080ff', '#30c050', '#c030c0'];
  const edits = await Promise.all(
    colours.map(async (c, k) => {
      const block = await sharp({ create: { width: Math.round(w / 4), height: Math.round(h / 4), channels: 4, background: `${c}b0` } }).png().toBuffer();
      return sharp(source).composite([{ input: block, left: Math.round(((k % 2) * 0.6 + 0.1) * w), top: Math.round((Math.floor(k / 2) * 0.5 + 0.2) * h) }]).jpeg({ quality: 88 }).toBuffer();
    }),
  );
  return { name: `${file} ${w}×${h}`, source, edits };
}
const sizes: [string, number, number][] = quick ? [['astronaut.png', 1200, 1200]] : [['astronaut.png', 1200, 1200], ['coffee.png', 1500, 1000], ['rocket.jpg', 1600, 1067], ['chelsea.png', 1400, 931], ['textures/brick.png', 1024, 1024]];
const base: HardCheckOptions = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: DEFAULT_MAX_PIXELS };
const modes = ['off', 'on'] as const;
const ROUNDS = quick ? 1 : 3;
await getFaceDetector();
const total = { off: 0, on: 0, n: 0 };
console.log(`\nhard checks, wall ms per check (K = ${K} edits per source, source decoded once per request, ${ROUNDS} rounds, one core)`);
for (const [file, w, h] of sizes) {
  const req = await request(file, w, h);
  const ms = { off: 0, on: 0 };
  for (const m of modes) for (const e of req.edits) await runHardChecks(req.source, e, { ...base, artifactMode: m }); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of modes) {
      clearSourceCache();
      for (const e of req.edits) {
        const t0 = performance.now();
        await runHardChecks(req.source, e, { ...base, artifactMode: m });
        ms[m] += performance.now() - t0;
      }
    }
  }
  const n = ROUNDS * req.edits.length;
  total.off += ms.off;
  total.on += ms.on;
  total.n += n;
  console.log(`${req.name.padEnd(26)} off ${(ms.off / n).toFixed(1).padStart(6)}   on ${(ms.on / n).toFixed(1).padStart(6)}   ${(ms.on / ms.off).toFixed(3)}×`);
}
console.log(`all: off ${(total.off / total.n).toFixed(1)} ms, on ${(total.on / total.n).toFixed(1)} ms per check: the artifact check adds ${(((total.on - total.off) / total.off) * 100).toFixed(1)} % (${((total.on - total.off) / total.n).toFixed(1)} ms; target ≤ 25 %)`);
