/**
 * The built-in CPU editor: performs an EditSpec on a source image with real sharp operations,
 * at a strength and with known defects drawn from the seed, so the curation stages downstream
 * have honest differences to tell apart (weak, over-done, shifted, zoomed, artefacted edits).
 * Same source, spec and variant → same bytes.
 */
import sharp, { type Matrix3x3, type Sharp } from 'sharp';
import { ImageError } from '../errors/index.ts';
import type { EditSpec } from './instruction-grammar.ts';
import { mulberry32 as rng } from '../rng.ts';
import { DEFAULT_MAX_PIXELS } from '../images.ts';
import { fromRaw, rotate, toRaw, zoomCentre, type RgbPixels } from './geometry.ts';

export type { RgbPixels } from './geometry.ts';

export type Defect = 'weak' | 'overdone' | 'shift' | 'zoom' | 'checkerboard' | 'noise' | 'blocky';

export const DEFECTS: readonly Defect[] = ['weak', 'overdone', 'shift', 'zoom', 'checkerboard', 'noise', 'blocky'];

/** How one candidate is rendered: `strength` ~0.5..1.5 (1 = nominal), plus at most one known defect. */
export interface EditVariant {
  strength: number;
  defects: Defect[];
}

/** Fraction of seeds that render a clean candidate (no defect). */
const CLEAN_FRACTION = 0.55;
/** JPEG quality of normal output, and the range used for the 'blocky' defect. */
const JPEG_QUALITY = 90;
/** Default decompression-bomb limit (pixels) when the caller gives none. */


