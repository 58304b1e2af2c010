/**
 * The metric judge's instruction axis: for each edit op of the built-in grammar, the property
 * the instruction asks for, measured on source and edit, and scored 10 inside the band a
 * sensible edit lands in, falling linearly to 0 outside it (too little, wrong direction, or
 * over-done). Bands are in physical units (levels of 0–255, ratios, degrees of Lab hue).
 */
import type { EditSpec } from './instruction-grammar.ts';
import { fromRaw, rotate, toRaw, zoomCentre, type RgbPixels } from './geometry.ts';
import { downsample, laplacianEnergy, mean, meanChroma, planesFromRgb, ssim, std, toLab, type Planes } from './image-measures.ts';

/** 10 on [fullLo, fullHi], linear to 0 at zeroLo and zeroHi (either side may be open: ±Infinity). */
export function band(x: number, zeroLo: number, fullLo: number, fullHi: number, zeroHi: number): number {
  if (!Number.isFinite(x)) return 0;
  if (x < fullLo) return x <= zeroLo ? 0 : (10 * (x - zeroLo)) / (fullLo - zeroLo);
  if (x > fullHi) return x >= zeroHi ? 0 : (10 * (zeroHi - x)) / (zeroHi - fullHi);
  return 10;
}

const frac = (a: Float32Array, pred: (v: number, i: number) => boolean) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (pred(a[i]!, i)) n++;
  return n / a.length;
};

/**
 * Fraction of pixels the edit clipped: some channel driven to 0 or 255 from at least 30 levels
 * away in the source (detail lost; dark pixels already near 0 do not count).
 */
function newlyClipped(s: Planes, e: Planes): number {
  let n = 0;
  for (let i = 0; i < s.y.length; i++) {
    for (const [a, b] of [[s.r, e.r], [s.g, e.g], [s.b, e.b]] as const) {
      if ((b[i]! >= 254 && a[i]! < 225) || (b[i]! <= 1 && a[i]! > 30)) {
        n++;
        break;
      }
    }
  }
  return n / s.y.length;
}

/** Score for detail lost to clipping: full up to `ok` of the pixels, 0 at `bad`. */
function clipScore(s: Planes, e: Planes, ok = 0.25, bad = 0.7): number {
  return band(newlyClipped(s, e), -Infinity, -Infinity, ok, bad);
}

/** Keeps the tonal spread and mean of the source (ops that change colour only). */
function toneKept(s: Planes, e: Planes, spread = 1.2, shift = 15): number {
  const r = Math.abs(Math.log((std(e.y) + 1) / (std(s.y) + 1)));
  const dm = Math.abs(mean(e.y) - mean(s.y));
  return Math.min(band(r, -Infinity, -Infinity, Math.log(spread), Math.log(spread) + Math.log(1.7)), band(dm, -Infinity, -Infinity, shift, shift + 45));
}

/**
 * How far the colour is from being a function of lightness: RMS of Lab (a, b) around its mean in
 * 32 lightness bins (0 for any tint of a grayscale image), pixels weighted by min(1, L/30) since
 * the chroma of near-black pixels is mostly quantisation; plus the mean chroma and the hue
 * (degrees) of the mean (a, b).
 */
export function chromaGivenLightness(p: Planes): { residual: number; chroma: number; hue: number } {
  const { L, a, b } = toLab(p);
  const n = p.y.length;
  const sa = new Float64Array(32);
  const sb = new Float64Array(32);
  const cnt = new Float64Array(32);
  const bin = (l: number) => Math.min(31, Math.max(0, Math.floor(l / 100 * 32)));
  let ta = 0;
  let tb = 0;
  let chroma = 0;
  for (let i = 0; i < n; i++) {
    const k = bin(L[i]!);
    sa[k]! += a[i]!;
    sb[k]! += b[i]!;
    cnt[k]!++;
    ta += a[i]!;
    tb += b[i]!;
    chroma += Math.hypot(a[i]!, b[i]!);
  }
  let r = 0;
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const k = bin(L[i]!);
    const w = Math.min(1, L[i]! / 30);
    r += w * ((a[i]! - sa[k]! / cnt[k]!) ** 2 + (b[i]! - sb[k]! / cnt[k]!) ** 2);
    wsum += w;
  }
  return { residual: wsum ? Math.sqrt(r / wsum) : 0, chroma: chroma / n, hue: (Math.atan2(tb, ta) * 180) / Math.PI };
}

