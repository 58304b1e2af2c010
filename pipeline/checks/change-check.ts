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
import type { DecodedImage } from '../images.ts';
import { changeMaskWasm } from './change-mask-wasm.ts';

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
  const { default: sharp } = await import('sharp'); // imported on first use: the rule's version constants load no image code
  return sharp(edit.data, { raw: { width: edit.width, height: edit.height, channels: 3 } })
    .resize(src.width, src.height, { fit: 'fill' })
    .raw()
    .toBuffer();
}

/**
 * Per-pixel changed mask (1 = changed) and its count, in one pass over the raw buffers. `into`:
 * a zeroed buffer of at least `pixels` bytes to write it to (its first `pixels` are returned).
 * `rows`: with the image `width`, a zeroed byte per row, set to 1 for every row that may hold a
 * changed pixel (each row that does is marked; `components` skips the others).
 */
export function changeMask(
  a: Buffer,
  b: Buffer,
  pixels: number,
  threshold: number,
  into?: Uint8Array,
  rows?: { width: number; marks: Uint8Array },
): { mask: Uint8Array; changed: number } {
  const mask = into ? into.subarray(0, pixels) : new Uint8Array(pixels);
  let changed = 0;
  let i = 0;
  if (threshold >= 0 && threshold < 255 && LITTLE_ENDIAN && a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    changed = changedQuads(a, b, Math.floor(pixels / 4), Math.floor(threshold), mask, rows);
    i = pixels - (pixels % 4);
  }
  for (let p = i * 3; i < pixels; i++, p += 3) {
    const d0 = a[p]! - b[p]!;
    const d1 = a[p + 1]! - b[p + 1]!;
    const d2 = a[p + 2]! - b[p + 2]!;
    if (d0 > threshold || -d0 > threshold || d1 > threshold || -d1 > threshold || d2 > threshold || -d2 > threshold) {
      mask[i] = 1;
      changed++;
      if (rows) rows.marks[Math.floor(i / rows.width)] = 1;
    }
  }
  return { mask, changed };
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * changeMask on the first 4·quads pixels, four pixels (12 bytes, 3 words) at a time: each word's
 * bytes go into 16-bit lanes (even and odd bytes), where `0x1FF + x − y − t` has bit 9 set exactly
 * when x − y > t (t an integer in 0–254; for integer differences |d| > threshold ⇔ |d| > ⌊threshold⌋).
 * Lanes never borrow from each other, so one subtraction tests two bytes. Unchanged quads, most
 * of an image, cost a few word operations and no branch per channel. Returns the changed count.
 */
function changedQuads(a: Buffer, b: Buffer, quads: number, t: number, mask: Uint8Array, rows?: { width: number; marks: Uint8Array }): number {
  const A = new Uint32Array(a.buffer, a.byteOffset, quads * 3);
  const B = new Uint32Array(b.buffer, b.byteOffset, quads * 3);
  const K = 0x01ff01ff - t * 0x00010001;
  const LO = 0x00ff00ff;
  const F = 0x02000200;
  let changed = 0;
  for (let q = 0, w = 0; q < quads; q++, w += 3) {
    const a0 = A[w]!;
    const b0 = B[w]!;
    const a1 = A[w + 1]!;
    const b1 = B[w + 1]!;
    const a2 = A[w + 2]!;
    const b2 = B[w + 2]!;
    // Per word: bits 9, 25 (bytes 0, 2) and 10, 26 (bytes 1, 3) set where that byte changed.
    let x = a0 & LO;
    let y = b0 & LO;
    let m0 = ((x + K - y) | (y + K - x)) & F;
    x = (a0 >>> 8) & LO;
    y = (b0 >>> 8) & LO;
    m0 |= (((x + K - y) | (y + K - x)) & F) << 1;
    x = a1 & LO;
    y = b1 & LO;
    let m1 = ((x + K - y) | (y + K - x)) & F;
    x = (a1 >>> 8) & LO;
    y = (b1 >>> 8) & LO;
    m1 |= (((x + K - y) | (y + K - x)) & F) << 1;
    x = a2 & LO;
    y = b2 & LO;
    let m2 = ((x + K - y) | (y + K - x)) & F;
    x = (a2 >>> 8) & LO;
    y = (b2 >>> 8) & LO;
    m2 |= (((x + K - y) | (y + K - x)) & F) << 1;
    if ((m0 | m1 | m2) === 0) continue;
    // Bytes 0–11 are pixel 0: bytes 0–2, 1: 3–5, 2: 6–8, 3: 9–11 (word = byte / 4).
    const i = q * 4;
    if (rows) {
      // The quad's rows (two when it wraps): marked whichever of its pixels changed.
      rows.marks[Math.floor(i / rows.width)] = 1;
      rows.marks[Math.floor((i + 3) / rows.width)] = 1;
    }
    if (m0 & 0x02000600) {
      mask[i] = 1;
      changed++;
    }
    if (m0 & 0x04000000 || m1 & 0x600) {
      mask[i + 1] = 1;
      changed++;
    }
    if (m1 & 0x06000000 || m2 & 0x200) {
      mask[i + 2] = 1;
      changed++;
    }
    if (m2 & 0x06000400) {
      mask[i + 3] = 1;
      changed++;
    }
  }
  return changed;
}

/**
 * 4-connected components of a 0/1 mask: count, largest size and its bounding box (the first in
 * scan order among equally large ones). Works on runs of 1s per row, joined (union-find, the
 * earliest run as root) with the runs they touch in the row above; zero stretches are skipped a
 * word at a time, and rows `rowMarks` leaves at 0 (none changed) are not read. Cost grows with
 * the mask and the number of runs, not with component area.
 */
export function components(
  mask: Uint8Array,
  width: number,
  height: number,
  rowMarks?: Uint8Array,
): { count: number; largest: number; box: [number, number, number, number] | null } {
  let cap = 1024;
  let rs = new Int32Array(cap); // run start x
  let re = new Int32Array(cap); // run end x (exclusive)
  let ry = new Int32Array(cap); // run row
  let parent = new Int32Array(cap);
  let n = 0;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      const g = parent[parent[i]!]!;
      parent[i] = g;
      i = g;
    }
    return i;
  };
  const words = mask.byteOffset % 4 === 0 ? new Uint32Array(mask.buffer, mask.byteOffset, mask.length >>> 2) : null;
  let prevFrom = 0;
  let prevTo = 0;
  for (let y = 0; y < height; y++) {
    const from = n;
    if (rowMarks && !rowMarks[y]) {
      // No changed pixel in this row (changeMask's marks): no runs, nothing for the next row to join.
      prevFrom = prevTo = n;
      continue;
    }
    const base = y * width;
    let j = prevFrom; // first run of the row above that may touch the current one
    let x = 0;
    while (x < width) {
      const i = base + x;
      if (words && (i & 3) === 0 && x + 4 <= width && words[i >>> 2] === 0) {
        x += 4;
        continue;
      }
      if (mask[i] !== 1) {
        x++;
        continue;
      }
      let e = x + 1;
      while (e < width && mask[base + e] === 1) e++;
      if (n === cap) {
        cap *= 2;
        rs = grow(rs, cap);
        re = grow(re, cap);
        ry = grow(ry, cap);
        parent = grow(parent, cap);
      }
      rs[n] = x;
      re[n] = e;
      ry[n] = y;
      parent[n] = n;
      while (j < prevTo && re[j]! <= x) j++;
      for (let k = j; k < prevTo && rs[k]! < e; k++) {
        const a = find(k);
        const b = find(n);
        if (a < b) parent[b] = a;
        else if (b < a) parent[a] = b;
      }
      n++;
      x = e;
    }
    prevFrom = from;
    prevTo = n;
  }
  const size = new Float64Array(n);
  const bx0 = new Int32Array(n).fill(width);
  const bx1 = new Int32Array(n).fill(-1);
  const by0 = new Int32Array(n).fill(height);
  const by1 = new Int32Array(n).fill(-1);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const r = find(i);
    if (r === i) count++;
    size[r] = size[r]! + re[i]! - rs[i]!;
    if (rs[i]! < bx0[r]!) bx0[r] = rs[i]!;
    if (re[i]! - 1 > bx1[r]!) bx1[r] = re[i]! - 1;
    if (ry[i]! < by0[r]!) by0[r] = ry[i]!;
    if (ry[i]! > by1[r]!) by1[r] = ry[i]!;
  }
  let largest = 0;
  let box: [number, number, number, number] | null = null;
  for (let r = 0; r < n; r++) {
    if (parent[r] !== r || size[r]! <= largest) continue;
    largest = size[r]!;
    box = [bx0[r]!, by0[r]!, bx1[r]! - bx0[r]! + 1, by1[r]! - by0[r]! + 1];
  }
  return { count, largest, box };
}

