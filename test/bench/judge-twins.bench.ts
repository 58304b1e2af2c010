/**
 * Twin benchmark of the metric judge: every fixture image × every op of the built-in grammar ×
 * every defect (6 × 21 × 7 = 882 twins at 256 px). Prints, per defect and per op, how often the
 * clean candidate beats its defective twin on the axis the defect hurts, and the same for an
 * honest baseline measured in the same run: a judge that scores every axis by plain SSIM of the
 * edit against the source (the obvious one-number judge).
 *
 *   npx tsx test/bench/judge-twins.bench.ts [--side 256] [--images N]
 *
 * By default 3 of the 6 images, evenly spaced (astronaut, chelsea, hubble: 441 twins, about two
 * minutes on a shared 2-core machine); `--images 6` runs all 882.
 */
import { DEFECTS } from '../../pipeline/builtin/editor.ts';
import { loadWorking, ssim } from '../../pipeline/builtin/image-measures.ts';
import { createMetricJudge } from '../../pipeline/builtin/metric-judge.ts';
import { getRubric, type Judge, type Judgment } from '../../pipeline/judge/index.ts';
import { HURT_AXIS, loadTwinSources, runTwins, TWIN_IMAGES, TWIN_INSTRUCTIONS, visible } from '../builtin/twins.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const side = arg('side', 256);
const nImages = Math.min(TWIN_IMAGES.length, arg('images', 3));

const metric = createMetricJudge();
const baselineOf = new Map<Judgment, Judgment>();
let metricMs = 0;
let metricCalls = 0;
let baselineMs = 0;

/** Plain SSIM of edit vs source on every axis: what a judge without per-op measures would say. */
async function baseline(source: Buffer, edit: Buffer): Promise<Judgment> {
  const t0 = performance.now();
  const s = await loadWorking(source, 'source', { longSide: side });
  const e = await loadWorking(edit, 'edit', { size: { width: s.width, height: s.height } });
  const v = 10 * Math.max(0, ssim(e.y, s.y, s.width, s.height).ssim);
  baselineMs += performance.now() - t0;
  const rubric = getRubric('metric-v1');
  return { ok: true, rubric: 'baseline-ssim', model: 'baseline', promptHash: rubric.promptHash, latencyMs: 0, attempts: 1, rawReply: null, rawScores: {}, scoreVector: [v, v, v], axes: { instruction: v, preservation: v, quality: v }, aggregate: {}, passesThresholds: true };
}

/** Runs the metric judge (timed) and the baseline on the same candidate; returns the metric judgment. */
const tee: Judge = {
  model: metric.model,
  rubric: metric.rubric,
  async judge(input) {
    const t0 = performance.now();
    const j = await metric.judge(input);
    metricMs += performance.now() - t0;
    metricCalls++;
    baselineOf.set(j, await baseline(input.source, input.edit));
    return j;
  },
};

const t0 = performance.now();
const picked = Array.from({ length: nImages }, (_, i) => TWIN_IMAGES[Math.floor((i * TWIN_IMAGES.length) / nImages)]!);
const sources = await loadTwinSources(side, picked);
const all = await runTwins(tee, sources, TWIN_INSTRUCTIONS, DEFECTS);
const wall = (performance.now() - t0) / 1000;
const twins = all.filter(visible);

const baseWin = (t: (typeof twins)[number]) => {
  const c = baselineOf.get(t.clean)!;
  const d = baselineOf.get(t.defective)!;
  return c.ok && d.ok && c.axes[t.axis] > d.axes[t.axis];
};
const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(1) : '—').padStart(6);

function table(title: string, keyOf: (t: (typeof twins)[number]) => string, keys: string[]) {
  console.log(`\n${title.padEnd(18)} ${'twins'.padStart(6)} ${'metric %'.padStart(9)} ${'baseline %'.padStart(11)} ${'ratio'.padStart(6)}`);
  for (const k of keys) {
    const of = twins.filter((t) => keyOf(t) === k);
    const m = of.filter((t) => t.win).length;
    const b = of.filter(baseWin).length;
    console.log(`${k.padEnd(18)} ${String(of.length).padStart(6)} ${pct(m, of.length).padStart(9)} ${pct(b, of.length).padStart(11)} ${(b ? (m / b).toFixed(2) : '∞').padStart(6)}`);
  }
}

console.log(`metric judge twin benchmark: ${nImages} images (${picked.join(', ')}) × ${TWIN_INSTRUCTIONS.length} ops × ${DEFECTS.length} defects at ${side} px`);
console.log(`${all.length} twins rendered, ${twins.length} with a visible defect (${all.length - twins.length} left out: the defect did not change the pixels)`);
table('defect (axis)', (t) => `${t.defect} (${HURT_AXIS[t.defect].slice(0, 5)})`, DEFECTS.map((d) => `${d} (${HURT_AXIS[d].slice(0, 5)})`));
table('op', (t) => t.op, [...new Set(twins.map((t) => t.op))]);
const m = twins.filter((t) => t.win).length;
const b = twins.filter(baseWin).length;
console.log(`\noverall: metric judge ${pct(m, twins.length).trim()} % (${m}/${twins.length}); baseline SSIM-to-source ${pct(b, twins.length).trim()} % (${b}/${twins.length}); ratio ${(m / b).toFixed(2)}`);
console.log(`time: ${(metricMs / metricCalls).toFixed(1)} ms per metric judgment (${metricCalls} judgments), baseline ${(baselineMs / metricCalls).toFixed(1)} ms; ratio ${(metricMs / baselineMs).toFixed(1)}×; wall ${wall.toFixed(1)} s`);
const lost = twins.filter((t) => !t.win);
if (lost.length) console.log(`\nlost twins:\n${lost.map((t) => `  ${t.image} ${t.op} ${t.defect}: clean ${t.clean.ok ? t.clean.axes[t.axis].toFixed(2) : 'failed'} vs ${t.defective.ok ? t.defective.axes[t.axis].toFixed(2) : 'failed'} on ${t.axis}`).join('\n')}`);