/** Chroma-weighted circular mean of the Lab hue rotation from source to edit (degrees) and its consistency (0–1). */
export function hueRotation(s: Planes, e: Planes): { degrees: number; consistency: number; coverage: number } {
  const A = toLab(s);
  const B = toLab(e);
  let re = 0;
  let im = 0;
  let wsum = 0;
  let used = 0;
  for (let i = 0; i < s.y.length; i++) {
    const cs = Math.hypot(A.a[i]!, A.b[i]!);
    const ce = Math.hypot(B.a[i]!, B.b[i]!);
    if (cs < 8 || ce < 4) continue;
    const d = Math.atan2(B.b[i]!, B.a[i]!) - Math.atan2(A.b[i]!, A.a[i]!);
    const w = Math.min(cs, ce);
    re += w * Math.cos(d);
    im += w * Math.sin(d);
    wsum += w;
    used++;
  }
  if (!wsum) return { degrees: NaN, consistency: 0, coverage: 0 };
  return { degrees: (Math.atan2(im, re) * 180) / Math.PI, consistency: Math.hypot(re, im) / wsum, coverage: used / s.y.length };
}

const wrap180 = (d: number) => ((((d + 180) % 360) + 360) % 360) - 180;

/** Histogram of the R, G and B values pooled, normalised to sum 1. */
function channelHistogram(p: Planes): Float64Array {
  const hist = new Float64Array(256);
  for (const ch of [p.r, p.g, p.b]) for (let i = 0; i < ch.length; i++) hist[Math.round(ch[i]!)]!++;
  const n = 3 * p.y.length;
  for (let v = 0; v < 256; v++) hist[v]! /= n;
  return hist;
}

/** Share of channel values within ±10 levels of the `n` evenly spaced levels k·255/(n−1). */
function levelShare(hist: Float64Array, n: number): number {
  const step = 255 / (n - 1);
  let hit = 0;
  for (let v = 0; v < 256; v++) if (Math.abs(v - Math.round(v / step) * step) <= 10) hit += hist[v]!;
  return hit;
}

/**
 * Levels per channel of a posterized edit: the fewest evenly spaced levels (2–32) holding ≥ 75 %
 * of the edit's channel values and ≥ 20 % more than the source's; NaN when none does. Assumes
 * levels at k·255/(n−1), the usual posterize; JPEG spread is absorbed by the ±10 tolerance.
 */
export function posterizeLevels(s: Planes, e: Planes): number {
  const hs = channelHistogram(s);
  const he = channelHistogram(e);
  for (let n = 2; n <= 32; n++) {
    const me = levelShare(he, n);
    if (me >= 0.65 && me - levelShare(hs, n) >= 0.2) return n;
  }
  return NaN;
}

