/**
 * Image measurements for the metric judge: decoding to float planes, SSIM and its structure
 * term, colour statistics, detail energy, and no-reference artifact measures (checkerboard,
 * noise, blockiness). Pure functions over Float32Array planes; values are on 0–255.
 */
import sharp from 'sharp';
import { ImageError, describeError } from '../errors/index.ts';
import { DEFAULT_MAX_PIXELS } from '../images.ts';

/** An image as float planes (0–255), row-major, with BT.709 luma. */
export interface Planes {
  width: number;
  height: number;
  r: Float32Array;
  g: Float32Array;
  b: Float32Array;
  y: Float32Array;
}

export function planesFromRgb(data: Uint8Array | Buffer, width: number, height: number): Planes {
  const n = width * height;
  const r = new Float32Array(n);
  const g = new Float32Array(n);
  const b = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    r[i] = data[j]!;
    g[i] = data[j + 1]!;
    b[i] = data[j + 2]!;
    y[i] = 0.2126 * r[i]! + 0.7152 * g[i]! + 0.0722 * b[i]!;
  }
  return { width, height, r, g, b, y };
}

function decodeError(what: string, err: unknown): ImageError {
  return new ImageError(`not a decodable image (${describeError(err)})`, { subject: what, cause: err });
}

/**
 * Decodes upright sRGB at the working resolution: long side `longSide` (never enlarged), or
 * exactly `size` when given (used to bring an edit onto its source's grid).
 */
export async function loadWorking(bytes: Buffer, what: string, opts: { longSide?: number; size?: { width: number; height: number }; maxPixels?: number } = {}): Promise<Planes> {
  try {
    let img = sharp(bytes, { failOn: 'error', limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS }).autoOrient().flatten({ background: '#000000' });
    img = opts.size
      ? img.resize(opts.size.width, opts.size.height, { fit: 'fill' })
      : img.resize({ width: opts.longSide ?? 256, height: opts.longSide ?? 256, fit: 'inside', withoutEnlargement: true });
    const { data, info } = await img.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return planesFromRgb(data, info.width, info.height);
  } catch (err) {
    throw decodeError(what, err);
  }
}

/**
 * A centre crop of at most `maxSide`² at native resolution, its origin on the 8-px grid, so
 * pixel-level artifacts (checkerboards, JPEG blocks) survive; resizing would wash them out.
 */
export async function loadNativeCrop(bytes: Buffer, what: string, maxSide = 384, maxPixels = DEFAULT_MAX_PIXELS): Promise<Planes> {
  try {
    const meta = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels }).metadata();
    const swap = (meta.orientation ?? 1) >= 5;
    const W = swap ? meta.height : meta.width;
    const H = swap ? meta.width : meta.height;
    const cw = Math.min(W, maxSide);
    const ch = Math.min(H, maxSide);
    const left = Math.floor((W - cw) / 2 / 8) * 8;
    const top = Math.floor((H - ch) / 2 / 8) * 8;
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels })
      .autoOrient()
      .extract({ left, top, width: cw, height: ch })
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return planesFromRgb(data, info.width, info.height);
  } catch (err) {
    throw decodeError(what, err);
  }
}

// ---------- filtering ----------

const GAUSS_11 = (() => {
  const k = new Float32Array(11);
  let s = 0;
  for (let i = 0; i < 11; i++) s += k[i] = Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5));
  for (let i = 0; i < 11; i++) k[i]! /= s;
  return k;
})();

/** Separable convolution with a symmetric kernel, edges clamped. */
export function convolveSep(src: Float32Array, w: number, h: number, k: Float32Array): Float32Array {
  const r = (k.length - 1) >> 1;
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
        s += k[i + r]! * src[row + xx]!;
      }
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
        s += k[i + r]! * tmp[yy * w + x]!;
      }
      out[y * w + x] = s;
    }
  }
  return out;
}

/** Gaussian kernel of standard deviation `sigma` pixels (radius 3σ). */
export function gaussianKernel(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= s;
  return k;
}

// ---------- SSIM ----------

const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;
const C3 = C2 / 2;