function grow(a: Int32Array, cap: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}

/**
 * One zeroed mask buffer kept between checks (a 1.5 MP check would otherwise allocate and drop
 * 1.5 MB each time, and such external memory drives V8's full collections). Taken while a check
 * uses it (concurrent checks allocate their own); given back cleared.
 */
let spareMask: Uint8Array | null = null;
const SPARE_MASK_MAX = 16_000_000;

function takeMask(pixels: number): Uint8Array | null {
  if (pixels > SPARE_MASK_MAX) return null;
  const m = spareMask && spareMask.length >= pixels ? spareMask : new Uint8Array(Math.max(pixels, spareMask?.length ?? 0));
  spareMask = null;
  return m;
}

/** `used`: the part written to (cleared before it is kept), null when nothing was. */
function giveMask(m: Uint8Array, used: Uint8Array | null): void {
  used?.fill(0);
  spareMask = m;
}

/** Runs the change rule on decoded images; the edit is compared at the source's resolution. */
export async function changeCheck(src: DecodedImage, edit: DecodedImage, opts: { pixelThreshold?: number } = {}): Promise<ChangeCheckResult> {
  const pixelThreshold = opts.pixelThreshold ?? DEFAULT_PIXEL_THRESHOLD;
  const editData = await editAtSourceSize(src, edit);
  const pixels = src.width * src.height;
  // The mask in WebAssembly where it runs (in the module's memory), else in JS (in the spare mask).
  const fast = changeMaskWasm(src.data, editData, src.width, src.height, pixelThreshold);
  const scratch = fast ? null : takeMask(pixels);
  const marks = fast?.marks ?? new Uint8Array(src.height);
  const { mask, changed } = fast ?? changeMask(src.data, editData, pixels, pixelThreshold, scratch ?? undefined, { width: src.width, marks });
  const comp = changed ? components(mask, src.width, src.height, marks) : { count: 0, largest: 0, box: null };
  if (scratch) giveMask(scratch, changed ? mask : null);
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
  const { default: sharp } = await import('sharp');
  let img = sharp(out, { raw: { width: src.width, height: src.height, channels: 3 } });
  if (opts.maxSide && Math.max(src.width, src.height) > opts.maxSide) {
    img = img.resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside' });
  }
  return img.png().toBuffer();
}