function parseHex(c: string | undefined): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(c ?? '');
  const n = m ? parseInt(m[1]!, 16) : 0xffffff;
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Rows (from top and bottom) and columns (from left and right) that are ≥ 90 % the colour `c` (within 40 levels per channel). */
function frameThickness(p: Planes, c: [number, number, number]): number[] {
  const { width: w, height: h } = p;
  const near = (i: number) => Math.abs(p.r[i]! - c[0]) <= 40 && Math.abs(p.g[i]! - c[1]) <= 40 && Math.abs(p.b[i]! - c[2]) <= 40;
  const rowOk = (y: number) => {
    let n = 0;
    for (let x = 0; x < w; x++) if (near(y * w + x)) n++;
    return n >= 0.9 * w;
  };
  const colOk = (x: number) => {
    let n = 0;
    for (let y = 0; y < h; y++) if (near(y * w + x)) n++;
    return n >= 0.9 * h;
  };
  const run = (ok: (i: number) => boolean, from: number, step: number, max: number) => {
    let t = 0;
    while (t < max && ok(from + t * step)) t++;
    return t;
  };
  return [run(rowOk, 0, 1, h >> 1), run(rowOk, h - 1, -1, h >> 1), run(colOk, 0, 1, w >> 1), run(colOk, w - 1, -1, w >> 1)];
}

/** The expected geometric or tonal transform of the source, as the edit's grid sees it; null for other ops. */
export async function expectedTransform(s: Planes, spec: EditSpec): Promise<Planes | null> {
  const { width: w, height: h } = s;
  const rgb = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    rgb[3 * i] = Math.round(s.r[i]!);
    rgb[3 * i + 1] = Math.round(s.g[i]!);
    rgb[3 * i + 2] = Math.round(s.b[i]!);
  }
  const src: RgbPixels = { data: rgb, width: w, height: h };
  const done = (p: RgbPixels) => planesFromRgb(p.data, p.width, p.height);
  switch (spec.op) {
    case 'flip_horizontal':
      return done(await toRaw(fromRaw(src).flop()));
    case 'flip_vertical':
      return done(await toRaw(fromRaw(src).flip()));
    case 'invert':
      return done(await toRaw(fromRaw(src).negate({ alpha: false })));
    case 'zoom':
      return done(await zoomCentre(src, spec.amount ?? 1.5));
    case 'rotate':
      return done(await rotate(src, spec.amount ?? 90));
    default:
      return null;
  }
}

/**
 * Instruction score 0–10 for `spec` from source `s` to edit `e` (same grid). `t` is the
 * expected transform for flip/rotate/zoom/invert. `nativeScale` = working px per source px.
 */