export interface SsimResult {
  /** Mean SSIM (luminance · contrast · structure), −1..1. */
  ssim: number;
  /** Mean structure term (σxy + C3)/(σxσy + C3): local correlation, blind to brightness and contrast changes. */
  structure: number;
}

/** SSIM of two same-size planes (Wang et al. 2004: 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03). */
export function ssim(a: Float32Array, b: Float32Array, w: number, h: number): SsimResult {
  if (a.length !== b.length || a.length !== w * h) throw new Error(`ssim: planes differ in size (${a.length} vs ${b.length})`);
  const n = w * h;
  const aa = new Float32Array(n);
  const bb = new Float32Array(n);
  const ab = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    aa[i] = a[i]! * a[i]!;
    bb[i] = b[i]! * b[i]!;
    ab[i] = a[i]! * b[i]!;
  }
  const ma = convolveSep(a, w, h, GAUSS_11);
  const mb = convolveSep(b, w, h, GAUSS_11);
  const saa = convolveSep(aa, w, h, GAUSS_11);
  const sbb = convolveSep(bb, w, h, GAUSS_11);
  const sab = convolveSep(ab, w, h, GAUSS_11);
  let sumS = 0;
  let sumT = 0;
  for (let i = 0; i < n; i++) {
    const mx = ma[i]!;
    const my = mb[i]!;
    const vx = Math.max(0, saa[i]! - mx * mx);
    const vy = Math.max(0, sbb[i]! - my * my);
    const cxy = sab[i]! - mx * my;
    sumS += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
    sumT += (cxy + C3) / (Math.sqrt(vx * vy) + C3);
  }
  return { ssim: sumS / n, structure: sumT / n };
}

// ---------- colour ----------

/** Mean chroma max(R,G,B) − min(R,G,B), 0–255. */
export function meanChroma(p: Planes): number {
  let s = 0;
  for (let i = 0; i < p.y.length; i++) s += Math.max(p.r[i]!, p.g[i]!, p.b[i]!) - Math.min(p.r[i]!, p.g[i]!, p.b[i]!);
  return s / p.y.length;
}

export function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

export function std(a: Float32Array): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return Math.sqrt(s / a.length);
}

const lin = (v: number) => {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
};
const LIN = Float32Array.from({ length: 256 }, (_, i) => lin(i));
const fLab = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);

/** CIE L*a*b* (D65) of every pixel. */
export function toLab(p: Planes): { L: Float32Array; a: Float32Array; b: Float32Array } {
  const n = p.y.length;
  const L = new Float32Array(n);
  const A = new Float32Array(n);
  const B = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = LIN[Math.round(p.r[i]!)]!;
    const g = LIN[Math.round(p.g[i]!)]!;
    const b = LIN[Math.round(p.b[i]!)]!;
    const x = fLab((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047);
    const y = fLab(0.2126 * r + 0.7152 * g + 0.0722 * b);
    const z = fLab((0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883);
    L[i] = 116 * y - 16;
    A[i] = 500 * (x - y);
    B[i] = 200 * (y - z);
  }
  return { L, a: A, b: B };
}

// ---------- detail ----------

/** Mean |Laplacian| (4-neighbour) of a plane: fine-detail energy in levels per pixel. */
export function laplacianEnergy(a: Float32Array, w: number, h: number): number {
  let s = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      s += Math.abs(4 * a[i]! - a[i - 1]! - a[i + 1]! - a[i - w]! - a[i + w]!);
      n++;
    }
  }
  return n ? s / n : 0;
}

/** Averages `f`×`f` blocks (drops the remainder): a coarser plane for mid-band measures. */
export function downsample(a: Float32Array, w: number, h: number, f: number): { data: Float32Array; width: number; height: number } {
  const W = Math.floor(w / f);
  const H = Math.floor(h / f);
  const out = new Float32Array(W * H);
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      let s = 0;
      for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) s += a[(Y * f + dy) * w + X * f + dx]!;
      out[Y * W + X] = s / (f * f);
    }
  }
  return { data: out, width: W, height: H };
}

// ---------- no-reference artifacts ----------

