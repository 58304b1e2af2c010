/**
 * The metric judge's instruction axis: for each edit op of the built-in grammar, the property
 * the instruction asks for, measured on source and edit, and scored 10 inside the band a
 * sensible edit lands in, falling linearly to 0 outside it (too little, wrong direction, or
 * over-done). Bands are in physical units (levels of 0–255, ratios, degrees of Lab hue).
 */
import sharp, { type Sharp } from 'sharp';
import type { EditSpec } from '../inference/instruction-grammar.ts';
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

/** Fraction of pixels with some channel at the end of the range (0 or 255): detail lost to clipping. */
function clipped(p: Planes): number {
  return frac(p.y, (_, i) => Math.max(p.r[i]!, p.g[i]!, p.b[i]!) >= 254 || Math.min(p.r[i]!, p.g[i]!, p.b[i]!) <= 1);
}

/** Score for new clipping (edit minus source fraction): full up to `ok`, 0 at `bad`. */
function clipScore(s: Planes, e: Planes, ok = 0.15, bad = 0.6): number {
  return band(clipped(e) - clipped(s), -Infinity, -Infinity, ok, bad);
}

/** Keeps the tonal spread and mean of the source (ops that change colour only). */
function toneKept(s: Planes, e: Planes): number {
  const r = Math.abs(Math.log((std(e.y) + 1) / (std(s.y) + 1)));
  const dm = Math.abs(mean(e.y) - mean(s.y));
  return Math.min(band(r, -Infinity, -Infinity, Math.log(1.2), Math.log(2)), band(dm, -Infinity, -Infinity, 15, 60));
}