export function instructionScore(spec: EditSpec, s: Planes, e: Planes, t: Planes | null, nativeScale: number): number {
  switch (spec.op) {
    case 'grayscale': {
      // Chroma gone (≥ 90 % of it), tone kept.
      const cs = meanChroma(s);
      const ce = meanChroma(e);
      const gray = cs < 4 ? band(ce, -Infinity, -Infinity, 3, 8) : band(1 - ce / cs, 0.5, 0.9, Infinity, Infinity);
      return Math.min(gray, toneKept(s, e));
    }
    case 'sepia': {
      // A sepia print's colour is a function of lightness alone, warm, and visibly tinted.
      const rs = chromaGivenLightness(s);
      const re = chromaGivenLightness(e);
      const monotone = rs.residual < 2 ? band(re.residual, -Infinity, -Infinity, 3, 6) : band(1 - re.residual / rs.residual, 0.4, 0.8, Infinity, Infinity);
      return Math.min(monotone, band(re.hue, -20, 20, 110, 150), band(re.chroma, 1, 3, Infinity, Infinity), toneKept(s, e, 1.35, 40));
    }
    case 'warmer':
    case 'cooler': {
      // The shift of R − B, relative to the source's brightness (+40 levels): a warm cast on a dark image is small in levels.
      const sign = spec.op === 'warmer' ? 1 : -1;
      const d = (sign * (mean(e.r) - mean(e.b) - (mean(s.r) - mean(s.b)))) / (mean(s.y) + 40);
      return Math.min(band(d, 0.02, 0.1, 0.65, 1.1), clipScore(s, e));
    }
    case 'brighter': {
      // The rise of mean luma relative to the source's (+40 levels), and highlights not blown out.
      const d = (mean(e.y) - mean(s.y)) / (mean(s.y) + 40);
      const hi = frac(e.y, (v) => v >= 250) - frac(s.y, (v) => v >= 250);
      return Math.min(band(d, 0.02, 0.08, 0.55, 1.0), band(hi, -Infinity, -Infinity, 0.2, 0.7));
    }
    case 'darker': {
      // Mean luma ratio: 0.3–0.85 of the source, and shadows not crushed to black.
      const q = (mean(e.y) + 1) / (mean(s.y) + 1);
      const lo = frac(e.y, (v) => v <= 5) - frac(s.y, (v) => v <= 5);
      return Math.min(band(q, 0.12, 0.3, 0.85, 0.97), band(lo, -Infinity, -Infinity, 0.2, 0.7));
    }
    case 'more_contrast':
    case 'less_contrast': {
      // Luma spread ratio: 1.15–2× (more) or 0.25–0.85× (less); more contrast must not clip most of the image.
      const r = (std(e.y) + 1) / (std(s.y) + 1);
      if (spec.op === 'less_contrast') return band(r, 0.1, 0.25, 0.85, 0.97);
      return Math.min(band(r, 1.03, 1.15, 2.0, 3.0), clipScore(s, e, 0.35, 0.8));
    }
    case 'saturate':
    case 'desaturate': {
      // Mean chroma ratio: 1.2–2.4× (saturate) or 0.1–0.75× (desaturate).
      const q = (meanChroma(e) + 1) / (meanChroma(s) + 1);
      if (spec.op === 'desaturate') return Math.min(band(q, 0.02, 0.1, 0.75, 0.92), toneKept(s, e));
      return Math.min(band(q, 1.03, 1.2, 2.4, 4), clipScore(s, e));
    }
    case 'hue_shift': {
      // Lab hue rotation within 20° of the angle asked, consistent across pixels.
      const want = wrap180(spec.amount ?? 90);
      const got = hueRotation(s, e);
      if (got.coverage < 0.02) return 0;
      const err = Math.abs(wrap180(got.degrees - want));
      return Math.min(band(err, -Infinity, -Infinity, 20, 75), band(got.consistency, 0.3, 0.6, Infinity, Infinity));
    }
    case 'blur':
    case 'sharpen': {
      // Fine detail (|Laplacian|) ratio; blur must also keep mid-band detail (at 1/4 scale), or it is over-done.
      const rf = (laplacianEnergy(e.y, e.width, e.height) + 0.05) / (laplacianEnergy(s.y, s.width, s.height) + 0.05);
      const ds = downsample(s.y, s.width, s.height, 4);
      const de = downsample(e.y, e.width, e.height, 4);
      const rm = (laplacianEnergy(de.data, de.width, de.height) + 0.05) / (laplacianEnergy(ds.data, ds.width, ds.height) + 0.05);
      if (spec.op === 'blur') return Math.min(band(rf, -Infinity, -Infinity, 0.6, 0.92), band(rm, 0.2, 0.55, Infinity, Infinity));
      return band(rf, 1.1, 1.35, 2.5, 3.6);
    }
    case 'posterize': {
      const want = spec.amount ?? 4;
      const got = posterizeLevels(s, e);
      return Number.isNaN(got) ? 0 : band(Math.abs(Math.log2(got / want)), -Infinity, -Infinity, 0.3, 0.9);
    }
    case 'border': {
      const c = parseHex(spec.color);
      // Thickness asked (source px, scaled to the working grid), else the usual 4 % of the short side.
      const want = Math.max(1, spec.amount !== undefined ? spec.amount * nativeScale : 0.04 * Math.min(s.width, s.height));
      const te = frameThickness(e, c);
      const ts = frameThickness(s, c);
      const sides = te.map((t, i) => Math.max(0, t - ts[i]!)).sort((a, b) => a - b);
      if (sides[0] === 0) return 0;
      const got = (sides[1]! + sides[2]!) / 2;
      return band(got / want, 0.3, 0.6, 1.6, 3);
    }
    case 'caption':
      return captionScore(s, e);
    case 'zoom':
      return zoomScore(s, e, spec.amount ?? 1.5);
    case 'rotate':
      // A tilt is measured by the angle that fits; a quarter turn is exact, compared with the turned source.
      return (spec.amount ?? 90) % 90 !== 0 ? tiltScore(s, e, spec.amount!) : transformScore(s, e, t);
    case 'flip_horizontal':
    case 'flip_vertical':
    case 'invert':
      return transformScore(s, e, t);
    default: {
      const never: never = spec.op;
      return never;
    }
  }
}