/** Mixes any finite number (seeds may exceed 32 bits) into a 32-bit hash. */
function hash32(x: number): number {
  const lo = Math.trunc(x) >>> 0;
  const hi = Math.trunc(x / 4294967296) >>> 0;
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi + 0x27d4eb2f, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The variant a seed renders: deterministic; about 55 % of seeds are clean (strength 0.6–1.4),
 * the rest carry exactly one defect. 'weak' has strength 0.03–0.1, 'overdone' 2.6–3.4.
 */
export function variantForSeed(seed: number): EditVariant {
  const r = rng(hash32(seed));
  const u = r();
  const v = r();
  if (u < CLEAN_FRACTION) return { strength: round3(0.6 + 0.8 * v), defects: [] };
  const defect = DEFECTS[Math.min(DEFECTS.length - 1, Math.floor(((u - CLEAN_FRACTION) / (1 - CLEAN_FRACTION)) * DEFECTS.length))]!;
  if (defect === 'weak') return { strength: round3(0.03 + 0.07 * v), defects: [defect] };
  if (defect === 'overdone') return { strength: round3(2.6 + 0.8 * v), defects: [defect] };
  return { strength: round3(0.7 + 0.6 * v), defects: [defect] };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Decodes any image sharp reads into upright 3-channel sRGB (EXIF orientation applied, alpha flattened). */
export async function decodeSource(source: Buffer, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbPixels> {
  try {
    return await toRaw(sharp(source, { limitInputPixels: maxPixels, failOn: 'error' }).autoOrient().flatten({ background: '#000000' }));
  } catch (err) {
    throw new ImageError(`not a decodable image (${(err as Error).message})`, { subject: 'image', cause: err });
  }
}

const isPixels = (x: RgbPixels | Sharp): x is RgbPixels => Buffer.isBuffer((x as Partial<RgbPixels>).data);

/** Runs a pending pipeline to pixels (pixels pass through). */
async function materialize(x: RgbPixels | Sharp): Promise<RgbPixels> {
  return isPixels(x) ? x : toRaw(x);
}

const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
const contrast = (a: number) => [a, 128 * (1 - a)] as const;

/** Ops with no natural magnitude: strength only shows when it is over-done. */
const DISCRETE = new Set(['flip_horizontal', 'flip_vertical', 'invert', 'rotate']);

const LUMA: [number, number, number] = [0.2126, 0.7152, 0.0722];
const SEPIA: Matrix3x3 = [
  [0.393, 0.769, 0.189],
  [0.349, 0.686, 0.168],
  [0.272, 0.534, 0.131],
];

function mixMatrix(m: Matrix3x3, t: number): Matrix3x3 {
  const mix = (i: number, j: number) => t * m[i]![j]! + (1 - t) * (i === j ? 1 : 0);
  return [0, 1, 2].map((i) => [mix(i, 0), mix(i, 1), mix(i, 2)]) as Matrix3x3;
}

/**
 * Performs `spec` at strength `s` on `src`; the result always has the source's size. Pointwise
 * and filter ops come back as an unexecuted sharp pipeline (so a clean candidate goes from raw
 * pixels to JPEG in one libvips pass); the others as pixels.
 */
async function applyOp(src: RgbPixels, spec: EditSpec, s: number): Promise<RgbPixels | Sharp> {
  const { width: w, height: h } = src;
  const scale = Math.min(w, h) / 512; // spatial sizes are tuned at 512 px
  const img = fromRaw(src);
  switch (spec.op) {
    case 'grayscale': {
      const [a, b] = contrast(1 + 0.35 * (s - 1));
      return (img.recomb([LUMA, LUMA, LUMA]).linear(a, b));
    }
    case 'sepia': {
      const [a, b] = contrast(s > 1 ? 1 + 0.3 * (s - 1) : 1);
      return (img.recomb(mixMatrix(SEPIA, Math.min(1, 0.5 + 0.5 * s))).linear(a, b));
    }
    case 'warmer':
      return (img.linear([1 + 0.18 * s, 1 + 0.04 * s, Math.max(0, 1 - 0.2 * s)], [10 * s, 2 * s, -10 * s]));
    case 'cooler':
      return (img.linear([Math.max(0, 1 - 0.2 * s), 1 + 0.02 * s, 1 + 0.18 * s], [-10 * s, 0, 10 * s]));
    case 'brighter':
      return (img.linear(1 + 0.35 * s, 14 * s));
    case 'darker':
      return (img.linear(Math.max(0.05, 1 - 0.38 * s), 0));
    case 'more_contrast':
      return (img.linear(...contrast(1 + 0.6 * s)));
    case 'less_contrast':
      return (img.linear(...contrast(Math.max(0.05, 1 - 0.5 * s))));
    case 'saturate':
      return (img.modulate({ saturation: 1 + 1.0 * s }));
    case 'desaturate':
      return (img.modulate({ saturation: Math.max(0, 1 - 0.6 * s) }));
    case 'hue_shift':
      return (img.modulate({ hue: Math.round((spec.amount ?? 90) * s) }));
    case 'blur':
      return (img.blur(Math.max(0.3, 4 * s * scale)));
    case 'sharpen':
      return (img.sharpen({ sigma: Math.max(0.5, 1.2 * scale), m1: 1.5 * s, m2: 3 * s, y2: 10 + 10 * s, y3: 20 + 20 * s }));
    case 'posterize':
      return posterize(src, Math.min(128, Math.max(2, Math.round((spec.amount ?? 4) / s))));
    case 'border':
      return border(src, spec.color ?? '#ffffff', Math.max(1, Math.min(Math.floor(Math.min(w, h) / 3), Math.round((spec.amount ?? 0.04 * Math.min(w, h)) * s))));
    case 'caption':
      return caption(src, spec.text ?? '', s);
    case 'flip_horizontal':
      return (img.flop());
    case 'flip_vertical':
      return (img.flip());
    case 'invert':
      return (img.negate({ alpha: false }));
    case 'rotate': {
      const amount = spec.amount ?? 90;
      return rotate(src, amount % 90 === 0 ? amount : amount * s);
    }
    case 'zoom':
      return zoomCentre(src, 1 + ((spec.amount ?? 1.5) - 1) * s);
    default: {
      const never: never = spec.op;
      throw new Error(`unknown op ${String(never)}`);
    }
  }
}

function posterize(src: RgbPixels, levels: number): RgbPixels {
  const out = Buffer.allocUnsafe(src.data.length);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = clampByte((Math.round((v / 255) * (levels - 1)) * 255) / (levels - 1));
  for (let i = 0; i < src.data.length; i++) out[i] = lut[src.data[i]!]!;
  return { ...src, data: out };
}

function parseColor(c: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(c);
  const n = m ? parseInt(m[1]!, 16) : 0xffffff;
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Paints a frame of `t` pixels over the image edges (content is not moved, so faces stay put). */
function border(src: RgbPixels, color: string, t: number): RgbPixels {
  const { width: w, height: h } = src;
  const out = Buffer.from(src.data);
  const [r, g, b] = parseColor(color);
  for (let y = 0; y < h; y++) {
    const edgeRow = y < t || y >= h - t;
    for (let x = 0; x < w; x++) {
      if (!edgeRow && x >= t && x < w - t) {
        x = w - t - 1;
        continue;
      }
      const i = (y * w + x) * 3;
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = b;
    }
  }
  return { ...src, data: out };
}

const xmlEscape = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A dark band along the bottom with the caption text in white (DejaVu/Liberation via fontconfig). */
async function caption(src: RgbPixels, text: string, s: number): Promise<RgbPixels> {
  const { width: w, height: h } = src;
  const band = Math.max(12, Math.round(h * 0.14 * Math.min(2.5, Math.max(0.6, s))));
  const fontSize = Math.round(band * 0.6);
  const estWidth = text.length * fontSize * 0.6;
  const fit = estWidth > w * 0.92 ? ` textLength="${Math.round(w * 0.92)}" lengthAdjust="spacingAndGlyphs"` : '';
  const opacity = Math.min(0.95, 0.45 + 0.25 * s).toFixed(2);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    `<rect x="0" y="${h - band}" width="${w}" height="${band}" fill="#000" fill-opacity="${opacity}"/>` +
    `<text x="${w / 2}" y="${h - band / 2}" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-weight="bold" font-size="${fontSize}" fill="#fff" text-anchor="middle" dominant-baseline="central"${fit}>${xmlEscape(text)}</text>` +
    `</svg>`;
  return toRaw(fromRaw(src).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]));
}

/** out = a + alpha·(b − a), per byte (fixed point, alpha in 1/256 steps). */
function blend(a: RgbPixels, b: RgbPixels, alpha: number): RgbPixels {
  const k = Math.round(Math.min(1, Math.max(0, alpha)) * 256);
  const out = Buffer.allocUnsafe(a.data.length);
  const da = a.data;
  const db = b.data;
  for (let i = 0; i < da.length; i++) out[i] = da[i]! + ((k * (db[i]! - da[i]!) + 128) >> 8);
  return { ...a, data: out };
}

/** Translates the content right (or left) by dx pixels, repeating the edge column into the gap. */
function shiftX(src: RgbPixels, dx: number): RgbPixels {
  const { width: w, height: h } = src;
  const out = Buffer.allocUnsafe(src.data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - dx));
      const o = row + x * 3;
      const i = row + sx * 3;
      out[o] = src.data[i]!;
      out[o + 1] = src.data[i + 1]!;
      out[o + 2] = src.data[i + 2]!;
    }
  }
  return { ...src, data: out };
}

