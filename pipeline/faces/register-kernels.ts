/**
 * Face registration's luma pyramid in WebAssembly (register-kernels.wat): the same operations in
 * the same order as `lumaPyramid`'s JS, so the same levels to the bit, in a fraction of the time.
 * Each call copies the image rows the first level reads into the module's memory and the levels
 * out, so callers keep their own arrays. Null where this runtime has no WebAssembly: the JS runs.
 */
import { WASM_BASE64 } from './register-kernels.wasm.ts';

interface Exports {
  memory: WebAssembly.Memory;
  pyramidBase(src: number, ww: number, w: number, h: number, per: number, stride: number, k: number, off: number, out: number): void;
  halve(input: number, pw: number, w: number, h: number, out: number): void;
}

let wasm: Exports | null | undefined;

function instance(): Exports | null {
  if (wasm === undefined) {
    try {
      wasm = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(WASM_BASE64, 'base64'))).exports as unknown as Exports;
    } catch {
      wasm = null;
    }
  }
  return wasm;
}

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
 */
export function pyramidWasm(
  img: { data: Uint8Array; width: number },
  g: PyramidGeometry,
  more: (w: number, h: number, levels: number) => boolean,
): { data: Float32Array; width: number; height: number }[] | null {
  const m = instance();
  if (!m) return null;
  const ww = g.w * g.f;
  const rowBytes = ww * 3;
  const srcBytes = g.h * g.per * rowBytes;
  const levelsBytes = Math.ceil((g.w * g.h * 16) / 3) + 64;
  const need = srcBytes + levelsBytes + 16;
  if (need > MAX_BYTES) return null;
  const have = m.memory.buffer.byteLength;
  if (need > have) m.memory.grow(Math.ceil((need - have) / 65_536));
  const mem = new Uint8Array(m.memory.buffer);
  // The rows the first level reads, packed: block row oy's reads are rows oy·per … oy·per + per − 1.
  for (let oy = 0, row = 0; oy < g.h; oy++) {
    for (let r = 0; r < g.per; r++, row++) {
      const from = ((g.y0 + oy * g.f + g.off + r * g.stride) * img.width + g.x0) * 3;
      mem.set(img.data.subarray(from, from + rowBytes), row * rowBytes);
    }
  }
  let at = Math.ceil(srcBytes / 16) * 16;
  m.pyramidBase(0, ww, g.w, g.h, g.per, g.stride, g.k, g.off, at);
  const out: { data: Float32Array; width: number; height: number }[] = [];
  let w = g.w;
  let h = g.h;
  for (;;) {
    out.push({ data: new Float32Array(m.memory.buffer, at, w * h).slice(), width: w, height: h });
    if (!more(w, h, out.length)) break;
    const next = at + Math.ceil((w * h * 4) / 16) * 16;
    m.halve(at, w, w >> 1, h >> 1, next);
    at = next;
    w >>= 1;
    h >>= 1;
  }
  return out;
}