/**
 * An exact transform (flip, quarter turn, inversion): progress = how much closer the edit is to
 * the transformed source than to the source (by SSIM distance), and fidelity = SSIM to the
 * transformed source (an over-done tone push lowers it).
 */
function transformScore(s: Planes, e: Planes, t: Planes | null): number {
  if (!t) return 0;
  const sT = ssim(e.y, t.y, e.width, e.height).ssim;
  const sI = ssim(e.y, s.y, e.width, e.height).ssim;
  const progress = (1 - sI) / (2 - sI - sT + 1e-9);
  return Math.min(band(progress, 0.5, 0.85, Infinity, Infinity), band(sT, 0.3, 0.9, Infinity, Infinity));
}

/** The luma turned `deg` clockwise about the centre on the same grid, black outside (bilinear). */
export function rotateLuma(y: Float32Array, w: number, h: number, deg: number): Float32Array {
  const out = new Float32Array(w * h);
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const sn = Math.sin(t);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const dx = i - cx;
      const dy = j - cy;
      const sx = c * dx + sn * dy + cx;
      const sy = -sn * dx + c * dy + cy;
      if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) continue;
      const xi = Math.min(w - 2, Math.floor(sx));
      const yi = Math.min(h - 2, Math.floor(sy));
      const fx = sx - xi;
      const fy = sy - yi;
      const k = yi * w + xi;
      out[j * w + i] = (y[k]! * (1 - fx) + y[k + 1]! * fx) * (1 - fy) + (y[k + w]! * (1 - fx) + y[k + w + 1]! * fx) * fy;
    }
  }
  return out;
}

/**
 * A tilt (not a quarter turn): the angle that best explains the edit (SSIM at half resolution
 * against the source turned by 0.2–3.5× the angle asked, then refined) against the angle asked;
 * 10 within 1.75× of it, 0 at 3.5× off, and 0 when the best fit is no turn or fits poorly.
 */
function tiltScore(s: Planes, e: Planes, want: number): number {
  const hs = downsample(s.y, s.width, s.height, 2);
  const he = downsample(e.y, e.width, e.height, 2);
  const fit = (deg: number) => ssim(he.data, rotateLuma(hs.data, hs.width, hs.height, deg), he.width, he.height).ssim;
  let best = 0;
  let bestSsim = fit(0);
  for (let k = 0.2; k <= 3.5; k *= 1.15) {
    const v = fit(want * k);
    if (v > bestSsim) [best, bestSsim] = [want * k, v];
  }
  if (best === 0) return 0;
  const coarse = best;
  for (let k = -3; k <= 3; k++) {
    if (k === 0) continue;
    const v = fit(coarse * 1.04 ** k);
    if (v > bestSsim) [best, bestSsim] = [coarse * 1.04 ** k, v];
  }
  return Math.min(band(Math.abs(Math.log(best / want)), -Infinity, -Infinity, Math.log(1.75), Math.log(3.5)), band(bestSsim, 0.3, 0.7, Infinity, Infinity));
}

