/**
 * The built-in metric judge (rubric `metric-v1`, model `builtin-metric-v1`): no model, only
 * measurements, on the three canonical axes (0–10).
 * - instruction: the property the parsed instruction asks for (instruction-measures.ts);
 *   an instruction the grammar does not know gets no score, and the judgment says why.
 * - preservation: SSIM structure term of the luma against the source, the source first put
 *   through the geometric op as asked (flip, rotate, zoom at the asked factor) or inversion, so
 *   a shift or an extra zoom costs preservation while the asked transform does not. Brightness
 *   and contrast changes do not count (the structure term ignores them).
 * - quality: checkerboard, noise and blockiness of the edit in excess of the source's own,
 *   measured on a native-resolution centre crop (resizing would wash pixel-level artifacts out).
 *
 * Both images are compared at a working resolution of 256 px on the long side; an edit of
 * another size is resized onto the source's grid. Default thresholds (metric-v1):
 * instruction ≥ 6, preservation ≥ 5, quality ≥ 6. Ordering of injected defects is measured by
 * test/builtin/metric-judge.test.ts and test/bench/judge-twins.bench.ts.
 */
import sharp from 'sharp';
import { ImageError, describeError } from '../errors/index.ts';
import { parseInstruction } from './instruction-grammar.ts';
import { blockiness, checkerboardAmplitude, loadNativeCrop, loadWorking, noiseSigma, ssim } from './image-measures.ts';
import { expectedTransform, instructionScore } from './instruction-measures.ts';
import { metricV1 } from '../judge/rubrics/metric-v1.ts';
import type { Judge, JudgeInput, Judgment } from '../judge/types.ts';
import { DEFAULT_MAX_PIXELS } from '../images.ts';

export const METRIC_MODEL = 'builtin-metric-v1';

export interface MetricJudgeOptions {
  /** Threshold overrides for metric-v1 (keys: instruction, preservation, quality; 0–10). */
  thresholds?: Record<string, number>;
  /** Working resolution, long side in pixels. */
  workingSide?: number;
  /** Pixel limit for decoding (decompression-bomb guard). */
  maxPixels?: number;
}

/** Artifact excess of the edit over the source, each in units of its own tolerance (0 = as clean as the source). */
export interface ArtifactExcess {
  checkerboard: number;
  noise: number;
  blockiness: number;
}

/** Measures the no-reference artifacts of `edit` against `source` (native-resolution centre crops). */
export async function artifactExcess(source: Buffer, edit: Buffer, maxPixels?: number): Promise<ArtifactExcess> {
  const [s, e] = await Promise.all([loadNativeCrop(source, 'source', 384, maxPixels), loadNativeCrop(edit, 'edit', 384, maxPixels)]);
  return {
    // Fourier amplitude in levels: tolerance 0.5, one e-fold per 2 levels.
    checkerboard: Math.max(0, checkerboardAmplitude(e) - checkerboardAmplitude(s) - 0.5) / 2,
    // Noise σ in levels: tolerance 1.5× the source's + 1 (sharpening lifts what noise there was), one e-fold per 3 levels.
    noise: Math.max(0, noiseSigma(e) - 1.5 * noiseSigma(s) - 1) / 3,
    // Grid ratio: tolerance 0.05, one e-fold per 0.25.
    blockiness: Math.max(0, blockiness(e) - blockiness(s) - 0.05) / 0.25,
  };
}

/** quality = 10·exp(−Σ excess): strictly lower for any added artifact, 10 for none. */
export const qualityFromExcess = (x: ArtifactExcess): number => 10 * Math.exp(-(x.checkerboard + x.noise + x.blockiness));

/** A Judge that measures instead of asking a model. */
export function createMetricJudge(opts: MetricJudgeOptions = {}): Judge {
  const rubric = metricV1(opts.thresholds);
  const side = opts.workingSide ?? 256;
  async function judge(input: JudgeInput): Promise<Judgment> {
    const t0 = performance.now();
    const base = { rubric: rubric.id, model: METRIC_MODEL, promptHash: rubric.promptHash, attempts: 1, rawReply: null };
    const failed = (error: string): Judgment => ({ ...base, ok: false, latencyMs: Math.round(performance.now() - t0), error });
    input.signal?.throwIfAborted();
    const spec = parseInstruction(input.instruction);
    if (!spec) return failed(`metric judge cannot measure instruction ${JSON.stringify(input.instruction.slice(0, 120))}`);
    let nativeWidth: number;
    try {
      const m = await sharp(input.source, { limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS }).metadata();
      nativeWidth = (m.orientation ?? 1) >= 5 ? m.height : m.width;
    } catch (err) {
      throw new ImageError(`not a decodable image (${describeError(err)})`, { subject: 'source', cause: err });
    }
    const s = await loadWorking(input.source, 'source', { longSide: side, maxPixels: opts.maxPixels });
    const e = await loadWorking(input.edit, 'edit', { size: { width: s.width, height: s.height }, maxPixels: opts.maxPixels });
    const t = await expectedTransform(s, spec);
    const instruction = instructionScore(spec, s, e, t, s.width / nativeWidth);
    const reference = t ?? s;
    const preservation = 10 * Math.max(0, ssim(e.y, reference.y, e.width, e.height).structure);
    const quality = qualityFromExcess(await artifactExcess(input.source, input.edit, opts.maxPixels));
    input.signal?.throwIfAborted();
    const raw = { instruction, preservation, quality };
    const scores = rubric.score(raw);
    return { ...base, ok: true, latencyMs: Math.round(performance.now() - t0), rawScores: scores.axes, ...scores };
  }
  return { model: METRIC_MODEL, rubric, judge };
}
