/**
 * The built-in metric judge: its measures on known images, its refusal of instructions it cannot
 * measure, and the promise that matters to curation: on the built-in core's candidates, a clean
 * edit beats its defective twin on the axis the defect hurts.
 */
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFECTS, renderEdit } from '../../pipeline/builtin/editor.ts';
import { createMetricJudge } from '../../pipeline/builtin/metric-judge.ts';
import { getRubric } from '../../pipeline/judge/index.ts';
import { createJudge } from '../../workers/judges.ts';
import { blockiness, checkerboardAmplitude, noiseSigma, planesFromRgb, ssim } from '../../pipeline/builtin/image-measures.ts';
import type { JudgmentOk } from '../../pipeline/judge/types.ts';
import { loadTwinSources, runTwins, TWIN_INSTRUCTIONS, visible, type TwinResult } from './twins.ts';

const judge = createMetricJudge();
let sources: { name: string; bytes: Buffer }[];

beforeAll(async () => {
  sources = await loadTwinSources(256);
});

function gradient(w: number, h: number, f: (x: number, y: number) => number) {
  const d = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.fill(Math.max(0, Math.min(255, Math.round(f(x, y)))), (y * w + x) * 3, (y * w + x) * 3 + 3);
  return planesFromRgb(d, w, h);
}

describe('image measures', () => {
  it('SSIM is 1 for identical planes and falls with noise; structure ignores a contrast change', () => {
    const a = gradient(64, 64, (x, y) => 128 + 60 * Math.sin(x / 5) * Math.cos(y / 7));
    const b = gradient(64, 64, (x, y) => 128 + 120 * Math.sin(x / 5) * Math.cos(y / 7));
    expect(ssim(a.y, a.y, 64, 64).ssim).toBeCloseTo(1, 6);
    const r = ssim(a.y, b.y, 64, 64);
    expect(r.structure).toBeGreaterThan(0.99);
    expect(r.ssim).toBeLessThan(0.95);
  });

  it('checkerboard amplitude finds a 2-px checker and ignores a smooth image', () => {
    const smooth = gradient(96, 96, (x, y) => x + y);
    const checker = gradient(96, 96, (x, y) => x + y + ((Math.floor(x / 2) + Math.floor(y / 2)) % 2 ? 20 : -20));
    expect(checkerboardAmplitude(smooth)).toBeLessThan(0.5);
    expect(checkerboardAmplitude(checker)).toBeGreaterThan(10);
  });

  it('noise sigma tracks added Gaussian noise', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const gauss = () => Math.sqrt(-2 * Math.log(Math.max(1e-9, rnd()))) * Math.cos(2 * Math.PI * rnd());
    const clean = gradient(128, 128, (x) => 60 + x);
    const noisy = gradient(128, 128, (x) => 60 + x + 10 * gauss());
    expect(noiseSigma(clean)).toBeLessThan(0.5);
    expect(noiseSigma(noisy)).toBeGreaterThan(7);
    expect(noiseSigma(noisy)).toBeLessThan(13);
  });

  it('blockiness rises for a coarse JPEG and not for a fine one', async () => {
    const src = sources.find((s) => s.name === 'chelsea.png')!.bytes;
    const planes = async (q: number) => {
      const jpg = await sharp(src).jpeg({ quality: q }).toBuffer();
      const { data, info } = await sharp(jpg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return planesFromRgb(data, info.width, info.height);
    };
    expect(blockiness(await planes(95))).toBeLessThan(1.15);
    expect(blockiness(await planes(3))).toBeGreaterThan(1.5);
  });
});

describe('metric judge', () => {
  it('is what createJudge gives when no JUDGE_URL is set', () => {
    const j = createJudge({ model: 'builtin-metric-v1', rubric: 'viescore-v1', timeoutMs: 1000, maxAttempts: 3, concurrency: 2, imageLongSide: 512, judgeRejected: true });
    expect(j.model).toBe('builtin-metric-v1');
    expect(j.rubric.id).toBe('metric-v1');
    expect(j.rubric.promptHash).toBe(getRubric('metric-v1').promptHash);
  });

  it('scores a clean edit on all three axes, 0–10, with the rubric recorded', async () => {
    const src = sources[2]!.bytes;
    const edit = (await renderEdit(src, { op: 'grayscale' }, { strength: 1, defects: [] })).bytes;
    const j = await judge.judge({ source: src, edit, instruction: 'Convert the photo to black and white' });
    if (!j.ok) throw new Error(j.error);
    expect(j).toMatchObject({ rubric: 'metric-v1', model: 'builtin-metric-v1', attempts: 1, rawReply: null });
    for (const v of Object.values(j.axes)) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(10);
    }
    expect(j.axes.instruction).toBeGreaterThan(8);
    expect(j.axes.preservation).toBeGreaterThan(8);
    expect(j.axes.quality).toBeGreaterThan(8);
    expect(j.scoreVector).toEqual([j.axes.instruction, j.axes.preservation, j.axes.quality]);
    expect(j.passesThresholds).toBe(true);
  });

  it('gives the unedited source no instruction score', async () => {
    const src = sources[0]!.bytes;
    const j = (await judge.judge({ source: src, edit: src, instruction: 'Make it darker, as if taken at dusk' })) as JudgmentOk;
    expect(j.ok).toBe(true);
    expect(j.axes.instruction).toBe(0);
    expect(j.axes.preservation).toBeGreaterThan(9.9);
    expect(j.passesThresholds).toBe(false);
  });

  it('refuses an instruction it cannot measure, saying why, with no score', async () => {
    const src = sources[0]!.bytes;
    const j = await judge.judge({ source: src, edit: src, instruction: 'Replace the dog with a cat' });
    expect(j.ok).toBe(false);
    if (!j.ok) expect(j.error).toBe('metric judge cannot measure instruction "Replace the dog with a cat"');
    expect(j).not.toHaveProperty('axes');
  });

  it('throws ImageError for an edit that is not an image', async () => {
    const err = await judge.judge({ source: sources[0]!.bytes, edit: Buffer.from('nope'), instruction: 'Brighten the image' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_IMAGE', subject: 'edit' });
  });

  it('ranks the clean candidate above its defective twin on the hurt axis in ≥ 95 % of ≥ 200 twins', async () => {
    // Every fixture image with 5 of the 21 ops (a different 5 per image, all 21 covered) × 7 defects = 210 twins.
    const results: TwinResult[] = [];
    for (let i = 0; i < sources.length; i++) {
      const ops = Array.from({ length: 5 }, (_, k) => TWIN_INSTRUCTIONS[(i * 5 + k) % TWIN_INSTRUCTIONS.length]!);
      results.push(...(await runTwins(judge, [sources[i]!], ops, DEFECTS)));
    }
    expect(results.length).toBeGreaterThanOrEqual(210);
    const shown = results.filter(visible);
    expect(shown.length).toBeGreaterThanOrEqual(200);
    const wins = shown.filter((t) => t.win).length;
    const losses = shown.filter((t) => !t.win).map((t) => `${t.image} ${t.op} ${t.defect}`);
    expect(wins / shown.length, `lost: ${losses.join('; ')}`).toBeGreaterThanOrEqual(0.95);
    // Every defect kind is ordered right in most of its twins, not only on average.
    for (const d of DEFECTS) {
      const of = shown.filter((t) => t.defect === d);
      expect(of.filter((t) => t.win).length / of.length, d).toBeGreaterThanOrEqual(0.85);
    }
  }, 120_000);
});
