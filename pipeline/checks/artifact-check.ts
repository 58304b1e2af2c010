/**
 * The artifact check: periodic grid artifacts (checkerboards, grids of lines; periods 2–16 px)
 * in the changed region and around the faces, the failure signature of bad up-sampling that a
 * VLM judge may miss. Pure: it takes decoded pixels and returns a verdict with its evidence.
 *
 * How: per region, a centre crop (≤ MAX_CROP px a side) of the luma is high-passed (4-neighbour
 * Laplacian, so smooth shading cannot leak into the bins), Hann-windowed, and its Fourier power
 * is measured at the fundamental of each pattern of period P = 2…16 px: (1/P, ±1/P) for a
 * checkerboard, (1/P, 0) and (0, 1/P) for a grid. A peak is its power over the mean power of its
 * four neighbours NEIGHBOUR_BINS bins away (so the image's own spectral slope cancels); a
 * pattern's peak is the geometric mean of its two fundamentals (a checkerboard has both
 * diagonals, a diagonal stripe only one). The same is measured on the source at the same place:
 * the score is log10(edit peak / max(source peak, PEAK_FLOOR)), so fabric, brick or a screen
 * that the source already shows does not count. `fail` when the best score reaches
 * FAIL_SCORE.
 */
import type { DecodedImage } from '../images.ts';
import { residualWasm, rowTransformsWasm, WasmRegionWork } from './artifact-kernels.ts';

/** Part of the check version: bump when the measure or its thresholds change. */
export const ARTIFACT_RULE_VERSION = 'artifact-grid-v1';

/** on: a grid fails the candidate; record: measured and stored, never rejects; off: not run. */
export type ArtifactMode = 'on' | 'off' | 'record';

/** Periods (px) searched: the pattern repeats every P pixels (a checkerboard of P/2-px cells). */
export const MIN_PERIOD = 2;
export const MAX_PERIOD = 16;
/** Score (log10 of edit peak over source peak) at and above which the edit fails: 8× (clean edits stay under ~5×). */
export const FAIL_SCORE = 0.9;
/** Source peaks below this count as this (a peak ratio of ~1–3 is what plain photos show). */
const PEAK_FLOOR = 4;
/** Longest crop side analysed per region (px): a grid covers its region, a centre crop sees it. */
const MAX_CROP = 256;
/** A source peak within this factor of a period counts as that period's reference (zooms move textures). */
const SOURCE_PERIOD_SPAN = 1.6;
/** Regions smaller than this (px, either side) hold too few periods to measure. */
const MIN_CROP = 40;
/** Where a peak's background is measured, in DFT bins of the crop along y (outside the Hann main lobe). */
const NEIGHBOUR_BINS = [3, 4, 5, 6];
/** Face boxes are widened by this share of their size on each side ("around the faces"). */
const FACE_MARGIN = 0.5;
/** At most this many faces (the largest) are examined. */
const MAX_FACES = 2;

export type Box = [number, number, number, number];

export interface ArtifactRegion {
  /** change: the largest changed component; face: around a source face; image: the whole image (nothing changed). */
  kind: 'change' | 'face' | 'image';
  /** [x, y, w, h] in source pixels: the crop that was measured. */
  box: Box;
}

export interface ArtifactCheckResult {
  status: 'pass' | 'fail' | 'off';
  /** Best log10(edit peak / max(source peak, floor)) over periods, patterns and regions (0 when off). */
  score: number;
  /** Period (px) of the best score, null when off or nothing was measurable. */
  period: number | null;
  pattern: 'checker' | 'grid' | null;
  /** Where the best score was found, null when off or no region was large enough. */
  region: ArtifactRegion | null;
  /**
   * Peak ratios behind the best score: the edit's, and the source's at the same place (0 when the
   * edit's peaks were too small to fail and the source was not measured).
   */
  editPeak: number | null;
  sourcePeak: number | null;
  threshold: number;
  mode: ArtifactMode;
  /** Whether a `fail` rejects the candidate (mode on). */
  enforced: boolean;
  ruleVersion: string;
}