/**
 * The 'checkerboard' defect: ±`amp` grey levels on every channel in square cells of `cell` px
 * (the pattern repeats every 2·cell px). Exported as ground truth for the artifact check.
 */
export function checkerboard(src: RgbPixels, cell: number, amp: number): RgbPixels {
  const { width: w, height: h } = src;
  const out = Buffer.allocUnsafe(src.data.length);
  for (let y = 0; y < h; y++) {
    const cy = Math.floor(y / cell);
    for (let x = 0; x < w; x++) {
      const d = ((Math.floor(x / cell) + cy) & 1) === 0 ? amp : -amp;
      const i = (y * w + x) * 3;
      out[i] = clampByte(src.data[i]! + d);
      out[i + 1] = clampByte(src.data[i + 1]! + d);
      out[i + 2] = clampByte(src.data[i + 2]! + d);
    }
  }
  return { ...src, data: out };
}

const NOISE_TABLE_SIZE = 1 << 16;

/**
 * Adds gaussian noise of `sigma`: a table of normal samples (Box–Muller, drawn from `r`) indexed
 * by a seeded xorshift per byte, which keeps 1024×1024 images at a few milliseconds.
 */
function gaussianNoise(src: RgbPixels, sigma: number, r: () => number): RgbPixels {
  const table = new Int16Array(NOISE_TABLE_SIZE);
  for (let i = 0; i < NOISE_TABLE_SIZE; i += 2) {
    const mag = sigma * Math.sqrt(-2 * Math.log(Math.max(1e-12, r())));
    const angle = 2 * Math.PI * r();
    table[i] = Math.round(mag * Math.cos(angle));
    table[i + 1] = Math.round(mag * Math.sin(angle));
  }
  let x = (Math.floor(r() * 0xffffffff) | 1) >>> 0;
  const out = Buffer.allocUnsafe(src.data.length);
  const data = src.data;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = data[i]! + table[(x >>> 16) & (NOISE_TABLE_SIZE - 1)]!;
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { ...src, data: out };
}

