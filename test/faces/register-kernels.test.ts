/**
 * Face registration's luma pyramid in WebAssembly (register-kernels.wat) against the JS it stands
 * in for: every level the same to the bit, for windows and levels of every kind the registration
 * asks for (first level 0 to 5, so both of the JS's first-level loops), on random and real pixels;
 * and registrations (the NCC search scored in WebAssembly on the edit's pyramid) the same to the bit.
 */
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { pyramidWasm } from '../../pipeline/faces/register-kernels.ts';
import { lumaPyramid, registerFaces, type LumaPyramid } from '../../pipeline/faces/register.ts';
import { decodeImage } from '../../pipeline/images.ts';

function expectSame(a: LumaPyramid, b: LumaPyramid) {
  expect([a.min, a.max]).toEqual([b.min, b.max]);
  for (let k = a.min; k <= a.max; k++) {
    const x = a.levels[k]!;
    const y = b.levels[k]!;
    expect([x.width, x.height, x.x0, x.y0, x.inv]).toEqual([y.width, y.height, y.x0, y.y0, y.inv]);
    let differ = 0;
    for (let i = 0; i < x.data.length; i++) if (!Object.is(x.data[i], y.data[i])) differ++;
    expect(differ, `level ${k}`).toBe(0);
  }
}

describe('luma pyramid in WebAssembly', () => {
  it('runs here (so the comparisons below compare two implementations)', () => {
    const img = { data: new Uint8Array(16 * 16 * 3).fill(90), width: 16 };
    const levels = pyramidWasm(img, { x0: 0, y0: 0, w: 4, h: 4, f: 4, stride: 1, per: 4, k: 1 / 16, off: 0 }, () => false);
    expect(levels).not.toBeNull();
    expect(Array.from(levels![0]!.data)).toEqual(new Array(16).fill(Math.fround(90 * (0.299 + 0.587 + 0.114))));
  });

  it('gives the JS levels to the bit on random images, windows and levels', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8, max: 200 }),
        fc.integer({ min: 8, max: 150 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (W, H, minLevel, extra, seed) => {
          let s = seed;
          const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) & 255;
          const img = { data: Uint8Array.from({ length: W * H * 3 }, rnd), width: W, height: H };
          const win: [number, number, number, number] = [(rnd() / 255) * W * 0.5, (rnd() / 255) * H * 0.5, (0.3 + rnd() / 255) * W, (0.3 + rnd() / 255) * H];
          expectSame(lumaPyramid(img, win, minLevel, minLevel + extra), lumaPyramid(img, win, minLevel, minLevel + extra, 'js'));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives the JS levels to the bit around a face in a photograph', async () => {
    const img = await decodeImage(await sharp(path.join(import.meta.dirname, '../fixtures/images/astronaut.png')).resize(1200).toBuffer(), 'astronaut');
    for (const [minLevel, maxLevel] of [[2, 4], [3, 5], [1, 3], [0, 2]]) {
      expectSame(lumaPyramid(img, [300, 100, 620, 640], minLevel, maxLevel), lumaPyramid(img, [300, 100, 620, 640], minLevel, maxLevel, 'js'));
    }
  });

  it('registers faces exactly as the JS does: transforms, NCCs and boxes to the bit', async () => {
    const file = path.join(import.meta.dirname, '../fixtures/images/astronaut.png');
    const source = await sharp(file).resize(900).png().toBuffer();
    const src = await decodeImage(source, 'source');
    const box: [number, number, number, number] = [314, 130, 178, 178];
    const edits = [
      await sharp(source).jpeg({ quality: 70 }).toBuffer(),
      await sharp(source).extend({ left: 7, background: '#000' }).extract({ left: 0, top: 0, width: 900, height: 900 }).png().toBuffer(),
      await sharp(source).extract({ left: 45, top: 45, width: 810, height: 810 }).resize(900).png().toBuffer(),
      await sharp(source).resize(600).png().toBuffer(),
      await sharp(source).modulate({ brightness: 1.2, hue: 40 }).blur(1.5).png().toBuffer(),
    ];
    for (const bytes of edits) {
      const edit = await decodeImage(bytes, 'edit');
      const boxes: [number, number, number, number][] = [box, [100, 600, 120, 120]];
      const fast = registerFaces(src, edit, boxes);
      const js = registerFaces(src, edit, boxes, 'js');
      expect(fast).toEqual(js);
      fast.forEach((r, i) => {
        for (const k of ['ncc', 'innerNcc', 'ringNcc'] as const) expect(Object.is(r[k], js[i]![k]), `${k} of face ${i}`).toBe(true);
      });
    }
  });
});