/** The check-version part of the artifact check under `mode` ('' when off: the version is as without it). */
export function artifactVersionPart(mode: ArtifactMode): string {
  if (mode === 'off') return '';
  return mode === 'record' ? `${ARTIFACT_RULE_VERSION}:record` : ARTIFACT_RULE_VERSION;
}

export interface ArtifactInputs {
  /** The largest changed component's box in source pixels (null: nothing changed). */
  changeBox: Box | null;
  /** Source face boxes [x, y, w, h] in source pixels. */
  faceBoxes: Box[];
}

/** Runs the check on the regions `inputs` name. */
export function artifactCheck(src: DecodedImage, edit: DecodedImage, inputs: ArtifactInputs, mode: ArtifactMode): ArtifactCheckResult {
  const base = { threshold: FAIL_SCORE, mode, enforced: mode === 'on', ruleVersion: artifactVersionPart(mode) || ARTIFACT_RULE_VERSION };
  if (mode === 'off') return { status: 'off', score: 0, period: null, pattern: null, region: null, editPeak: null, sourcePeak: null, ...base };
  let best: (PeakScore & { region: ArtifactRegion }) | null = null;
  for (const region of regionsOf(src, inputs)) {
    const s = scoreRegion(src, edit, region.box);
    if (s && (!best || s.score > best.score)) best = { ...s, region: { ...region, box: s.box } };
  }
  if (!best) return { status: 'pass', score: 0, period: null, pattern: null, region: null, editPeak: null, sourcePeak: null, ...base };
  return {
    status: best.score >= FAIL_SCORE ? 'fail' : 'pass',
    score: round(best.score, 3),
    period: best.period,
    pattern: best.pattern,
    region: best.region,
    editPeak: round(best.editPeak, 2),
    sourcePeak: round(best.sourcePeak, 2),
    ...base,
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** The changed region (or the whole image when nothing changed) and the largest faces, widened. */
export function regionsOf(src: DecodedImage, inputs: ArtifactInputs): ArtifactRegion[] {
  const out: ArtifactRegion[] = [inputs.changeBox ? { kind: 'change', box: atLeast(inputs.changeBox, MAX_CROP) } : { kind: 'image', box: [0, 0, src.width, src.height] }];
  const faces = [...inputs.faceBoxes].sort((a, b) => b[2] * b[3] - a[2] * a[3]).slice(0, MAX_FACES);
  for (const [x, y, w, h] of faces) out.push({ kind: 'face', box: [x - FACE_MARGIN * w, y - FACE_MARGIN * h, w * (1 + 2 * FACE_MARGIN), h * (1 + 2 * FACE_MARGIN)] });
  return out;
}

/** `box` grown about its centre to at least `side` px a side (a small changed region is measured with its surroundings). */
function atLeast(box: Box, side: number): Box {
  const w = Math.max(box[2], side);
  const h = Math.max(box[3], side);
  return [box[0] + box[2] / 2 - w / 2, box[1] + box[3] / 2 - h / 2, w, h];
}

interface PeakScore {
  score: number;
  period: number;
  pattern: 'checker' | 'grid';
  editPeak: number;
  sourcePeak: number;
  box: Box;
}

/**
 * Crops the region's centre in both images (the edit's at its own scale) and compares the
 * edit's peaks, after the source's own content is cancelled where the edit kept it, with the
 * source's peaks at the same place.
 */
function scoreRegion(src: DecodedImage, edit: DecodedImage, box: Box): PeakScore | null {
  const crop = centreCrop(box, src.width, src.height);
  if (!crop) return null;
  const sx = edit.width / src.width;
  const sy = edit.height / src.height;
  const ew = Math.min(MAX_CROP, Math.round(crop[2] * sx));
  const eh = Math.min(MAX_CROP, Math.round(crop[3] * sy));
  if (ew < MIN_CROP || eh < MIN_CROP) return null;
  const ex = Math.max(0, Math.min(edit.width - ew, Math.round((crop[0] + crop[2] / 2) * sx - ew / 2)));
  const ey = Math.max(0, Math.min(edit.height - eh, Math.round((crop[1] + crop[3] / 2) * sy - eh / 2)));
  // The source's residual here: to cancel what it explains (same-size images), and for its peaks (only when an edit peak could fail).
  const hs = () => sourceResidual(src, crop[0], crop[1], crop[2], crop[3]);
  // Same-size images: the part of the edit's residual that the source explains (least squares,
  // one gain) is taken out, so texture an edit kept (recoloured, brightened, mirrored) does not
  // hide a grid. The source is tried as it is and mirrored either way; the best fit is used.
  const same = edit.width === src.width && edit.height === src.height && ew === crop[2] && eh === crop[3];
  const work = regionWork(edit, ex, ey, ew, eh);
  if (same) {
    const own = hs();
    let best = { other: own, ...work.fit(own) };
    // The mirrors are tried only when the source as it is explains under half of the edit's residual.
    if (best.explained < 0.5 * work.energy()) {
      for (const flip of ['x', 'y'] as const) {
        const other = mirroredResidual(src, crop, flip);
        const fit = work.fit(other);
        if (fit.explained > best.explained) best = { other, ...fit };
      }
    }
    work.subtract(best.gain, best.other);
  }
  const e = work.peaks();
  // Peaks too small to fail even against the floor need no source reference: the source's
  // spectrum is measured only when some edit peak could fail (the score is then exact; else it
  // is the score against the floor, an upper bound under FAIL_SCORE).
  const couldFail = e.some((pe) => pe.peak >= PEAK_FLOOR * 10 ** FAIL_SCORE);
  const s = couldFail ? sourcePeaks(src, crop, hs) : [];
  let best: PeakScore | null = null;
  for (let i = 0; i < e.length; i++) {
    const pe = e[i]!;
    // The source's reference: its strongest peak of the same pattern within SOURCE_PERIOD_SPAN
    // of this period (a zoom or a resize moves a texture's period).
    let ref = 0;
    for (const ps of s) if (ps.pattern === pe.pattern && Math.abs(Math.log(ps.period / pe.period)) <= Math.log(SOURCE_PERIOD_SPAN)) ref = Math.max(ref, ps.peak);
    const score = Math.log10(Math.max(pe.peak, 1e-9) / Math.max(ref, PEAK_FLOOR));
    if (!best || score > best.score) best = { score, period: pe.period, pattern: pe.pattern, editPeak: pe.peak, sourcePeak: ref, box: crop };
  }
  return best;
}

/**
 * The source's peaks in `crop`, kept per decoded source: the K edits of a request share their
 * source (and its face regions), so its half of the work is done once.
 */
const sourcePeakCache = new WeakMap<DecodedImage, Map<string, PatternPeak[]>>();
function sourcePeaks(src: DecodedImage, crop: Box, hs: () => Float32Array): PatternPeak[] {
  let m = sourcePeakCache.get(src);
  if (!m) sourcePeakCache.set(src, (m = new Map()));
  const key = crop.join(',');
  let peaks = m.get(key);
  if (!peaks) {
    peaks = patternPeaks(hs(), crop[2] - 2, crop[3] - 2);
    if (m.size >= 16) m.delete(m.keys().next().value!);
    m.set(key, peaks);
  }
  return peaks;
}

/**
 * The edit's residual of one region and what scoreRegion does to it: fits against the source's
 * residuals, the subtraction of the best one, and the pattern peaks. In WebAssembly where it
 * runs (artifact-kernels.ts, the residual kept in the module's memory throughout), else in JS;
 * both give the same values to the bit.
 */
interface RegionWork {
  fit(other: Float32Array): { gain: number; explained: number };
  energy(): number;
  subtract(gain: number, other: Float32Array): void;
  peaks(): PatternPeak[];
}

let wasmWork: WasmRegionWork | null | undefined;

function regionWork(edit: DecodedImage, ex: number, ey: number, ew: number, eh: number): RegionWork {
  const w = ew - 2;
  const h = eh - 2;
  wasmWork ??= WasmRegionWork.create();
  const k = wasmWork;
  if (k?.residual(edit, ex, ey, ew, eh, hann(w), hann(h))) {
    const fitOf = ({ ab, bb }: { ab: number; bb: number }) => (bb > 0 ? { gain: ab / bb, explained: (ab * ab) / bb } : { gain: 0, explained: 0 });
    return {
      fit: (other) => fitOf(k.fit(other)),
      energy: () => k.energy(),
      subtract: (gain, other) => k.subtract(gain, other),
      peaks: () =>
        peaksFromRows(
          k.rowTransforms(w, h, twiddles(), FOLD_START, FOLD_BASE),
          h,
          (row, n, fy) => k.columnPower(row, n, Math.cos(2 * Math.PI * fy), -Math.sin(2 * Math.PI * fy)),
          (row, n, fyA, fyB, into) => k.columnPower2(row, n, fyA, fyB, into),
        ),
    };
  }
  const he = residualJs(edit, ex, ey, ew, eh, undefined, editScratch(w * h));
  return {
    fit: (other) => leastSquaresFit(he, other),
    energy: () => energy(he),
    subtract: (gain, other) => {
      for (let i = 0; i < he.length; i++) he[i] = he[i]! - gain * other[i]!;
    },
    peaks: () => patternPeaks(he, w, h),
  };
}

function energy(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
}

/** g minimising |a − g·b|², and the energy g·b explains (0 when b is flat). */
function leastSquaresFit(a: Float32Array, b: Float32Array): { gain: number; explained: number } {
  let ab = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    bb += b[i]! * b[i]!;
  }
  return bb > 0 ? { gain: ab / bb, explained: (ab * ab) / bb } : { gain: 0, explained: 0 };
}

/** The source's residual at the place a mirrored image would show at `crop`, mirrored back (same size as `crop`'s). */
function mirroredResidual(src: DecodedImage, crop: Box, flip: 'x' | 'y'): Float32Array {
  const [x, y, w, h] = crop;
  return sourceResidual(src, flip === 'x' ? src.width - x - w : x, flip === 'y' ? src.height - y - h : y, w, h, flip);
}

/**
 * A source residual, kept per decoded source like its peaks: the face regions of a request's K
 * edits are the same crops of the same source.
 */
const sourceResidualCache = new WeakMap<DecodedImage, Map<string, Float32Array>>();
function sourceResidual(src: DecodedImage, x: number, y: number, w: number, h: number, flip?: 'x' | 'y'): Float32Array {
  let m = sourceResidualCache.get(src);
  if (!m) sourceResidualCache.set(src, (m = new Map()));
  const key = `${x},${y},${w},${h},${flip ?? ''}`;
  let r = m.get(key);
  if (r) {
    m.delete(key); // most recently used goes last
  } else {
    r = residual(src, x, y, w, h, flip);
    if (m.size >= 8) m.delete(m.keys().next().value!);
  }
  m.set(key, r);
  return r;
}

/** The edit's residual is used once per region: one buffer serves every check (artifactCheck is synchronous). */
let editResidualBuffer = new Float32Array(0);
function editScratch(n: number): Float32Array {
  if (editResidualBuffer.length < n) editResidualBuffer = new Float32Array((MAX_CROP - 2) * (MAX_CROP - 2));
  return editResidualBuffer.subarray(0, n);
}

/** The centre MAX_CROP × MAX_CROP (at most) of `box` clipped to the image, in integer pixels; null when too small. */
function centreCrop(box: Box, width: number, height: number): Box | null {
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(width, Math.ceil(box[0] + box[2]));
  const y1 = Math.min(height, Math.ceil(box[1] + box[3]));
  const w = Math.min(MAX_CROP, x1 - x0);
  const h = Math.min(MAX_CROP, y1 - y0);
  if (w < MIN_CROP || h < MIN_CROP) return null;
  return [Math.round((x0 + x1 - w) / 2), Math.round((y0 + y1 - h) / 2), w, h];
}

/** BT.601 luma (0–255) of a w × h crop at (x, y) of an RGB image. */
export function lumaCrop(img: DecodedImage, x: number, y: number, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  const d = img.data;
  for (let j = 0; j < h; j++) {
    let p = ((y + j) * img.width + x) * 3;
    const row = j * w;
    for (let i = 0; i < w; i++, p += 3) out[row + i] = 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
  }
  return out;
}

/**
 * The residual of a w × h crop at (x, y): the 4-neighbour Laplacian of its luma (`lumaCrop`) on
 * the interior ((w−2) × (h−2)), Hann-windowed in both directions; one pass over
 * the pixels with three rows of luma in flight. `flip`: of the crop mirrored left-right ('x') or
 * upside down ('y'). In WebAssembly where it runs, else in JS (`residualJs`).
 */
function residual(img: DecodedImage, x: number, y: number, w: number, h: number, flip?: 'x' | 'y'): Float32Array {
  const out = new Float32Array((w - 2) * (h - 2));
  if (residualWasm(img, x, y, w, h, flip, hann(w - 2), hann(h - 2), out)) return out;
  return residualJs(img, x, y, w, h, flip, out);
}

/** `residual` in JS (where WebAssembly is not available; artifact-kernels.wat does the same operations). */
export function residualJs(img: DecodedImage, x: number, y: number, w: number, h: number, flip: 'x' | 'y' | undefined, out: Float32Array): Float32Array {
  const iw = w - 2;
  const ih = h - 2;
  const wx = hann(iw);
  const wy = hann(ih);
  const d = img.data;
  const W = img.width;
  // Luma of crop row j (mirrored as asked).
  const fill = (l: Float32Array, j: number) => {
    const yy = flip === 'y' ? y + h - 1 - j : y + j;
    const dp = flip === 'x' ? -3 : 3;
    let p = (yy * W + (flip === 'x' ? x + w - 1 : x)) * 3;
    for (let i = 0; i < w; i++, p += dp) l[i] = 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
  };
  // Three rows of luma in flight, rotated; the centre row's left and middle values carried along.
  let up = new Float32Array(w);
  let c = new Float32Array(w);
  let dn = new Float32Array(w);
  fill(up, 0);
  fill(c, 1);
  for (let j = 0; j < ih; j++) {
    fill(dn, j + 2);
    const o = j * iw;
    const wj = wy[j]!;
    let left = c[0]!;
    let mid = c[1]!;
    for (let i = 0; i < iw; i++) {
      const right = c[i + 2]!;
      out[o + i] = (4 * mid - left - right - up[i + 1]! - dn[i + 1]!) * wx[i]! * wj;
      left = mid;
      mid = right;
    }
    const t = up;
    up = c;
    c = dn;
    dn = t;
  }
  return out;
}

/** Hann windows by length, made once (a check asks for the same few crop sides over and over). */
const hannCache = new Map<number, Float64Array>();
function hann(n: number): Float64Array {
  let win = hannCache.get(n);
  if (!win) {
    win = new Float64Array(n);
    for (let i = 0; i < n; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n);
    if (hannCache.size >= 64) hannCache.delete(hannCache.keys().next().value!);
    hannCache.set(n, win);
  }
  return win;
}

export interface PatternPeak {
  period: number;
  pattern: 'checker' | 'grid';
  /** Geometric mean over the pattern's two fundamentals of power / mean neighbour power. */
  peak: number;
}

/**
 * Peak ratios of every pattern and period on a residual of w × h. Separable DFT: each row's
 * transform at every needed horizontal frequency (1/P and 0), then a short sum down the rows per
 * needed point.
 */
export function patternPeaks(r: Float32Array, w: number, h: number): PatternPeak[] {
  // rows[k][y] = Σx r(x, y)·e^{-2πi·fx·x} with fx = 0 (k = 0) or 1/(k + MIN_PERIOD − 1).
  return peaksFromRows(rowTransforms(r, w, h), h, columnPower);
}

/**
 * patternPeaks from the row transforms, with `power` as the column power (columnPower, or the same
 * in WebAssembly) and `power2`, when given, the same at two frequencies at once.
 */
function peaksFromRows(
  rows: Float64Array[],
  h: number,
  power: (rows: Float64Array, h: number, fy: number) => number,
  power2?: (rows: Float64Array, h: number, fyA: number, fyB: number, into: Float64Array) => void,
): PatternPeak[] {
  const dy = 1 / h;
  const pair = new Float64Array(2);
  // A point's peak: its power over the mean power NEIGHBOUR_BINS away along y, on both sides.
  const peakAt = (k: number, fy: number) => {
    const row = rows[k]!;
    let around = 0;
    for (const n of NEIGHBOUR_BINS) {
      if (power2) {
        power2(row, h, fy - n * dy, fy + n * dy, pair);
        around += pair[0]! + pair[1]!;
      } else around += power(row, h, fy - n * dy) + power(row, h, fy + n * dy);
    }
    return power(row, h, fy) / Math.max(around / (2 * NEIGHBOUR_BINS.length), 1e-12);
  };
  const out: PatternPeak[] = [];
  for (let p = MIN_PERIOD; p <= MAX_PERIOD; p++) {
    const k = 1 + p - MIN_PERIOD;
    const u = 1 / p;
    out.push({ period: p, pattern: 'checker', peak: Math.sqrt(peakAt(k, u) * peakAt(k, -u)) });
    out.push({ period: p, pattern: 'grid', peak: Math.sqrt(peakAt(k, 0) * peakAt(0, u)) });
  }
  return out;
}

/**
 * Every period's row transforms at once. At fx = 1/P the twiddle repeats every P px, so a row is
 * first folded into P bins (bin m sums the pixels at x ≡ m mod P) and the transform is P terms:
 * one add per pixel per fold instead of a complex multiply-add per pixel per period. The folds
 * are taken once per row for the periods no other one divides (FOLDS); the others come from
 * them (16 → 8 → 4 → 2, 15 → 5 and 3, 14 → 7, 12 → 6; fx = 0 is the sum of any fold).
 */
function rowTransforms(r: Float32Array, w: number, h: number): Float64Array[] {
  return rowTransformsWasm(r, w, h, twiddles(), FOLD_START, FOLD_BASE) ?? rowTransformsJs(r, w, h);
}

/** `rowTransforms` in JS (where WebAssembly is not available; artifact-kernels.wat does the same operations). */
export function rowTransformsJs(r: Float32Array, w: number, h: number): Float64Array[] {
  const rows = Array.from({ length: 2 + MAX_PERIOD - MIN_PERIOD }, () => new Float64Array(2 * h));
  const bins = new Float64Array(FOLD_BINS);
  const sub = new Float64Array(MAX_PERIOD); // a derived period's bins
  const tw = twiddles();
  for (let y = 0; y < h; y++) {
    bins.fill(0);
    const row = y * w;
    // One pass, a counter per fold (x mod P without a division).
    let c15 = 0, c14 = 0, c13 = 0, c12 = 0, c11 = 0, c10 = 0, c9 = 0;
    for (let x = 0; x < w; x++) {
      const v = r[row + x]!;
      bins[x & 15] += v;
      bins[16 + c15] += v;
      bins[31 + c14] += v;
      bins[45 + c13] += v;
      bins[58 + c12] += v;
      bins[70 + c11] += v;
      bins[81 + c10] += v;
      bins[91 + c9] += v;
      if (++c15 === 15) c15 = 0;
      if (++c14 === 14) c14 = 0;
      if (++c13 === 13) c13 = 0;
      if (++c12 === 12) c12 = 0;
      if (++c11 === 11) c11 = 0;
      if (++c10 === 10) c10 = 0;
      if (++c9 === 9) c9 = 0;
    }
    let total = 0;
    for (let m = 0; m < 16; m++) total += bins[m]!;
    rows[0]![2 * y] = total;
    for (let p = MIN_PERIOD; p <= MAX_PERIOD; p++) {
      const base = FOLD_BASE[p]!;
      const of = FOLD_START[base]!;
      // Bins of P from the fold of its multiple `base`: bin m sums base's bins m, m + P, …
      for (let m = 0; m < p; m++) {
        let s = 0;
        for (let q = m; q < base; q += p) s += bins[of + q]!;
        sub[m] = s;
      }
      const t = tw[p]!;
      let re = 0;
      let im = 0;
      for (let m = 0; m < p; m++) {
        re += sub[m]! * t[2 * m]!;
        im += sub[m]! * t[2 * m + 1]!;
      }
      const out = rows[1 + p - MIN_PERIOD]!;
      out[2 * y] = re;
      out[2 * y + 1] = -im;
    }
  }
  return rows;
}

/** The periods folded directly, and where each one's bins start in the fold array. */
const FOLDS = [16, 15, 14, 13, 12, 11, 10, 9];
const FOLD_START: number[] = [];
let FOLD_BINS = 0;
for (const p of FOLDS) {
  FOLD_START[p] = FOLD_BINS;
  FOLD_BINS += p;
}
/** Per period, the fold its bins are summed from (the largest folded multiple of it). */
const FOLD_BASE: number[] = [];
for (let p = MIN_PERIOD; p <= MAX_PERIOD; p++) FOLD_BASE[p] = FOLDS.find((f) => f % p === 0)!;

/** The tables the row transforms use (for tests of the WebAssembly kernel, which is given them). */
export function rowTransformTables(): { twiddles: Float64Array[]; foldStart: number[]; foldBase: number[] } {
  return { twiddles: twiddles(), foldStart: FOLD_START, foldBase: FOLD_BASE };
}

let twiddleTable: Float64Array[] | undefined;
/** Per period P: cos and sin of 2π·m/P, m = 0…P−1, interleaved. */
function twiddles(): Float64Array[] {
  if (!twiddleTable) {
    twiddleTable = [];
    for (let p = MIN_PERIOD; p <= MAX_PERIOD; p++) {
      const t = new Float64Array(2 * p);
      for (let m = 0; m < p; m++) {
        t[2 * m] = Math.cos((2 * Math.PI * m) / p);
        t[2 * m + 1] = Math.sin((2 * Math.PI * m) / p);
      }
      twiddleTable[p] = t;
    }
  }
  return twiddleTable;
}

/** |Σy rows(y)·e^{-2πi·fy·y}|², the rotation kept by recurrence. */
function columnPower(rows: Float64Array, h: number, fy: number): number {
  const stepRe = Math.cos(2 * Math.PI * fy);
  const stepIm = -Math.sin(2 * Math.PI * fy);
  let cRe = 1;
  let cIm = 0;
  let re = 0;
  let im = 0;
  for (let y = 0; y < h; y++) {
    const a = rows[2 * y]!;
    const b = rows[2 * y + 1]!;
    re += a * cRe - b * cIm;
    im += a * cIm + b * cRe;
    const nRe = cRe * stepRe - cIm * stepIm;
    cIm = cRe * stepIm + cIm * stepRe;
    cRe = nRe;
  }
  return re * re + im * im;
}
