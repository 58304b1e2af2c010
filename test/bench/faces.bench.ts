/**
 * The face rule v2 on the evaluation set (test/faces/eval-set.ts: real photographs, edits of
 * known geometry). Prints:
 *  - the IoU distribution (min, p5, median) of no-move edits (re-encode, rescale, tone, colour,
 *    local edits) per face-size band, for v2 and, as the baseline in the same run, for the
 *    detection-only rule (v1: two independent detections matched by IoU);
 *  - the error of moved edits (shifts, crops, zooms) against the analytic IoU, both rules;
 *  - right decisions per case class, both rules;
 *  - recall per face-size band: faces of known size pasted into a scene, found or not;
 *  - ms per check, cold (source searched) and cached (source faces known, as from the
 *    `source_faces` table), against decoding both images with sharp.
 * Run: npx tsx test/bench/faces.bench.ts
 */
import sharp from 'sharp';
import { markOnMainThread } from '../../pipeline/checks/gc.ts';
import { clearSourceCache, runHardChecks, type HardCheckReport } from '../../pipeline/checks/index.ts';
import { getFaceDetector, type Face } from '../../pipeline/faces/blazeface.ts';
import { boxIoU, faceCheck } from '../../pipeline/faces/face-check.ts';
import { findSourceFaces, type SourceFaces } from '../../pipeline/faces/source-faces.ts';
import { decodeImage } from '../../pipeline/images.ts';
import { analyticIoU, evalCases, evalSources, type EvalCase, type EvalSource } from '../faces/eval-set.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

markOnMainThread(); // as the check worker does
sharp.concurrency(1);
const opts = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: DEFAULT_MAX_PIXELS };
const detector = await getFaceDetector();
const sources = await evalSources();
const cases = await evalCases(sources);

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]! : NaN;
};
const band = (side: number) => (side < 32 ? '24–31 px' : side < 48 ? '32–47 px' : side < 80 ? '48–79 px' : '80+ px');
const bands = ['24–31 px', '32–47 px', '48–79 px', '80+ px'];

/** v1 baseline: the same source faces, the edit detected near them, matched by detection IoU only. */
async function v1(c: EvalCase, known: SourceFaces): Promise<{ status: string; ious: number[] }> {
  const [s, e] = await Promise.all([decodeImage(c.source.bytes, 's'), decodeImage(c.edit, 'e')]);
  const sx = e.width / s.width;
  const sy = e.height / s.height;
  const near = known.faces.map((f) => ({ box: [f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy] as Face['box'], ...(f.crop ? { crop: [f.crop[0] * sx, f.crop[1] * sy, f.crop[2] * sx, f.crop[3] * sy] as Face['box'] } : {}) }));
  const edit = near.length ? await detector.detect(e, { search: 'fine', near }) : [];
  const r = faceCheck(known.faces, edit, s, e, { threshold: 0.9 });
  return { status: r.status, ious: r.matches.map((m) => m.iou) };
}

const knownOf = new Map<EvalSource, SourceFaces>();
for (const s of sources) knownOf.set(s, await findSourceFaces(detector, await decodeImage(s.bytes, s.name), 'fine'));

const noMove: Record<string, { v2: number[]; v1: number[] }> = Object.fromEntries(bands.map((b) => [b, { v2: [], v1: [] }]));
const moveErr = { v2: [] as number[], v1: [] as number[], v2Detector: 0, v2Registration: 0 };
const right: Record<string, { v2: number; v1: number; n: number }> = {};
for (const c of cases) {
  const known = knownOf.get(c.source)!;
  const r: HardCheckReport = await runHardChecks(c.source.bytes, c.edit, opts, {}, { known });
  const old = await v1(c, known);
  const b = (right[c.cls] ??= { v2: 0, v1: 0, n: 0 });
  b.n++;
  if ((r.faceCheck.status === 'pass') === c.shouldPass) b.v2++;
  if ((old.status === 'pass') === c.shouldPass) b.v1++;
  known.faces.forEach((f, i) => {
    if (!c.source.faces.some((a) => boxIoU(a, f.box) > 0.5)) return; // only annotated faces
    const m = r.faceCheck.matches[i]!;
    if (c.noMove) {
      noMove[band(Math.max(f.box[2], f.box[3]))]!.v2.push(m.iou);
      noMove[band(Math.max(f.box[2], f.box[3]))]!.v1.push(old.ious[i]!);
    } else if (c.move) {
      const truth = analyticIoU(c, f.box);
      moveErr.v2.push(Math.abs(m.iou - truth));
      moveErr.v1.push(Math.abs(old.ious[i]! - truth));
      if (m.method === 'registration') moveErr.v2Registration++;
      else moveErr.v2Detector++;
    }
  });
}

