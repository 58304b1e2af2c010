/**
 * The artifact check's residual and row transforms in WebAssembly (artifact-kernels.wat): the
 * same operations in the same order as artifact-check.ts's JS, so the same values to the bit, in
 * less than half the time. Each call copies its crop (≤ MAX_SIDE px a side) into the module's
 * memory and its result out, so callers keep their own arrays. Null/false where this runtime has
 * no WebAssembly or a crop is larger: the JS loops run instead.
 */
import { copyBytes, lazyWasm } from '../wasm.ts';
import { WASM_BASE64 } from './artifact-kernels.wasm.ts';

interface Exports {
  memory: WebAssembly.Memory;
  residual(p0: number, dp: number, rs: number, w: number, h: number, out: number, wx: number, wy: number, rows: number): void;
  rowTransforms(r: number, w: number, h: number, out: number, bins: number, sub: number, tw: number, ptab: number): void;
  dot(a: number, b: number, n: number): number;
  subScaled(a: number, b: number, g: number, n: number): void;
  columnPower(rows: number, h: number, stepRe: number, stepIm: number): number;
  fitSums(a: number, b: number, n: number, out: number): void;
  columnPower2(rows: number, h: number, reA: number, imA: number, reB: number, imB: number, out: number): void;
}

/** Largest crop side the module's memory is laid out for (the artifact check's MAX_CROP). */
export const MAX_SIDE = 256;
const MAX_PERIOD = 16;
const FOLD_BINS = 100;

// Memory layout (bytes), fixed: the crop, three rows of luma, the two windows, the residual (or a
// row transform's input), the folds, a period's bins, the twiddles, the period table, the output.
const CROP = 0;
const ROWS = CROP + MAX_SIDE * MAX_SIDE * 3;
const WX = ROWS + 3 * MAX_SIDE * 4;
const WY = WX + MAX_SIDE * 8;
const OUT = WY + MAX_SIDE * 8;
const BINS = OUT + MAX_SIDE * MAX_SIDE * 4;
const SUB = BINS + FOLD_BINS * 8;
const TW = SUB + MAX_PERIOD * 8;
const PTAB = TW + 2 * (MAX_PERIOD + 1) * MAX_PERIOD * 8;
const ROWS_OUT = PTAB + (MAX_PERIOD + 1) * 12 + 4;
/** A second residual (the source's, or a mirror), beside the edit's at OUT. */
const OTHER = ROWS_OUT + (MAX_PERIOD + 1) * 2 * MAX_SIDE * 8;
/** Two f64 results of the two-lane kernels. */
const PAIR = OTHER + MAX_SIDE * MAX_SIDE * 4;
const END = PAIR + 16;

let windows: { wx: Float64Array | null; wy: Float64Array | null } = { wx: null, wy: null };
let tablesSet = false;
/** The array whose values OTHER holds (a source residual is fitted, then subtracted: copied once). */
let otherHolds: Float32Array | null = null;

const instance = lazyWasm<Exports>(WASM_BASE64, (m) => {
  const have = m.memory.buffer.byteLength;
  if (END > have) m.memory.grow(Math.ceil((END - have) / 65_536)); // the layout above, once: no growth later
});

interface Rgb {
  data: Uint8Array;
  width: number;
}

/**
 * The residual of the w × h crop at (x, y) of `img` (mirrored as `flip` says) into `out`, with the
 * Hann windows `wx` (w − 2) and `wy` (h − 2). False when the JS loop must do it.
 */
export function residualWasm(img: Rgb, x: number, y: number, w: number, h: number, flip: 'x' | 'y' | undefined, wx: Float64Array, wy: Float64Array, out: Float32Array): boolean {
  const m = instance();
  // Into OTHER: OUT may hold the edit's residual of the region being scored (WasmRegionWork).
  if (!m || !residualInto(m, OTHER, img, x, y, w, h, flip, wx, wy)) return false;
  otherHolds = null;
  out.set(new Float32Array(m.memory.buffer, OTHER, (w - 2) * (h - 2)));
  return true;
}

/**
 * Row transforms of the w × h residual `r` for every period (see artifact-check.ts): one array
 * of 2h (re, im per row) for fx = 0 and one per period 2…16. `twiddles[p]`: cos, sin of 2π·m/p;
 * `foldStart[p]`/`foldBase[p]`: where the bins of the fold period P is summed from start, and that
 * fold's period. Null when the JS loop must do it.
 */
export function rowTransformsWasm(r: Float32Array, w: number, h: number, twiddles: Float64Array[], foldStart: number[], foldBase: number[]): Float64Array[] | null {
  if (w * h > MAX_SIDE * MAX_SIDE || h > MAX_SIDE) return null;
  const m = instance();
  if (!m) return null;
  setTables(m, twiddles, foldStart, foldBase);
  otherHolds = null;
  new Float32Array(m.memory.buffer, OTHER, w * h).set(r.subarray(0, w * h));
  m.rowTransforms(OTHER, w, h, ROWS_OUT, BINS, SUB, TW, PTAB);
  const all = new Float64Array(m.memory.buffer, ROWS_OUT, MAX_PERIOD * 2 * h).slice();
  return Array.from({ length: MAX_PERIOD }, (_, k) => all.subarray(k * 2 * h, (k + 1) * 2 * h));
}

