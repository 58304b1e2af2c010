/**
 * The artifact check's residual and row transforms in WebAssembly (artifact-kernels.wat) against
 * the JS loops they stand in for: the same values to the bit, for crops of every size the check
 * uses, mirrored either way, on random and real pixels.
 */
import fc from 'fast-check';
import sharp from 'sharp';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { residualJs, rowTransformsJs } from '../../pipeline/checks/artifact-check.ts';
import { MAX_SIDE, residualWasm, rowTransformsWasm } from '../../pipeline/checks/artifact-kernels.ts';
import { decodeImage } from '../../pipeline/images.ts';

const hann = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n));

/** Element by element, bit for bit (Object.is tells −0 from 0 and NaN from numbers). */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const twiddles: Float64Array[] = [];
for (let p = 2; p <= 16; p++) twiddles[p] = Float64Array.from({ length: 2 * p }, (_, i) => (i % 2 === 0 ? Math.cos((2 * Math.PI * (i >> 1)) / p) : Math.sin((2 * Math.PI * (i >> 1)) / p)));
const FOLDS = [16, 15, 14, 13, 12, 11, 10, 9];
const foldStart: number[] = [];
let at = 0;
for (const p of FOLDS) {
  foldStart[p] = at;
  at += p;
}
const foldBase: number[] = [];
for (let p = 2; p <= 16; p++) foldBase[p] = FOLDS.find((f) => f % p === 0)!;

describe('artifact kernels in WebAssembly', () => {
  it('residual: the JS loop’s values to the bit, plain and mirrored, on random crops', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: MAX_SIDE }), fc.integer({ min: 3, max: 40 }), fc.constantFrom(undefined, 'x' as const, 'y' as const), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (w, h, flip, seed) => {
        const W = w + 7;
        const H = h + 5;
        let s = seed;
        const data = Uint8Array.from({ length: W * H * 3 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) & 255);
        const img = { data: Buffer.from(data), width: W, height: H, channels: 3 as const, format: 'raw' };
        const want = residualJs(img, 4, 3, w, h, flip, new Float32Array((w - 2) * (h - 2)));
        const got = new Float32Array((w - 2) * (h - 2));
        expect(residualWasm(img, 4, 3, w, h, flip, hann(w - 2), hann(h - 2), got)).toBe(true);
        expect(sameBits(got, want)).toBe(true);
      }),
      { numRuns: 120 },
    );
  });

  it('residual: the same on a photograph, at the check’s largest crop', async () => {
    const img = await decodeImage(await sharp(path.join(import.meta.dirname, '../fixtures/images/astronaut.png')).toBuffer(), 'astronaut');
    for (const flip of [undefined, 'x', 'y'] as const) {
      const want = residualJs(img, 200, 150, 256, 256, flip, new Float32Array(254 * 254));
      const got = new Float32Array(254 * 254);
      expect(residualWasm(img, 200, 150, 256, 256, flip, hann(254), hann(254), got)).toBe(true);
      expect(sameBits(got, want), String(flip)).toBe(true);
    }
  });

  it('row transforms: every period’s arrays to the bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_SIDE - 2 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (w, h, seed) => {
        let s = seed;
        const r = Float32Array.from({ length: w * h }, () => (((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) - 2 ** 23) / 1000);
        const want = rowTransformsJs(r, w, h);
        const got = rowTransformsWasm(r, w, h, twiddles, foldStart, foldBase)!;
        expect(got).toHaveLength(want.length);
        want.forEach((row, k) => expect(sameBits(got[k]!, row), `array ${k}`).toBe(true));
      }),
      { numRuns: 80 },
    );
  });

  it('leaves crops over its size to the JS loops', () => {
    const img = { data: Buffer.alloc(300 * 300 * 3), width: 300, height: 300, channels: 3 as const, format: 'raw' };
    expect(residualWasm(img, 0, 0, MAX_SIDE + 1, 10, undefined, hann(MAX_SIDE - 1), hann(8), new Float32Array((MAX_SIDE - 1) * 8))).toBe(false);
    expect(rowTransformsWasm(new Float32Array((MAX_SIDE + 1) * MAX_SIDE), MAX_SIDE + 1, MAX_SIDE, twiddles, foldStart, foldBase)).toBeNull();
  });
});