/** Pixels whose channels are not in warm order R ≥ G ≥ B (3-level tolerance), among those with some colour. */
function warmOrderViolations(p: Planes): number {
  let n = 0;
  let c = 0;
  for (let i = 0; i < p.y.length; i++) {
    const r = p.r[i]!;
    const g = p.g[i]!;
    const b = p.b[i]!;
    if (Math.max(r, g, b) - Math.min(r, g, b) < 8) continue;
    c++;
    if (r < g - 3 || g < b - 3) n++;
  }
  return c ? n / p.y.length : 0;
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

/** Significant levels of the pooled R,G,B histogram: peaks (±3 levels) holding ≥ 2 % of values, and the share they hold. */
export function levelPeaks(p: Planes): { peaks: number[]; share: number } {
  const hist = new Float64Array(256);
  for (const ch of [p.r, p.g, p.b]) for (let i = 0; i < ch.length; i++) hist[Math.round(ch[i]!)]!++;
  const total = p.y.length * 3;
  const win = (c: number) => {
    let s = 0;
    for (let v = Math.max(0, c - 3); v <= Math.min(255, c + 3); v++) s += hist[v]!;
    return s;
  };
  const peaks: number[] = [];
  let share = 0;
  for (let k = 0; k < 16; k++) {
    let best = -1;
    let bestMass = 0;
    for (let c = 0; c < 256; c++) {
      const m = win(c);
      if (m > bestMass) {
        bestMass = m;
        best = c;
      }
    }
    if (best < 0 || bestMass < 0.02 * total) break;
    peaks.push(best);
    share += bestMass / total;
    for (let v = Math.max(0, best - 3); v <= Math.min(255, best + 3); v++) hist[v] = 0;
  }
  return { peaks: peaks.sort((a, b) => a - b), share };
}

/** Levels a posterized image has, from the spacing of its significant peaks: 1 + 255/median spacing; NaN with fewer than 2 peaks. */
function estimatedLevels(peaks: number[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < peaks.length; i++) if (peaks[i]! - peaks[i - 1]! > 10) gaps.push(peaks[i]! - peaks[i - 1]!);
  if (!gaps.length) return NaN;
  gaps.sort((a, b) => a - b);
  return 1 + 255 / gaps[gaps.length >> 1]!;
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
  const img = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const done = async (x: Sharp) => {
    const { data, info } = await x.raw().toBuffer({ resolveWithObject: true });
    return planesFromRgb(data, info.width, info.height);
  };
  switch (spec.op) {
    case 'flip_horizontal':
      return done(img().flop());
    case 'flip_vertical':
      return done(img().flip());
    case 'invert':
      return done(img().negate({ alpha: false }));
    case 'zoom': {
      const f = Math.min(8, Math.max(1.02, spec.amount ?? 1.5));
      const cw = Math.max(1, Math.round(w / f));
      const ch = Math.max(1, Math.round(h / f));
      return done(img().extract({ left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch }).resize(w, h, { fit: 'fill' }));
    }
    case 'rotate': {
      const deg = spec.amount ?? 90;
      const { data, info } = await img().rotate(deg, { background: '#000000' }).raw().toBuffer({ resolveWithObject: true });
      const t = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } });
      if (info.width >= w && info.height >= h && (info.width !== h || info.height !== w)) {
        return done(t.extract({ left: Math.floor((info.width - w) / 2), top: Math.floor((info.height - h) / 2), width: w, height: h }));
      }
      return done(t.resize(w, h, { fit: 'cover', position: 'centre' }));
    }
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
      const cs = meanChroma(s);
      const ce = meanChroma(e);
      const gray = cs < 4 ? band(ce, -Infinity, -Infinity, 3, 8) : band(1 - ce / cs, 0.5, 0.9, Infinity, Infinity);
      return Math.min(gray, toneKept(s, e));
    }
    case 'sepia': {
      const vs = warmOrderViolations(s);
      const ve = warmOrderViolations(e);
      const order = vs > 0.02 ? band(1 - ve / vs, 0.4, 0.85, Infinity, Infinity) : band(ve, -Infinity, -Infinity, 0.02, 0.1);
      const hue = hueRotation(e, e); // consistency of the edit's own hue is measured below
      void hue;
      const tinted = band(meanChroma(e), 2, 8, Infinity, Infinity);
      return Math.min(order, tinted, hueSpreadScore(s, e), toneKept(s, e));
    }
    case 'warmer':
    case 'cooler': {
      const sign = spec.op === 'warmer' ? 1 : -1;
      const d = sign * (mean(e.r) - mean(e.b) - (mean(s.r) - mean(s.b)));
      return Math.min(band(d, 5, 25, 110, 200), clipScore(s, e));
    }
    case 'brighter': {
      const d = mean(e.y) - mean(s.y);
      const hi = frac(e.y, (v) => v >= 250) - frac(s.y, (v) => v >= 250);
      return Math.min(band(d, 3, 12, 90, 160), band(hi, -Infinity, -Infinity, 0.2, 0.7));
    }
    case 'darker': {
      const q = (mean(e.y) + 1) / (mean(s.y) + 1);
      const lo = frac(e.y, (v) => v <= 5) - frac(s.y, (v) => v <= 5);
      return Math.min(band(q, 0.12, 0.3, 0.85, 0.97), band(lo, -Infinity, -Infinity, 0.2, 0.7));
    }
    case 'more_contrast':
    case 'less_contrast': {
      const r = (std(e.y) + 1) / (std(s.y) + 1);
      if (spec.op === 'less_contrast') return band(r, 0.1, 0.25, 0.85, 0.97);
      const cl = frac(e.y, (v) => v <= 5 || v >= 250) - frac(s.y, (v) => v <= 5 || v >= 250);
      return Math.min(band(r, 1.03, 1.15, 2.0, 3.0), band(cl, -Infinity, -Infinity, 0.2, 0.65));
    }
    case 'saturate':
    case 'desaturate': {
      const q = (meanChroma(e) + 1) / (meanChroma(s) + 1);
      if (spec.op === 'desaturate') return Math.min(band(q, 0.02, 0.1, 0.75, 0.92), toneKept(s, e));
      return Math.min(band(q, 1.03, 1.2, 2.4, 4), clipScore(s, e));
    }
    case 'hue_shift': {
      const want = wrap180(spec.amount ?? 90);
      const got = hueRotation(s, e);
      if (got.coverage < 0.02) return 0;
      const err = Math.abs(wrap180(got.degrees - want));
      return Math.min(band(err, -Infinity, -Infinity, 20, 75), band(got.consistency, 0.3, 0.6, Infinity, Infinity));
    }
    case 'blur':
    case 'sharpen': {
      const rf = (laplacianEnergy(e.y, e.width, e.height) + 0.05) / (laplacianEnergy(s.y, s.width, s.height) + 0.05);
      const ds = downsample(s.y, s.width, s.height, 4);
      const de = downsample(e.y, e.width, e.height, 4);
      const rm = (laplacianEnergy(de.data, de.width, de.height) + 0.05) / (laplacianEnergy(ds.data, ds.width, ds.height) + 0.05);
      if (spec.op === 'blur') return Math.min(band(rf, -Infinity, -Infinity, 0.6, 0.92), band(rm, 0.2, 0.55, Infinity, Infinity));
      return band(rf, 1.03, 1.15, 2.2, 3.5);
    }
    case 'posterize': {
      const want = spec.amount ?? 4;
      const pe = levelPeaks(e);
      const ps = levelPeaks(s);
      const concentrated = band(pe.share - ps.share, 0.05, 0.25, Infinity, Infinity) + 0 * ps.share;
      const levels = estimatedLevels(pe.peaks);
      const lv = Number.isNaN(levels) ? (pe.share > 0.85 ? 5 : 0) : band(Math.abs(Math.log2(levels / want)), -Infinity, -Infinity, 0.3, 0.9);
      return Math.min(concentrated, band(pe.share, 0.5, 0.8, Infinity, Infinity), lv);
    }
    case 'border': {
      const c = parseHex(spec.color);
      const want = Math.max(1, (spec.amount ?? 0.04 * Math.min(s.width, s.height) / nativeScale) * nativeScale);
      const te = frameThickness(e, c);
      const ts = frameThickness(s, c);
      const sides = te.map((t, i) => Math.max(0, t - ts[i]!)).sort((a, b) => a - b);
      if (sides[0] === 0) return 0;
      const got = (sides[1]! + sides[2]!) / 2;
      return band(got / want, 0.3, 0.6, 1.6, 3);
    }
    case 'caption':
      return captionScore(s, e);
    case 'flip_horizontal':
    case 'flip_vertical':
    case 'rotate':
    case 'zoom':
    case 'invert': {
      if (!t) return 0;
      const sT = ssim(e.y, t.y, e.width, e.height).ssim;
      const sI = ssim(e.y, s.y, e.width, e.height).ssim;
      const dT = 1 - sT;
      const dI = 1 - sI;
      const progress = dI / (dI + dT + 1e-9);
      return Math.min(band(progress, 0.5, 0.85, Infinity, Infinity), band(sT, 0.3, 0.8, Infinity, Infinity));
    }
    default: {
      const never: never = spec.op;
      return never;
    }
  }
}

/** Sepia collapses every hue onto one warm direction: the edit's hue consistency must rise toward 1. */
function hueSpreadScore(s: Planes, e: Planes): number {
  const spread = (p: Planes) => {
    const L = toLab(p);
    let re = 0;
    let im = 0;
    let w = 0;
    for (let i = 0; i < p.y.length; i++) {
      const c = Math.hypot(L.a[i]!, L.b[i]!);
      if (c < 3) continue;
      re += L.a[i]!;
      im += L.b[i]!;
      w += c;
    }
    return w ? Math.hypot(re, im) / w : 1;
  };
  const cs = spread(s);
  const ce = spread(e);
  if (cs > 0.97) return band(ce, 0.8, 0.95, Infinity, Infinity);
  return band((ce - cs) / (1 - cs), 0.3, 0.7, Infinity, Infinity);
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
