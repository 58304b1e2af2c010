/**
 * The change rule on real photos: identical → no_change, scattered specks → noise_only, a real
 * region edit → pass; components are 4-connected; the edit is compared at source resolution.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { changeCheck, changeMapPng, changeMask, components, MIN_REGION_FRACTION } from '../../pipeline/checks/change-check.ts';
import { decodeImage, type DecodedImage } from '../../pipeline/images.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/images');
const coffeeBytes = readFileSync(path.join(fixtures, 'coffee.png'));
const coffee = () => decodeImage(coffeeBytes, 'coffee.png');

/** A deterministic PRNG (mulberry32) so the specks are the same on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function withPixels(img: DecodedImage, data: Buffer): DecodedImage {
  return { ...img, data };
}

describe('components (4-connected)', () => {
  it('counts diagonal neighbours as separate and reports the largest with its box', () => {
    // 5×4 mask:
    // 1 0 1 1 0
    // 0 1 0 1 0
    // 0 0 0 1 1
    // 1 0 0 0 0
    const m = Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0]);
    const c = components(m, 5, 4);
    expect(c.count).toBe(4);
    expect(c.largest).toBe(5);
    expect(c.box).toEqual([2, 0, 3, 3]);
  });

  it('changeMask thresholds the max channel difference strictly', () => {
    const a = Buffer.from([100, 100, 100, 100, 100, 100, 0, 0, 0]);
    const b = Buffer.from([140, 100, 100, 100, 59, 100, 0, 0, 255]); // +40 (not > 40), −41, +255
    const { mask, changed } = changeMask(a, b, 3, 40);
    expect([...mask]).toEqual([0, 1, 1]);
    expect(changed).toBe(2);
  });
});

describe('row marks', () => {
  it('changeMask marks every row holding a changed pixel, and components reads only those with the same answer', () => {
    // 37 × 23 (a width that is not a multiple of 4, so quads wrap rows): blobs and specks.
    const w = 37;
    const h = 23;
    const rand = rng(7);
    const a = Buffer.alloc(w * h * 3, 120);
    const b = Buffer.from(a);
    for (let i = 0; i < w * h; i++) {
      const x = i % w;
      const y = Math.floor(i / w);
      const blob = (x > 5 && x < 14 && y > 3 && y < 9) || (y === 17 && x > 20);
      if (blob || rand() < 0.03) b[i * 3 + Math.floor(rand() * 3)] = rand() < 0.5 ? 0 : 255;
    }
    const marks = new Uint8Array(h);
    const { mask, changed } = changeMask(a, b, w * h, 40, undefined, { width: w, marks });
    const plain = changeMask(a, b, w * h, 40);
    expect([...mask]).toEqual([...plain.mask]);
    expect(changed).toBe(plain.changed);
    for (let y = 0; y < h; y++) if (mask.subarray(y * w, (y + 1) * w).some((v) => v === 1)) expect(marks[y], `row ${y}`).toBe(1);
    expect(marks.some((v) => v === 0)).toBe(true); // some rows are skipped
    expect(components(mask, w, h, marks)).toEqual(components(mask, w, h));
  });
});

describe('changeCheck', () => {
  it('identical images: no_change', async () => {
    const src = await coffee();
    const r = await changeCheck(src, withPixels(src, Buffer.from(src.data)));
    expect(r).toMatchObject({ status: 'no_change', changedFraction: 0, components: 0, pixelThreshold: 40, editResized: false });
  });

  it('a JPEG re-encode (q90) of the same photo: no_change', async () => {
    const src = await coffee();
    const edit = await decodeImage(await sharp(coffeeBytes).jpeg({ quality: 90 }).toBuffer(), 'coffee.jpg');
    expect((await changeCheck(src, edit)).status).toBe('no_change');
  });

  it('sparse random specks (1 % of pixels): noise_only', async () => {
    const src = await coffee();
    const data = Buffer.from(src.data);
    const rand = rng(7);
    const n = src.width * src.height;
    for (let k = 0; k < n * 0.01; k++) {
      const i = Math.floor(rand() * n) * 3;
      data[i] = 255 - data[i]!;
      data[i + 1] = 255 - data[i + 1]!;
    }
    const r = await changeCheck(src, withPixels(src, data));
    expect(r.status).toBe('noise_only');
    expect(r.changedFraction).toBeGreaterThan(0.005);
    expect(r.components).toBeGreaterThan(1000);
    expect(r.largestComponentFraction).toBeLessThan(MIN_REGION_FRACTION);
  });

  it('a real region edit (a recoloured 120×80 rectangle, re-encoded): pass, and the largest region is that rectangle', async () => {
    const src = await coffee();
    const patch = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#20c040' } }).png().toBuffer();
    const editBytes = await sharp(coffeeBytes).composite([{ input: patch, left: 300, top: 120 }]).jpeg({ quality: 90 }).toBuffer();
    const r = await changeCheck(src, await decodeImage(editBytes, 'edit.jpg'));
    expect(r.status).toBe('pass');
    expect(r.largestComponentFraction).toBeGreaterThan(0.03);
    const [x, y, w, h] = r.largestComponentBox!;
    expect(Math.abs(x - 300)).toBeLessThanOrEqual(3);
    expect(Math.abs(y - 120)).toBeLessThanOrEqual(3);
    expect(Math.abs(w - 120)).toBeLessThanOrEqual(6);
    expect(Math.abs(h - 80)).toBeLessThanOrEqual(6);
  });

  it('an edit at another resolution is compared at the source resolution', async () => {
    const src = await coffee();
    const patch = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const bigEdit = await sharp(coffeeBytes).composite([{ input: patch, left: 0, top: 0 }]).resize(900, 600).png().toBuffer();
    const r = await changeCheck(src, await decodeImage(bigEdit, 'big.png'));
    expect(r).toMatchObject({ status: 'pass', editResized: true, width: 600, height: 400 });
    expect(r.largestComponentBox![0]).toBeLessThanOrEqual(2);
  });

  it('the pixel threshold is an option', async () => {
    const src = await coffee();
    const data = Buffer.from(src.data);
    for (let i = 0; i < data.length; i++) data[i] = Math.min(255, data[i]! + 30); // brighter by 30 everywhere
    expect((await changeCheck(src, withPixels(src, data))).status).not.toBe('pass');
    expect((await changeCheck(src, withPixels(src, data), { pixelThreshold: 20 })).status).toBe('pass');
  });
});

describe('changeMapPng', () => {
  it('renders changed pixels red over a dimmed grey source', async () => {
    const src = await coffee();
    const data = Buffer.from(src.data);
    for (let y = 10; y < 30; y++) {
      for (let x = 10; x < 30; x++) for (let c = 0; c < 3; c++) data[(y * src.width + x) * 3 + c] = src.data[(y * src.width + x) * 3 + c]! < 128 ? 255 : 0;
    }
    data.fill(255, (200 * src.width + 200) * 3, (200 * src.width + 200) * 3 + 3);
    const png = await changeMapPng(src, withPixels(src, data));
    const { data: px, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.format]).toEqual([600, 400, 'raw']);
    const at = (x: number, y: number) => [...px.subarray((y * 600 + x) * info.channels, (y * 600 + x) * info.channels + 3)];
    const inside = at(20, 20);
    expect(inside[0]).toBeGreaterThan(128);
    expect(inside[1]).toBe(0);
    const outside = at(100, 300);
    expect(outside[0]).toBe(outside[1]);
    const small = await changeMapPng(src, withPixels(src, data), { maxSide: 300 });
    expect((await sharp(small).metadata()).width).toBe(300);
  });
});
