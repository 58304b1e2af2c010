/**
 * The change check (after NoHumansRequired): an edit must change something, and what it changes
 * must form a region, not scattered specks. Per pixel `D = max over RGB |edit − source|` at the
 * source resolution (the edit is resized to it first); a pixel changed when `D > pixelThreshold`;
 * changed pixels are grouped into 4-connected components.
 *
 * - `no_change`: changed pixels are under NO_CHANGE_FRACTION of the image;
 * - `noise_only`: something changed but the largest component is under MIN_REGION_FRACTION of
 *   the image (specks, compression noise, dithering);
 * - `pass` otherwise.
 */
import sharp from 'sharp';
import type { DecodedImage } from './images.ts';

export const CHANGE_RULE_VERSION = 'change-map-4conn-v1';
/** Default per-channel difference (0–255) above which a pixel counts as changed. */
export const DEFAULT_PIXEL_THRESHOLD = 40;
/** Below this share of changed pixels the edit is `no_change` (0.05 %). */
export const NO_CHANGE_FRACTION = 0.0005;
/** The largest component must cover at least this share of the image, else `noise_only` (0.1 %). */
export const MIN_REGION_FRACTION = 0.001;

export interface ChangeCheckResult {
  status: 'pass' | 'no_change' | 'noise_only';
  /** Changed pixels / all pixels, 0–1. */
  changedFraction: number;
  changedPixels: number;
  /** Largest component / changed pixels, 0–1 (0 when nothing changed). */
  largestComponentShare: number;
  /** Largest component / all pixels, 0–1: what `noise_only` is decided on. */
  largestComponentFraction: number;
  /** Number of 4-connected components of changed pixels. */
  components: number;
  /** Largest component's bounding box [x, y, w, h] in source pixels, null when nothing changed. */
  largestComponentBox: [number, number, number, number] | null;
  pixelThreshold: number;
  noChangeFraction: number;
  minRegionFraction: number;
  width: number;
  height: number;
  /** Whether the edit was resized to the source resolution first. */
  editResized: boolean;
  ruleVersion: string;
}

/** The edit's pixels at the source's resolution (resized with sharp when they differ). */
export async function editAtSourceSize(src: DecodedImage, edit: DecodedImage): Promise<Buffer> {
  if (edit.width === src.width && edit.height === src.height) return edit.data;
  return sharp(edit.data, { raw: { width: edit.width, height: edit.height, channels: 3 } })
    .resize(src.width, src.height, { fit: 'fill' })
    .raw()
    .toBuffer();
}

/** Per-pixel changed mask (1 = changed) and its count, in one pass over the raw buffers. */
export function changeMask(a: Buffer, b: Buffer, pixels: number, threshold: number): { mask: Uint8Array; changed: number } {
  const { mask, changed } = changedPixels(a, b, pixels, threshold, false);
  return { mask, changed };
}

/**
 * changeMask, plus (`withIndex`) the changed pixels' indices in scan order, so `components`
 * visits only them instead of scanning the whole mask twice.
 */
function changedPixels(a: Buffer, b: Buffer, pixels: number, threshold: number, withIndex: boolean): { mask: Uint8Array; changed: number; index?: Int32Array } {
  const mask = new Uint8Array(pixels);
  const index = withIndex ? new Int32Array(pixels) : undefined;
  let changed = 0;
  if (threshold >= 0 && threshold < 255) {
    // For integer d: |d| > t ⇔ |d| > ⌊t⌋ ⇔ (d + ⌊t⌋) as unsigned > 2⌊t⌋ (a negative sum wraps high): one test per channel.
    const t = Math.floor(threshold);
    const t2 = 2 * t;
    for (let i = 0, p = 0; i < pixels; i++, p += 3) {
      if ((a[p]! - b[p]! + t) >>> 0 > t2 || (a[p + 1]! - b[p + 1]! + t) >>> 0 > t2 || (a[p + 2]! - b[p + 2]! + t) >>> 0 > t2) {
        mask[i] = 1;
        if (index) index[changed] = i;
        changed++;
      }
    }
    return { mask, changed, index };
  }
  for (let i = 0, p = 0; i < pixels; i++, p += 3) {
    const d0 = a[p]! - b[p]!;
    const d1 = a[p + 1]! - b[p + 1]!;
    const d2 = a[p + 2]! - b[p + 2]!;
    if (d0 > threshold || -d0 > threshold || d1 > threshold || -d1 > threshold || d2 > threshold || -d2 > threshold) {
      mask[i] = 1;
      if (index) index[changed] = i;
      changed++;
    }
  }
  return { mask, changed, index };
}