const f3 = (v: number) => (Number.isNaN(v) ? '  –  ' : v.toFixed(3));
console.log(`evaluation set: ${sources.length} sources (${sources.map((s) => s.name).join(', ')}), ${cases.length} edits`);
console.log('\nno-move edits: measured IoU of the same face (target v2 ≥ 0.95)   v2: min  p5  median   |  v1 (detection only): min  p5  median');
for (const b of bands) {
  const x = noMove[b]!;
  console.log(`  ${b.padEnd(10)} n=${String(x.v2.length).padStart(3)}   ${f3(q(x.v2, 0))} ${f3(q(x.v2, 0.05))} ${f3(q(x.v2, 0.5))}   |   ${f3(q(x.v1, 0))} ${f3(q(x.v1, 0.05))} ${f3(q(x.v1, 0.5))}`);
}
console.log(`\nmoved edits (shift, sub-pixel, crop, zoom): |measured − analytic IoU| (target ≤ 0.03), ${moveErr.v2.length} faces`);
console.log(`  v2: median ${f3(q(moveErr.v2, 0.5))}, p95 ${f3(q(moveErr.v2, 0.95))}, max ${f3(q(moveErr.v2, 1))}, within 0.03: ${((100 * moveErr.v2.filter((e) => e <= 0.03).length) / moveErr.v2.length).toFixed(1)} %  (registration ${moveErr.v2Registration}, detector fallback ${moveErr.v2Detector})`);
console.log(`  v1: median ${f3(q(moveErr.v1, 0.5))}, p95 ${f3(q(moveErr.v1, 0.95))}, max ${f3(q(moveErr.v1, 1))}, within 0.03: ${((100 * moveErr.v1.filter((e) => e <= 0.03).length) / moveErr.v1.length).toFixed(1)} %`);
console.log('\nright decisions per class        v2        v1');
let t2 = 0;
let t1 = 0;
for (const [cls, b] of Object.entries(right)) {
  t2 += b.v2;
  t1 += b.v1;
  console.log(`  ${cls.padEnd(14)} n=${String(b.n).padStart(3)}   ${((100 * b.v2) / b.n).toFixed(1).padStart(5)} %   ${((100 * b.v1) / b.n).toFixed(1).padStart(5)} %`);
}
console.log(`  ${'all'.padEnd(14)} n=${String(cases.length).padStart(3)}   ${((100 * t2) / cases.length).toFixed(1).padStart(5)} %   ${((100 * t1) / cases.length).toFixed(1).padStart(5)} %`);

// Recall per size band: each annotated photograph's face pasted at a known size into a 1280×720
// scene (a crop of 3 × 4 face sides around it), at 6 positions; found when a detected face
// overlaps the pasted box at IoU ≥ 0.5.
console.log('\nrecall by face size (long side 1280 px; faces pasted at known boxes)');
const photos = sources.filter((s) => s.name === s.firstFaceOf);
for (const frac of [0.02, 0.03, 0.05, 0.1]) {
  let found = 0;
  let n = 0;
  for (const p of photos) {
    const f = p.faces[0]!;
    const px = Math.round(1280 * frac);
    const k = px / f[2];
    const cw = Math.min(p.width, Math.round(f[2] * 3));
    const ch = Math.min(p.height, Math.round(f[3] * 4));
    const cx = Math.max(0, Math.min(p.width - cw, Math.round(f[0] + f[2] / 2 - cw / 2)));
    const cy = Math.max(0, Math.min(p.height - ch, Math.round(f[1] - f[3] * 0.8)));
    const tw = Math.max(1, Math.round(cw * k));
    const th = Math.max(1, Math.round(ch * k));
    const piece = await sharp(p.rgb, { raw: { width: p.width, height: p.height, channels: 3 } }).extract({ left: cx, top: cy, width: cw, height: ch }).resize(tw, th, { fit: 'fill' }).png().toBuffer();
    const spots = [0.15, 0.5, 0.85].flatMap((x) => [0.3, 0.7].map((y) => [Math.round(1280 * x - tw / 2), Math.round(720 * y - th / 2)] as const));
    const scene = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#7a7f86' } })
      .composite(spots.map(([left, top]) => ({ input: piece, left, top })))
      .png()
      .toBuffer();
    const truth = spots.map(([left, top]) => [left + (f[0] - cx) * (tw / cw), top + (f[1] - cy) * (th / ch), f[2] * (tw / cw), f[3] * (th / ch)] as Face['box']);
    const det = await detector.detect(await decodeImage(scene, 'scene'), { search: 'fine' });
    for (const t of truth) {
      n++;
      if (det.some((d) => boxIoU(d.box, t) >= 0.5)) found++;
    }
  }
  console.log(`  ${(frac * 100).toFixed(0).padStart(2)} % of the long side (${Math.round(1280 * frac)} px): ${found}/${n} = ${((100 * found) / n).toFixed(0)} %`);
}

// ms per check: cold (source decoded and searched), cached (source faces known), floor (decode both).
const timed = cases.filter((_, i) => i % 5 === 0);
const msOf = async (fn: (c: EvalCase) => Promise<unknown>) => {
  const t0 = performance.now();
  for (const c of timed) await fn(c);
  return (performance.now() - t0) / timed.length;
};
const floor = await msOf((c) => Promise.all([c.source.bytes, c.edit].map((b) => sharp(b).rotate().toColourspace('srgb').raw().toBuffer())));
const cold = await msOf((c) => {
  clearSourceCache();
  return runHardChecks(c.source.bytes, c.edit, opts);
});
const cached = await msOf((c) => {
  clearSourceCache();
  return runHardChecks(c.source.bytes, c.edit, opts, {}, { known: knownOf.get(c.source)! });
});
console.log(`\nms per check over ${timed.length} edits (0.1–0.6 MP): floor (decode both) ${floor.toFixed(1)}, cold ${cold.toFixed(1)} (${(cold / floor).toFixed(2)}×), cached source faces ${cached.toFixed(1)} (${(cached / floor).toFixed(2)}×)`);
