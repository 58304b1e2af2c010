/**
 * `metric-v1`: the built-in metric judge's rubric. No model: its three axes are measurements
 * (see ../metric-judge.ts), already on the canonical 0–10 scale, so raw scores, score vector and
 * canonical axes are the same numbers. The "prompt" is the method text; its hash changes when
 * the method does.
 */
import type { Rubric } from '../types.ts';
import { finish, meetsThresholds, sha256Text } from './common.ts';

const METHOD = `metric-v1: built-in measurements at a working resolution of 256 px (long side), luma BT.709.
instruction: the instruction is parsed with the built-in grammar; the property the op asks for is measured on source and edit (chroma, warm/cool balance, luma mean and spread, Lab hue rotation, fine/mid-band detail, level count, uniform frame, caption band, or similarity to the geometrically transformed source) and scored 10 inside the sensible band, falling to 0 outside it.
preservation: mean SSIM structure term (11x11 Gaussian window, sigma 1.5) between the edit and the source, the source first put through the expected geometric op (flip, rotate, zoom) or inversion; 10 * max(0, s).
quality: no-reference artifact measures on a native-resolution centre crop, each as the excess over the source: checkerboard (largest DFT amplitude at the checker frequencies, cells 1-4 px), noise (Immerkaer median estimate), blockiness (8-px grid discontinuity ratio); 10 * exp(-sum of excess/scale).`;

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