/**
 * Renders one candidate: the op at the variant's strength, then the variant's defect, encoded as
 * JPEG at the source's (upright) size. Throws ImageError when `source` is not a decodable image.
 */
export async function renderEdit(
  source: Buffer,
  spec: EditSpec,
  variant: EditVariant,
  opts: { maxPixels?: number } = {},
): Promise<{ bytes: Buffer; width: number; height: number }> {
  const src = await decodeSource(source, opts.maxPixels);
  return renderDecoded(src, spec, variant);
}

/** As renderEdit, on already-decoded pixels (the server decodes once for all n candidates). */
export async function renderDecoded(src: RgbPixels, spec: EditSpec, variant: EditVariant): Promise<{ bytes: Buffer; width: number; height: number }> {
  const defects = new Set(variant.defects);
  // Defect magnitudes are drawn from the variant itself, so the same variant renders the same bytes.
  const r = rng(hash32(Math.round(variant.strength * 1e6)) ^ 0x5bd1e995);
  const s = variant.strength;
  const quality = defects.has('blocky') ? 2 + Math.floor(4 * r()) : JPEG_QUALITY;
  const encode = (img: Sharp) => img.jpeg({ quality, chromaSubsampling: defects.has('checkerboard') ? '4:4:4' : '4:2:0' }).toBuffer();
  if (defects.has('weak')) {
    const out = blend(src, await materialize(await applyOp(src, spec, 1)), Math.min(1, Math.max(0, s)));
    return { bytes: await encode(fromRaw(out)), width: out.width, height: out.height };
  }
  const op = await applyOp(src, spec, s);
  const overdoneDiscrete = DISCRETE.has(spec.op) && s > 1.5;
  if (!overdoneDiscrete && !defects.has('shift') && !defects.has('zoom') && !defects.has('checkerboard') && !defects.has('noise')) {
    // Fast path (clean and 'blocky' candidates): one pass from pixels through the op to JPEG.
    return { bytes: await encode(isPixels(op) ? fromRaw(op) : op), width: src.width, height: src.height };
  }
  let out = await materialize(op);
  if (overdoneDiscrete) {
    // Over-done flips, inversions and quarter turns: the op plus a crushing contrast and saturation push.
    out = await toRaw(fromRaw(out).linear(...contrast(1 + 0.5 * (s - 1))).modulate({ saturation: 1 + 0.5 * (s - 1) }));
  }
  if (defects.has('shift')) {
    const frac = 0.08 + 0.07 * r();
    out = shiftX(out, Math.round(frac * out.width) * (r() < 0.5 ? -1 : 1));
  }
  if (defects.has('zoom')) out = await zoomCentre(out, 1.2 + 0.2 * r());
  if (defects.has('checkerboard')) out = checkerboard(out, 2 + Math.floor(3 * r()), 26 + 14 * r());
  if (defects.has('noise')) out = gaussianNoise(out, 14 + 10 * r(), r);
  return { bytes: await encode(fromRaw(out)), width: out.width, height: out.height };
}
