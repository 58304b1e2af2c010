/**
 * The artifact check's residual and row transforms in WebAssembly (artifact-kernels.wat) against
 * the JS loops they stand in for: the same values to the bit, for crops of every size the check
 * uses, mirrored either way, on random and real pixels.
 */
import fc from 'fast-check';
import sharp from 'sharp';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { patternPeaks, residualJs, rowTransformsJs, rowTransformTables } from '../../pipeline/checks/artifact-check.ts';
import { MAX_SIDE, residualWasm, rowTransformsWasm, WasmRegionWork } from '../../pipeline/checks/artifact-kernels.ts';
import { decodeImage } from '../../pipeline/images.ts';

const hann = (n: number) => Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / n));

/** Element by element, bit for bit (Object.is tells −0 from 0 and NaN from numbers). */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const { twiddles, foldStart, foldBase } = rowTransformTables();

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

  it('a region kept in WebAssembly: the same fit sums, subtraction and pattern peaks as the JS', async () => {
    const img = await decodeImage(await sharp(path.join(import.meta.dirname, '../fixtures/images/textures/brick.png')).toBuffer(), 'brick');
    const work = WasmRegionWork.create()!;
    expect(work).not.toBeNull();
    for (const [x, y, w, h] of [[10, 20, 256, 256], [100, 37, 120, 200], [3, 5, 41, 97]]) {
      const he = residualJs(img, x, y, w, h, undefined, new Float32Array((w - 2) * (h - 2)));
      const other = residualJs(img, x + 3, y + 1, w, h, 'x', new Float32Array((w - 2) * (h - 2)));
      expect(work.residual(img, x, y, w, h, hann(w - 2), hann(h - 2))).toBe(true);
      let ab = 0;
      let bb = 0;
      let aa = 0;
      for (let i = 0; i < he.length; i++) {
        ab += he[i]! * other[i]!;
        bb += other[i]! * other[i]!;
        aa += he[i]! * he[i]!;
      }
      const fit = work.fit(other);
      expect(Object.is(fit.ab, ab) && Object.is(fit.bb, bb)).toBe(true);
      expect(Object.is(work.energy(), aa)).toBe(true);
      const gain = ab / bb;
      for (let i = 0; i < he.length; i++) he[i] = he[i]! - gain * other[i]!;
      work.subtract(gain, other);
      const rows = work.rowTransforms(w - 2, h - 2, twiddles, foldStart, foldBase);
      rowTransformsJs(he, w - 2, h - 2).forEach((row, k) => expect(sameBits(rows[k]!, row), `array ${k}`).toBe(true));
      // The column powers, through the peaks they make.
      const viaWasm = patternPeaksWith(rows, h - 2, (r, n, fy) => work.columnPower(r, n, Math.cos(2 * Math.PI * fy), -Math.sin(2 * Math.PI * fy)));
      expect(viaWasm).toEqual(patternPeaks(he, w - 2, h - 2));
      // Two frequencies at once: each lane the scalar column power to the bit.
      const pair = new Float64Array(2);
      for (const [k, fa, fb] of [[3, 0.1, -0.27], [0, 1 / 7, 1 / 7 + 3 / (h - 2)], [15, -1 / 16, 0]] as const) {
        work.columnPower2(rows[k]!, h - 2, fa, fb, pair);
        const one = (fy: number) => work.columnPower(rows[k]!, h - 2, Math.cos(2 * Math.PI * fy), -Math.sin(2 * Math.PI * fy));
        expect(Object.is(pair[0], one(fa)) && Object.is(pair[1], one(fb))).toBe(true);
      }
    }
  });
});

/** patternPeaks's arithmetic over given row transforms (the test's copy, to feed it the WebAssembly column power). */
function patternPeaksWith(rows: Float64Array[], h: number, power: (rows: Float64Array, h: number, fy: number) => number) {
  const dy = 1 / h;
  const peakAt = (k: number, fy: number) => {
    let around = 0;
    for (const n of [3, 4, 5, 6]) around += power(rows[k]!, h, fy - n * dy) + power(rows[k]!, h, fy + n * dy);
    return power(rows[k]!, h, fy) / Math.max(around / 8, 1e-12);
  };
  const out: { period: number; pattern: 'checker' | 'grid'; peak: number }[] = [];
  for (let p = 2; p <= 16; p++) {
    const k = p - 1;
    out.push({ period: p, pattern: 'checker', peak: Math.sqrt(peakAt(k, 1 / p) * peakAt(k, -1 / p)) });
    out.push({ period: p, pattern: 'grid', peak: Math.sqrt(peakAt(k, 0) * peakAt(0, 1 / p)) });
  }
  return out;
}