/**
 * 4-connected components of a 0/1 mask: count, largest size and its bounding box. Marks visited
 * pixels in place (1 → 2) to spare a second full-size array; pass a copy to keep the mask.
 * `starts`: the indices of the mask's 1s in scan order, when known (saves two full scans).
 */
export function components(
  mask: Uint8Array,
  width: number,
  height: number,
  starts?: { index: Int32Array; count: number },
): { count: number; largest: number; box: [number, number, number, number] | null } {
  let ones = starts?.count ?? 0;
  if (!starts) for (let i = 0; i < mask.length; i++) ones += mask[i] === 1 ? 1 : 0;
  const stack = new Int32Array(ones); // a pixel is pushed at most once
  let count = 0;
  let largest = 0;
  let box: [number, number, number, number] | null = null;
  const n = starts ? starts.count : mask.length;
  for (let s = 0; s < n; s++) {
    const start = starts ? starts.index[s]! : s;
    if (mask[start] !== 1) continue;
    count++;
    let size = 0;
    let top = 0;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    stack[top++] = start;
    mask[start] = 2;
    while (top) {
      const i = stack[--top]!;
      size++;
      const y = (i / width) | 0;
      const x = i - y * width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (x > 0 && mask[i - 1] === 1) {
        mask[i - 1] = 2;
        stack[top++] = i - 1;
      }
      if (x < width - 1 && mask[i + 1] === 1) {
        mask[i + 1] = 2;
        stack[top++] = i + 1;
      }
      if (y > 0 && mask[i - width] === 1) {
        mask[i - width] = 2;
        stack[top++] = i - width;
      }
      if (y < height - 1 && mask[i + width] === 1) {
        mask[i + width] = 2;
        stack[top++] = i + width;
      }
    }
    if (size > largest) {
      largest = size;
      box = [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
    }
  }
  return { count, largest, box };
}

/** Runs the change rule on decoded images; the edit is compared at the source's resolution. */
export async function changeCheck(src: DecodedImage, edit: DecodedImage, opts: { pixelThreshold?: number } = {}): Promise<ChangeCheckResult> {
  const pixelThreshold = opts.pixelThreshold ?? DEFAULT_PIXEL_THRESHOLD;
  const editData = await editAtSourceSize(src, edit);
  const pixels = src.width * src.height;
  const { mask, changed, index } = changedPixels(src.data, editData, pixels, pixelThreshold, true);
  const comp = changed ? components(mask, src.width, src.height, { index: index!, count: changed }) : { count: 0, largest: 0, box: null };
  const changedFraction = changed / pixels;
  const largestComponentFraction = comp.largest / pixels;
  const status =
    changedFraction < NO_CHANGE_FRACTION ? 'no_change' : largestComponentFraction < MIN_REGION_FRACTION ? 'noise_only' : 'pass';
  return {
    status,
    changedFraction,
    changedPixels: changed,
    largestComponentShare: changed ? comp.largest / changed : 0,
    largestComponentFraction,
    components: comp.count,
    largestComponentBox: comp.box,
    pixelThreshold,
    noChangeFraction: NO_CHANGE_FRACTION,
    minRegionFraction: MIN_REGION_FRACTION,
    width: src.width,
    height: src.height,
    editResized: edit.width !== src.width || edit.height !== src.height,
    ruleVersion: CHANGE_RULE_VERSION,
  };
}

/**
 * The change map as a PNG for the dashboard: the source in dimmed grey, changed pixels in red
 * (brighter for a larger difference). `maxSide` (px) shrinks the picture, never enlarges it.
 */
export async function changeMapPng(
  src: DecodedImage,
  edit: DecodedImage,
  opts: { pixelThreshold?: number; maxSide?: number } = {},
): Promise<Buffer> {
  const threshold = opts.pixelThreshold ?? DEFAULT_PIXEL_THRESHOLD;
  const e = await editAtSourceSize(src, edit);
  const s = src.data;
  const out = Buffer.alloc(src.width * src.height * 3);
  for (let p = 0; p < out.length; p += 3) {
    const d = Math.max(Math.abs(s[p]! - e[p]!), Math.abs(s[p + 1]! - e[p + 1]!), Math.abs(s[p + 2]! - e[p + 2]!));
    if (d > threshold) {
      out[p] = 128 + (d >> 1);
      out[p + 1] = 0;
      out[p + 2] = 0;
    } else {
      const g = (s[p]! * 77 + s[p + 1]! * 150 + s[p + 2]! * 29) >> 10; // luma / 4
      out[p] = out[p + 1] = out[p + 2] = 32 + g;
    }
  }
  let img = sharp(out, { raw: { width: src.width, height: src.height, channels: 3 } });
  if (opts.maxSide && Math.max(src.width, src.height) > opts.maxSide) {
    img = img.resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside' });
  }
  return img.png().toBuffer();
}