/** Centre crop 1/f of the luma, scaled back up bilinearly to the full grid. */
export function zoomLuma(y: Float32Array, w: number, h: number, f: number): Float32Array {
  const out = new Float32Array(w * h);
  const cw = w / f;
  const ch = h / f;
  const x0 = (w - cw) / 2;
  const y0 = (h - ch) / 2;
  for (let j = 0; j < h; j++) {
    const sy = Math.min(h - 1, Math.max(0, y0 + ((j + 0.5) * ch) / h - 0.5));
    const yi = Math.floor(sy);
    const fy = sy - yi;
    const y1 = Math.min(h - 1, yi + 1);
    for (let i = 0; i < w; i++) {
      const sx = Math.min(w - 1, Math.max(0, x0 + ((i + 0.5) * cw) / w - 0.5));
      const xi = Math.floor(sx);
      const fx = sx - xi;
      const x1 = Math.min(w - 1, xi + 1);
      const top = y[yi * w + xi]! * (1 - fx) + y[yi * w + x1]! * fx;
      const bot = y[y1 * w + xi]! * (1 - fx) + y[y1 * w + x1]! * fx;
      out[j * w + i] = top * (1 - fy) + bot * fy;
    }
  }
  return out;
}

/**
 * Zoom: the factor that best explains the edit (SSIM against centre crops of the source at
 * half resolution, 1–4× in 10 % steps, then refined in 2 % steps) against the factor asked;
 * 10 within 1.25× of it, 0 at 2× off, and 0 when the best fit is no zoom or fits poorly.
 */
function zoomScore(s: Planes, e: Planes, want: number): number {
  const hs = downsample(s.y, s.width, s.height, 2);
  const he = downsample(e.y, e.width, e.height, 2);
  const fit = (f: number) => ssim(he.data, zoomLuma(hs.data, hs.width, hs.height, f), he.width, he.height).ssim;
  let best = 1;
  let bestSsim = fit(1);
  for (let f = 1.1; f <= 4; f *= 1.1) {
    const v = fit(f);
    if (v > bestSsim) [best, bestSsim] = [f, v];
  }
  const coarse = best;
  for (let k = -4; k <= 4; k++) {
    const f = coarse * 1.02 ** k;
    if (k === 0 || f < 1) continue;
    const v = fit(f);
    if (v > bestSsim) [best, bestSsim] = [f, v];
  }
  if (best < 1.03) return 0;
  return Math.min(band(Math.abs(Math.log(best / want)), -Infinity, -Infinity, Math.log(1.25), Math.log(2)), band(bestSsim, 0.3, 0.7, Infinity, Infinity));
}

/** A caption: a horizontal band of changed rows (5–25 % of the height) holding high-contrast strokes. */
function captionScore(s: Planes, e: Planes): number {
  const { width: w, height: h } = s;
  const rowChanged = new Float32Array(h);
  for (let y = 0; y < h; y++) {
    let n = 0;
    for (let x = 0; x < w; x++) if (Math.abs(e.y[y * w + x]! - s.y[y * w + x]!) > 12) n++;
    rowChanged[y] = n / w;
  }
  // The longest run of rows where at least 5 % of pixels changed (text rows alone qualify on a dark band over a dark image).
  let best = 0;
  let bestEnd = -1;
  let run = 0;
  for (let y = 0; y < h; y++) {
    run = rowChanged[y]! >= 0.05 ? run + 1 : 0;
    if (run > best) {
      best = run;
      bestEnd = y;
    }
  }
  if (!best) return 0;
  const top = bestEnd - best + 1;
  let strokes = 0;
  let n = 0;
  for (let y = top; y <= bestEnd; y++) {
    for (let x = 1; x < w; x++) {
      n++;
      if (Math.abs(e.y[y * w + x]! - e.y[y * w + x - 1]!) > 60 && Math.abs(e.y[y * w + x]! - s.y[y * w + x]!) > 12) strokes++;
    }
  }
  const bandScore = band(best / h, 0.02, 0.05, 0.25, 0.45);
  const textScore = band(strokes / Math.max(1, n), 0.002, 0.01, Infinity, Infinity);
  return Math.min(bandScore, textScore);
}