function setTables(m: Exports, twiddles: Float64Array[], foldStart: number[], foldBase: number[]): void {
  if (!tablesSet) {
    const tw = new Float64Array(m.memory.buffer, TW, 2 * (MAX_PERIOD + 1) * MAX_PERIOD);
    const ptab = new Int32Array(m.memory.buffer, PTAB, (MAX_PERIOD + 1) * 3);
    let off = 0;
    for (let p = 2; p <= MAX_PERIOD; p++) {
      tw.set(twiddles[p]!, off);
      ptab[3 * p] = foldStart[foldBase[p]!]!;
      ptab[3 * p + 1] = foldBase[p]!;
      ptab[3 * p + 2] = off; // in f64s: the kernel reads tw[two + 2m], tw[two + 2m + 1]
      off += 2 * p;
    }
    tablesSet = true;
  }
}

/**
 * The edit's residual of one region kept in the module's memory from the residual to the row
 * transforms: the fits against the source's residuals, the subtraction and the column powers run
 * there too (artifact-check.ts's `RegionWork`, the same operations as its JS one).
 */
export class WasmRegionWork {
  private n = 0;
  private constructor(private readonly m: Exports) {}

  /** Null where WebAssembly is not available. */
  static create(): WasmRegionWork | null {
    const m = instance();
    return m ? new WasmRegionWork(m) : null;
  }

  /** The edit's residual of the crop (see `residualWasm`), kept here. False: the JS must do it. */
  residual(img: Rgb, x: number, y: number, w: number, h: number, wx: Float64Array, wy: Float64Array): boolean {
    if (!residualInto(this.m, OUT, img, x, y, w, h, undefined, wx, wy)) return false;
    this.n = (w - 2) * (h - 2);
    return true;
  }

  private load(other: Float32Array): void {
    if (otherHolds !== other) {
      new Float32Array(this.m.memory.buffer, OTHER, this.n).set(other.subarray(0, this.n));
      otherHolds = other;
    }
  }

  /** Σ edit·other and Σ other² (least squares of the edit's residual on `other`). */
  fit(other: Float32Array): { ab: number; bb: number } {
    this.load(other);
    this.m.fitSums(OUT, OTHER, this.n, PAIR);
    const pair = this.pair();
    return { ab: pair[0]!, bb: pair[1]! };
  }

  private pairView: Float64Array | null = null;
  private pair(): Float64Array {
    if (this.pairView?.buffer !== this.m.memory.buffer) this.pairView = new Float64Array(this.m.memory.buffer, PAIR, 2);
    return this.pairView;
  }

  energy(): number {
    return this.m.dot(OUT, OUT, this.n);
  }

  /** edit −= gain·other. */
  subtract(gain: number, other: Float32Array): void {
    this.load(other);
    this.m.subScaled(OUT, OTHER, gain, this.n);
  }

  /** Row transforms of the (w × h) residual here; the arrays are views, valid until the next region. */
  rowTransforms(w: number, h: number, twiddles: Float64Array[], foldStart: number[], foldBase: number[]): Float64Array[] {
    setTables(this.m, twiddles, foldStart, foldBase);
    this.m.rowTransforms(OUT, w, h, ROWS_OUT, BINS, SUB, TW, PTAB);
    return Array.from({ length: MAX_PERIOD }, (_, k) => new Float64Array(this.m.memory.buffer, ROWS_OUT + k * 2 * h * 8, 2 * h));
  }

  /** columnPower of one of those arrays at two frequencies (cos, −sin of 2π·fy each), into `into`. */
  columnPower2(rows: Float64Array, h: number, fyA: number, fyB: number, into: Float64Array): void {
    this.m.columnPower2(rows.byteOffset, h, Math.cos(2 * Math.PI * fyA), -Math.sin(2 * Math.PI * fyA), Math.cos(2 * Math.PI * fyB), -Math.sin(2 * Math.PI * fyB), PAIR);
    const pair = this.pair();
    into[0] = pair[0]!;
    into[1] = pair[1]!;
  }

  /** columnPower of one of those arrays. */
  columnPower(rows: Float64Array, h: number, stepRe: number, stepIm: number): number {
    return this.m.columnPower(rows.byteOffset, h, stepRe, stepIm);
  }
}

/**
 * The residual of the crop at (x, y) of `img` (mirrored as `flip` says) into the module's memory at
 * `out`: the crop and the windows copied in, then the kernel. False when the crop is too large.
 */
function residualInto(m: Exports, out: number, img: Rgb, x: number, y: number, w: number, h: number, flip: 'x' | 'y' | undefined, wx: Float64Array, wy: Float64Array): boolean {
  if (w > MAX_SIDE || h > MAX_SIDE || w < 3 || h < 3) return false;
  const mem = new Uint8Array(m.memory.buffer);
  const rowBytes = w * 3;
  for (let r = 0; r < h; r++) {
    const from = ((y + r) * img.width + x) * 3;
    copyBytes(img.data, mem, CROP + r * rowBytes, from, from + rowBytes);
  }
  // The windows are the same few arrays over and over (hann's cache): copied when they change.
  if (windows.wx !== wx) new Float64Array(m.memory.buffer, WX, wx.length).set(wx);
  if (windows.wy !== wy) new Float64Array(m.memory.buffer, WY, wy.length).set(wy);
  windows = { wx, wy };
  const p0 = flip === 'x' ? CROP + (w - 1) * 3 : flip === 'y' ? CROP + (h - 1) * rowBytes : CROP;
  m.residual(p0, flip === 'x' ? -3 : 3, flip === 'y' ? -rowBytes : rowBytes, w, h, out, WX, WY, ROWS);
  return true;
}