/**
 * Checkerboard amplitude: the largest Fourier amplitude (levels) of the luma at the fundamental
 * frequencies of a checker pattern with cells of 1–4 px, (±1/2c, 1/2c) cycles per pixel. Phase
 * free, so a pattern anywhere on the grid counts; natural images have almost nothing there.
 */
export function checkerboardAmplitude(p: Planes): number {
  const { width: w, height: h, y: Y } = p;
  let best = 0;
  for (const cell of [1, 2, 3, 4]) {
    const f = 1 / (2 * cell);
    const cx = Float64Array.from({ length: w }, (_, x) => Math.cos(2 * Math.PI * f * x));
    const sx = Float64Array.from({ length: w }, (_, x) => Math.sin(2 * Math.PI * f * x));
    // Row sums S(y) = Σx Y(x,y)·e^{-iωx}, then Σy S(y)·e^{∓iωy} for both diagonals.
    let reP = 0;
    let imP = 0;
    let reM = 0;
    let imM = 0;
    for (let y = 0; y < h; y++) {
      let re = 0;
      let im = 0;
      const row = y * w;
      for (let x = 0; x < w; x++) {
        re += Y[row + x]! * cx[x]!;
        im -= Y[row + x]! * sx[x]!;
      }
      const cy = Math.cos(2 * Math.PI * f * y);
      const sy = Math.sin(2 * Math.PI * f * y);
      // × e^{-iωy}
      reP += re * cy + im * sy;
      imP += im * cy - re * sy;
      // × e^{+iωy}
      reM += re * cy - im * sy;
      imM += im * cy + re * sy;
    }
    const n = w * h;
    best = Math.max(best, Math.hypot(reP, imP) / n, Math.hypot(reM, imM) / n);
  }
  return best * 2;
}

/**
 * Noise standard deviation estimate (levels), after Immerkær (1996) with a median instead of a
 * mean so edges and texture weigh less: σ ≈ median|M∗Y| / (0.6745·6), M the 3×3 Laplacian difference mask.
 */
export function noiseSigma(p: Planes): number {
  const { width: w, height: h, y: Y } = p;
  if (w < 3 || h < 3) return 0;
  const vals = new Float32Array((w - 2) * (h - 2));
  let k = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v =
        Y[i - w - 1]! - 2 * Y[i - w]! + Y[i - w + 1]! - 2 * Y[i - 1]! + 4 * Y[i]! - 2 * Y[i + 1]! + Y[i + w - 1]! - 2 * Y[i + w]! + Y[i + w + 1]!;
      vals[k++] = Math.abs(v);
    }
  }
  vals.sort();
  return vals[vals.length >> 1]! / (0.6745 * 6);
}

/**
 * Blockiness: the mean |luma step| across each column boundary (and row boundary); per phase
 * mod 8 the median over the boundaries of that phase (one strong edge, a frame or a caption
 * band, does not make a grid); then the strongest phase over the mean of the other seven.
 * 1 for a grid-free image, well above 1 for coarse JPEG blocks. Horizontal and vertical averaged.
 */
export function blockiness(p: Planes): number {
  const { width: w, height: h, y: Y } = p;
  const colStep = new Float64Array(Math.max(0, w - 1));
  const rowStep = new Float64Array(Math.max(0, h - 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (x < w - 1) colStep[x]! += Math.abs(Y[i + 1]! - Y[i]!) / h;
      if (y < h - 1) rowStep[y]! += Math.abs(Y[i + w]! - Y[i]!) / w;
    }
  }
  const ratio = (steps: Float64Array) => {
    if (steps.length < 16) return 1;
    const m = Array.from({ length: 8 }, (_, k) => {
      const v = Array.from(steps).filter((_, i) => (i & 7) === k).sort((a, b) => a - b);
      return v[v.length >> 1]!;
    });
    const top = m.indexOf(Math.max(...m));
    const rest = m.filter((_, i) => i !== top);
    return (m[top]! + 0.5) / (rest.reduce((a, b) => a + b, 0) / rest.length + 0.5);
  };
  return (ratio(colStep) + ratio(rowStep)) / 2;
}
