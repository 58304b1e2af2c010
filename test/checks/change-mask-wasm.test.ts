/**
 * The change mask in WebAssembly (pipeline/checks/change-mask.wat) against the JS loop it stands
 * in for: the same mask, count and row marks on random images of every awkward width (blocks of
 * 16 pixels plus a tail) and thresholds, the same change verdict on real edits, and a committed
 * binary that is exactly what the committed text assembles to.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { changeCheck, changeMask, components } from '../../pipeline/checks/change-check.ts';
import { changeMaskWasm } from '../../pipeline/checks/change-mask-wasm.ts';
import { decodeImage } from '../../pipeline/images.ts';
// The build script (plain JS, no type declarations).
const { generatedModule, generatedPath, watFiles } = (await import(new URL('../../scripts/build-wasm.mjs', import.meta.url).href)) as {
  generatedModule: (wat: string) => Promise<string>;
  generatedPath: (wat: string) => string;
  watFiles: () => string[];
};

const root = path.join(import.meta.dirname, '../..');
const fixture = (f: string) => path.join(root, 'test/fixtures/images', f);

/** The JS loop's mask, count, and the exact row marks its mask implies. */
function reference(a: Uint8Array, b: Uint8Array, w: number, h: number, t: number) {
  const { mask, changed } = changeMask(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length), w * h, t);
  const marks = Array.from({ length: h }, (_, y) => (mask.subarray(y * w, (y + 1) * w).includes(1) ? 1 : 0));
  return { mask: Array.from(mask), changed, marks };
}

describe('change mask in WebAssembly', () => {
  it('the committed binary is what the committed text assembles to', async () => {
    expect(watFiles()).toContain('pipeline/checks/change-mask.wat');
    for (const wat of watFiles()) expect(readFileSync(path.join(root, generatedPath(wat)), 'utf8'), wat).toBe(await generatedModule(wat));
  });

  it('gives the JS loop’s mask, count and row marks on random images', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(0, 1, 39.5, 40, 128, 254, 254.9),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (w, h, t, seed) => {
          let s = seed;
          const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) & 255;
          const a = new Uint8Array(w * h * 3);
          const b = new Uint8Array(w * h * 3);
          for (let i = 0; i < a.length; i++) {
            a[i] = rnd();
            // Mostly near the threshold either side, sometimes anything.
            b[i] = rnd() < 200 ? Math.max(0, Math.min(255, a[i]! + (rnd() % 3) - 1 + (rnd() < 128 ? Math.floor(t) : -Math.floor(t)))) : rnd();
          }
          const got = changeMaskWasm(a, b, w, h, t)!;
          expect(got).not.toBeNull();
          const want = reference(a, b, w, h, t);
          expect(got.changed).toBe(want.changed);
          expect(Array.from(got.mask)).toEqual(want.mask);
          expect(Array.from(got.marks)).toEqual(want.marks);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the source between calls only while it is the same buffer', () => {
    const w = 37;
    const h = 5;
    const img = (v: number) => new Uint8Array(w * h * 3).fill(v);
    const src = img(100);
    expect(changeMaskWasm(src, img(100), w, h, 40)!.changed).toBe(0);
    expect(changeMaskWasm(src, img(200), w, h, 40)!.changed).toBe(w * h);
    expect(changeMaskWasm(img(200), img(200), w, h, 40)!.changed).toBe(0); // another source of the same size is copied in
    expect(changeMaskWasm(src, img(100), w, h, 40)!.changed).toBe(0);
  });

  it('leaves thresholds outside 0–254 and images over its limit to the JS loop', () => {
    const a = new Uint8Array(12);
    expect(changeMaskWasm(a, a, 2, 2, -1)).toBeNull();
    expect(changeMaskWasm(a, a, 2, 2, 255)).toBeNull();
    expect(changeMaskWasm(a, a, 4000, 2001, 40)).toBeNull();
  });

  it('gives changeCheck the same components as the JS loop on real edits', async () => {
    const source = await sharp(fixture('coffee.png')).resize(601, 401, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    const block = await sharp({ create: { width: 150, height: 100, channels: 4, background: '#ff7800b0' } }).png().toBuffer();
    const edits = [
      await sharp(source).composite([{ input: block, left: 57, top: 80 }]).jpeg({ quality: 88 }).toBuffer(),
      await sharp(source).jpeg({ quality: 60 }).toBuffer(),
      await sharp(source).modulate({ brightness: 1.3 }).png().toBuffer(),
    ];
    const src = await decodeImage(source, 'source');
    for (const bytes of edits) {
      const edit = await decodeImage(bytes, 'edit');
      const r = await changeCheck(src, edit, { pixelThreshold: 40 });
      const { mask, changed } = changeMask(src.data, edit.data, src.width * src.height, 40);
      const comp = components(mask, src.width, src.height);
      expect(r.changedPixels).toBe(changed);
      expect(r.components).toBe(comp.count);
      expect(r.largestComponentBox).toEqual(comp.box);
      expect(r.largestComponentFraction).toBe(comp.largest / (src.width * src.height));
    }
  });
});
