/**
 * Face registration's luma pyramid and NCC search in WebAssembly (register-kernels.wat): the same
 * operations in the same order as register.ts's `lumaPyramid` and `score`, so the same values to
 * the bit, in a fraction of the time. A pyramid copies the image rows its first level reads into
 * the module's memory; its levels are copied out (a source's, kept) or left there for `scoreWasm`
 * (an edit's, transient). Null where this runtime has no WebAssembly: the JS runs.
 */
import { copyBytes, lazyWasm } from '../wasm.ts';
import { WASM_BASE64 } from './register-kernels.wasm.ts';

interface Exports {
  memory: WebAssembly.Memory;
  pyramidBase(src: number, ww: number, w: number, h: number, per: number, stride: number, k: number, off: number, out: number): void;
  halve(input: number, pw: number, w: number, h: number, out: number): void;
  score(val: number, inner: number, ox: number, oy: number, n: number, lv: number, lw: number, lh: number, lx0: number, ly0: number, inv: number,
    fx: number, fy: number, bx: number, by: number, s: number, withInner: number, cell: number, out: number): void;
}

// Memory layout: templates (a slot per size), score's scratch and sums, then a pyramid's rows and levels.
const TEMPLATE_SIZES = [8, 16, 32];
const SLOT_BYTES = 8 * 1024; // ≥ 4n² + n² + 8n for n = 32
const CELL = TEMPLATE_SIZES.length * SLOT_BYTES;
const SUMS = CELL + 2048;
const FIXED = SUMS + 128;

/** score's sums, a view of the module's memory (made again when the memory grows). */
let sums: Float64Array | undefined;

const instance = lazyWasm<Exports>(WASM_BASE64, (m) => void (sums = new Float64Array(m.memory.buffer, SUMS, 12)));

/** The memory a window may take at most (larger windows stay with the JS loop): 64 MiB. */
const MAX_BYTES = 64 * 1024 * 1024;

export interface PyramidGeometry {
  /** Window origin (image px) and first-level size (blocks). */
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** Block side (image px), read step (px), reads per block side, weight of a read, first read's offset. */
  f: number;
  stride: number;
  per: number;
  k: number;
  off: number;
}

/**
 * The pyramid's levels from the first up, each a Float32Array with its size: the first level as
 * `geometry` says, then halved while `more(width, height, count)` allows. Null: use the JS.
 * `transient`: the levels are views of the module's memory, valid until the next pyramid is
 * built (no copies; `scoreWasm` reads them where they are).
 */
export function pyramidWasm(
  img: { data: Uint8Array; width: number },
  g: PyramidGeometry,
  more: (w: number, h: number, levels: number) => boolean,
  transient = false,
): { data: Float32Array; width: number; height: number }[] | null {
  const m = instance();
  if (!m) return null;
  // Every row of the window is read when the reads are one px apart (levels up to 2): then the
  // image's rows y0 … y0 + h·f − 1 are copied whole, in one piece, and read at the image's stride.
  // Otherwise only the rows read are copied, packed (block row oy's: rows oy·per … oy·per + per − 1).
  const whole = g.stride === 1 && g.off === 0;
  const ww = whole ? img.width : g.w * g.f;
  const rowBytes = ww * 3;
  const srcBytes = g.h * g.per * rowBytes;
  const levelsBytes = Math.ceil((g.w * g.h * 16) / 3) + 64;
  const need = FIXED + srcBytes + levelsBytes + 16;
  if (need > MAX_BYTES) return null;
  const have = m.memory.buffer.byteLength;
  if (need > have) {
    m.memory.grow(Math.ceil((need - have) / 65_536));
    sums = new Float64Array(m.memory.buffer, SUMS, 12); // growing keeps the bytes (the templates' slots too), not the views
  }
  const mem = new Uint8Array(m.memory.buffer);
  if (whole) {
    const from = g.y0 * rowBytes;
    copyBytes(img.data, mem, FIXED, from, from + srcBytes);
  } else {
    for (let oy = 0, row = 0; oy < g.h; oy++) {
      for (let r = 0; r < g.per; r++, row++) {
        const from = ((g.y0 + oy * g.f + g.off + r * g.stride) * img.width + g.x0) * 3;
        copyBytes(img.data, mem, FIXED + row * rowBytes, from, from + rowBytes);
      }
    }
  }
  let at = FIXED + Math.ceil(srcBytes / 16) * 16;
  m.pyramidBase(FIXED + (whole ? g.x0 * 3 : 0), ww, g.w, g.h, g.per, g.stride, g.k, g.off, at);
  const out: { data: Float32Array; width: number; height: number }[] = [];
  let w = g.w;
  let h = g.h;
  for (;;) {
    const view = new Float32Array(m.memory.buffer, at, w * h);
    out.push({ data: transient ? view : view.slice(), width: w, height: h });
    if (!more(w, h, out.length)) break;
    const next = at + Math.ceil((w * h * 4) / 16) * 16;
    m.halve(at, w, w >> 1, h >> 1, next);
    at = next;
    w >>= 1;
    h >>= 1;
  }
  return out;
}

/** The template a slot holds (by size), so a face's ~700 evaluations copy it once. */
const slotOwner: (object | null)[] = TEMPLATE_SIZES.map(() => null);

export interface TemplateArrays {
  n: number;
  ox: Float32Array;
  oy: Float32Array;
  val: Float32Array;
  inner: Uint8Array;
}

/**
 * register.ts `score`'s sums for template `t` against a level that lives in the module's memory
 * (a transient pyramid): [cnt, Σa, Σb, Σa², Σb², Σab, and the same over the inner samples], a view
 * valid until the next call. Null when the level is elsewhere or the template has no slot.
 */
export function scoreWasm(
  t: TemplateArrays,
  lv: { data: Float32Array; width: number; height: number; x0: number; y0: number; inv: number },
  fx: number,
  fy: number,
  bx: number,
  by: number,
  s: number,
  withInner: boolean,
): Float64Array | null {
  const m = instance();
  const slot = TEMPLATE_SIZES.indexOf(t.n);
  if (!m || slot < 0 || lv.data.buffer !== m.memory.buffer) return null;
  const base = slot * SLOT_BYTES;
  const n2 = t.n * t.n;
  const val = base;
  const inner = val + 4 * n2;
  const ox = inner + n2;
  const oy = ox + 4 * t.n;
  if (slotOwner[slot] !== t) {
    new Float32Array(m.memory.buffer, val, n2).set(t.val);
    new Uint8Array(m.memory.buffer, inner, n2).set(t.inner);
    new Float32Array(m.memory.buffer, ox, t.n).set(t.ox);
    new Float32Array(m.memory.buffer, oy, t.n).set(t.oy);
    slotOwner[slot] = t;
  }
  m.score(val, inner, ox, oy, t.n, lv.data.byteOffset, lv.width, lv.height, lv.x0, lv.y0, lv.inv, fx, fy, bx, by, s, withInner ? 1 : 0, CELL, SUMS);
  return sums!;
}
