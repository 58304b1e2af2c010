/**
 * `metric-v1`: the built-in metric judge's rubric. No model: its three axes are measurements
 * (see pipeline/builtin/metric-judge.ts), already on the canonical 0–10 scale, so raw scores, score vector and
 * canonical axes are the same numbers. The "prompt" is the method text; its hash changes when
 * the method does.
 */
import type { Rubric } from './types.ts';
import { finish, meetsThresholds, sha256Text } from './common.ts';

const METHOD = `metric-v1: built-in measurements at a working resolution of 256 px (long side), luma BT.709; the edit is resized onto the source's grid.
instruction: the instruction is parsed with the built-in grammar; the property its op asks for is measured on source and edit (chroma ratio, Lab chroma-given-lightness for sepia, R-B shift and luma rise relative to the source's brightness, luma spread, Lab hue rotation, fine and mid-band Laplacian energy, evenly spaced level count, uniform frame thickness, caption band with strokes, SSIM to the flipped, quarter-turned or inverted source, best-fit zoom factor or tilt angle) and scored 10 inside the sensible band, falling linearly to 0 outside it; newly clipped pixels cap tone and colour ops. An instruction the grammar does not know gets no score.
preservation: mean SSIM structure term (11x11 Gaussian window, sigma 1.5) between the edit and the source put through the op's geometry as asked (flip, rotate, zoom) or inversion; 10 * max(0, s).
quality: on a native-resolution centre crop (at most 384 px, on the 8-px grid), the excess over the source of checkerboard amplitude (largest DFT amplitude at checker frequencies, cells 1-4 px; tolerance 0.5, scale 2 levels), noise sigma (Immerkaer mask, median; tolerance 1.5x source + 1, scale 3 levels) and blockiness (8-px phase ratio of median boundary steps; tolerance 0.05, scale 0.25); 10 * exp(-sum of scaled excesses).`;

/** Defaults on 0–10: a clean built-in edit scores well above these; a visible defect falls below. */
export const METRIC_DEFAULT_THRESHOLDS: Record<string, number> = { instruction: 6, preservation: 5, quality: 6 };

/** Builds the rubric; `thresholds` replaces the defaults (keys: instruction, preservation, quality). */
export function metricV1(thresholds: Record<string, number> = METRIC_DEFAULT_THRESHOLDS): Rubric {
  const axisNames = ['instruction', 'preservation', 'quality'];
  return {
    id: 'metric-v1',
    axisNames,
    rawNames: axisNames,
    scale: { min: 0, max: 10 },
    thresholds: { ...thresholds },
    prompt: METHOD,
    promptHash: sha256Text(METHOD),
    score(raw) {
      const axes = { instruction: raw.instruction!, preservation: raw.preservation!, quality: raw.quality! };
      return finish([axes.instruction, axes.preservation, axes.quality], axes, {}, meetsThresholds(thresholds, raw));
    },
  };
}
