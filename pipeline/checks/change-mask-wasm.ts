/**
 * The change mask in WebAssembly SIMD (change-mask.wat): the same mask, count and row marks as
 * `changeMask` (exactly; test/checks/change-mask-wasm.test.ts), about four times faster on a
 * 1.5 MP pair including the copies of both images into the module's memory. Used for images up
 * to WASM_MAX_PIXELS and integer-comparable thresholds (0 ≤ t < 255); the JS loop does the rest.
 *
 * The module's memory holds the source, the edit, the mask and the row marks of the last call; the
 * mask returned is a view of it, valid until the next call (changeCheck reads it synchronously).
 */
import { lazyWasm } from '../wasm.ts';
import { WASM_BASE64 } from './change-mask.wasm.ts';

interface Exports {
  memory: WebAssembly.Memory;
  changeMask(a: number, b: number, mask: number, marks: number, width: number, height: number, t: number): number;
}

/** Larger images go to the JS loop (the module's memory grows to about 7 bytes a pixel and stays). */
export const WASM_MAX_PIXELS = 8_000_000;

/** The module, compiled on first use; null where this runtime has no WebAssembly SIMD. */
const instance = lazyWasm<Exports>(WASM_BASE64);

/** The source bytes now in the module's memory (the K edits of a request share one decoded source, never written to). */
let resident: { data: WeakRef<Uint8Array>; pixels: number } | null = null;

const align = (n: number) => Math.ceil(n / 16) * 16;

/**
 * Mask (1 = changed), changed count and per-row marks (1 = the row holds a changed pixel) of two
 * same-size RGB images, or null when this path does not apply (the caller uses `changeMask`).
 */
export function changeMaskWasm(
  a: Uint8Array,
  b: Uint8Array,
  width: number,
  height: number,
  threshold: number,
): { mask: Uint8Array; marks: Uint8Array; changed: number } | null {
  const pixels = width * height;
  if (pixels > WASM_MAX_PIXELS || !(threshold >= 0 && threshold < 255)) return null;
  const m = instance();
  if (!m) return null;
  const bOff = align(3 * pixels);
  const maskOff = bOff + align(3 * pixels);
  const marksOff = maskOff + align(pixels);
  const need = marksOff + align(height);
  const have = m.memory.buffer.byteLength;
  if (need > have) {
    m.memory.grow(Math.ceil((need - have) / 65_536));
    resident = null;
  }
  const mem = new Uint8Array(m.memory.buffer);
  if (resident?.pixels !== pixels || resident.data.deref() !== a) {
    mem.set(a.subarray(0, 3 * pixels), 0);
    resident = { data: new WeakRef(a), pixels };
  }
  mem.set(b.subarray(0, 3 * pixels), bOff);
  const changed = m.changeMask(0, bOff, maskOff, marksOff, width, height, Math.floor(threshold));
  return { mask: mem.subarray(maskOff, maskOff + pixels), marks: mem.subarray(marksOff, marksOff + height), changed };
}
