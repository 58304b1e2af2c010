import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFECTS, renderEdit, variantForSeed, type EditVariant } from '../../pipeline/builtin/editor.ts';
import type { EditSpec } from '../../pipeline/builtin/instruction-grammar.ts';
import { ImageError } from '../../pipeline/errors/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/images');
const NOMINAL: EditVariant = { strength: 1, defects: [] };

interface Px {
  data: Buffer;
  width: number;
  height: number;
}

async function pixels(input: Buffer | Sharp): Promise<Px> {
  const img = Buffer.isBuffer(input) ? sharp(input) : input;
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function luma(p: Px): Float64Array {
  const out = new Float64Array(p.width * p.height);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * p.data[i * 3]! + 0.587 * p.data[i * 3 + 1]! + 0.114 * p.data[i * 3 + 2]!;
  return out;
}
function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}
function std(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return Math.sqrt(s / a.length);
}
function channelMean(p: Px, c: number): number {
  let s = 0;
  for (let i = c; i < p.data.length; i += 3) s += p.data[i]!;
  return s / (p.data.length / 3);
}
/** Mean of max(r,g,b) − min(r,g,b): 0 for a gray image. */
function chroma(p: Px): number {
  let s = 0;
  for (let i = 0; i < p.data.length; i += 3) {
    const r = p.data[i]!, g = p.data[i + 1]!, b = p.data[i + 2]!;
    s += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return s / (p.data.length / 3);
}
/** Mean absolute horizontal neighbour difference of luma: high-frequency energy. */
function edgeEnergy(p: Px): number {
  const y = luma(p);
  let s = 0;
  for (let r = 0; r < p.height; r++) for (let x = 0; x + 1 < p.width; x++) s += Math.abs(y[r * p.width + x + 1]! - y[r * p.width + x]!);
  return s / (p.height * (p.width - 1));
}
/** Mean absolute difference per byte, optionally inside a rectangle. */
function mad(a: Px, b: Px, rect = { x0: 0, y0: 0, x1: a.width, y1: a.height }): number {
  let s = 0;
  let n = 0;
  for (let y = rect.y0; y < rect.y1; y++) {
    for (let x = rect.x0; x < rect.x1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * a.width + x) * 3 + c;
        s += Math.abs(a.data[i]! - b.data[i]!);
        n++;
      }
    }
  }
  return s / n;
}
/** Hue in degrees of saturated pixels, circular mean of (out − src). */
function meanHueShift(src: Px, out: Px): number {
  const hue = (r: number, g: number, b: number): [number, number] => {
    const max = Math.max(r, g, b), min = Math.min(r, g, b), d = max - min;
    if (d === 0) return [0, 0];
    let h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
    h *= 60;
    return [(h + 360) % 360, max === 0 ? 0 : d / max];
  };
  let sx = 0, sy = 0;
  for (let i = 0; i < src.data.length; i += 3) {
    const [h1, s1] = hue(src.data[i]!, src.data[i + 1]!, src.data[i + 2]!);
    const [h2, s2] = hue(out.data[i]!, out.data[i + 1]!, out.data[i + 2]!);
    if (s1 < 0.4 || s2 < 0.4) continue;
    const d = ((h2 - h1) * Math.PI) / 180;
    sx += Math.cos(d);
    sy += Math.sin(d);
  }
  return ((Math.atan2(sy, sx) * 180) / Math.PI + 360) % 360;
}

let source: Buffer;
let src: Px;
const render = async (spec: EditSpec, variant: EditVariant = NOMINAL) => {
  const out = await renderEdit(source, spec, variant);
  expect([out.width, out.height]).toEqual([512, 512]);
  return pixels(out.bytes);
};

beforeAll(async () => {
  source = fs.readFileSync(path.join(FIXTURES, 'astronaut.png'));
  src = await pixels(source);
});

describe('renderEdit performs each op in the expected direction', () => {
  it('grayscale: channel spread drops to ~0', async () => {
    expect(chroma(src)).toBeGreaterThan(30);
    expect(chroma(await render({ op: 'grayscale' }))).toBeLessThan(3);
  });

  it('sepia: no longer gray-neutral, R > G > B almost everywhere, colours of the source gone', async () => {
    const out = await render({ op: 'sepia' });
    let ordered = 0;
    for (let i = 0; i < out.data.length; i += 3) if (out.data[i]! + 3 >= out.data[i + 1]! && out.data[i + 1]! + 3 >= out.data[i + 2]!) ordered++;
    expect(ordered / (out.data.length / 3)).toBeGreaterThan(0.97);
    expect(channelMean(out, 0) - channelMean(out, 2)).toBeGreaterThan(25);
  });

  it('warmer / cooler: red−blue balance moves up / down', async () => {
    const balance = (p: Px) => channelMean(p, 0) - channelMean(p, 2);
    expect(balance(await render({ op: 'warmer' })) - balance(src)).toBeGreaterThan(20);
    expect(balance(await render({ op: 'cooler' })) - balance(src)).toBeLessThan(-20);
  });

  it('brighter / darker: mean luma goes up / down', async () => {
    const m = mean(luma(src));
    expect(mean(luma(await render({ op: 'brighter' }))) - m).toBeGreaterThan(20);
    expect(mean(luma(await render({ op: 'darker' }))) - m).toBeLessThan(-20);
  });

  it('more / less contrast: luma spread grows / shrinks', async () => {
    const s = std(luma(src));
    expect(std(luma(await render({ op: 'more_contrast' }))) / s).toBeGreaterThan(1.15);
    expect(std(luma(await render({ op: 'less_contrast' }))) / s).toBeLessThan(0.7);
  });

  it('saturate / desaturate: chroma grows / shrinks', async () => {
    const c = chroma(src);
    expect(chroma(await render({ op: 'saturate' })) / c).toBeGreaterThan(1.2);
    expect(chroma(await render({ op: 'desaturate' })) / c).toBeLessThan(0.6);
  });

  it('hue_shift: saturated pixels turn by about the asked angle', async () => {
    const shift = meanHueShift(src, await render({ op: 'hue_shift', amount: 120 }));
    expect(shift).toBeGreaterThan(90);
    expect(shift).toBeLessThan(150);
  });

  it('blur / sharpen: high-frequency energy falls / rises', async () => {
    const e = edgeEnergy(src);
    expect(edgeEnergy(await render({ op: 'blur' })) / e).toBeLessThan(0.6);
    expect(edgeEnergy(await render({ op: 'sharpen' })) / e).toBeGreaterThan(1.15);
  });

  it('posterize: channel values gather at the few levels', async () => {
    const nearLevels = (p: Px) => {
      let n = 0;
      for (const v of p.data) if ([0, 85, 170, 255].some((l) => Math.abs(v - l) <= 10)) n++;
      return n / p.data.length;
    };
    const before = nearLevels(src);
    expect(before).toBeLessThan(0.6);
    expect(nearLevels(await render({ op: 'posterize', amount: 4 }))).toBeGreaterThan(before + 0.2);
  });

  it('border: the edges take the colour, the centre is untouched', async () => {
    const out = await render({ op: 'border', color: '#d62728' });
    const edge = { x0: 0, y0: 0, x1: 512, y1: 6 };
    const red: Px = { ...out, data: Buffer.from(out.data.map((_, i) => [0xd6, 0x27, 0x28][i % 3]!)) };
    expect(mad(out, red, edge)).toBeLessThan(12);
    expect(mad(out, src, { x0: 64, y0: 64, x1: 448, y1: 448 })).toBeLessThan(4); // JPEG re-encoding only
  });

  it('caption: a dark band appears at the bottom, the top stays as it was', async () => {
    const out = await render({ op: 'caption', text: 'Hello world' });
    expect(mad(out, src, { x0: 0, y0: 0, x1: 512, y1: 256 })).toBeLessThan(4); // JPEG re-encoding only
    const band = { x0: 0, y0: 470, x1: 512, y1: 512 };
    expect(mad(out, src, band)).toBeGreaterThan(20);
  });

  it('flips and a quarter turn match the geometric transforms of the source', async () => {
    for (const [spec, ref] of [
      [{ op: 'flip_horizontal' }, sharp(source).flop()],
      [{ op: 'flip_vertical' }, sharp(source).flip()],
      [{ op: 'rotate', amount: 90 }, sharp(source).rotate(90)],
    ] as const) {
      const out = await render(spec);
      expect(mad(out, await pixels(ref)), spec.op).toBeLessThan(3);
      expect(mad(out, src), spec.op).toBeGreaterThan(20);
    }
  });

  it('zoom: the output is the centre of the source scaled up', async () => {
    const out = await render({ op: 'zoom', amount: 2 });
    const ref = await pixels(sharp(source).extract({ left: 128, top: 128, width: 256, height: 256 }).resize(512, 512));
    expect(mad(out, ref)).toBeLessThan(4);
    expect(mad(out, src)).toBeGreaterThan(20);
  });

  it('invert: out + source ≈ 255', async () => {
    const out = await render({ op: 'invert' });
    let s = 0;
    for (let i = 0; i < out.data.length; i++) s += Math.abs(out.data[i]! + src.data[i]! - 255);
    expect(s / out.data.length).toBeLessThan(4);
  });

  it('a small rotation keeps the size and tilts the content', async () => {
    const out = await render({ op: 'rotate', amount: 10 });
    expect(mad(out, src)).toBeGreaterThan(15);
    // the corner becomes the black fill
    expect(mad(out, { ...out, data: Buffer.alloc(out.data.length) }, { x0: 0, y0: 0, x1: 20, y1: 20 })).toBeLessThan(12);
  });
});

describe('renderEdit output', () => {
  it('is a JPEG at the source size, also for a non-square source and a quarter turn', async () => {
    const chelsea = fs.readFileSync(path.join(FIXTURES, 'chelsea.png'));
    const meta = await sharp(chelsea).metadata();
    for (const spec of [{ op: 'rotate', amount: 90 }, { op: 'zoom' }, { op: 'caption', text: 'a long caption that will not fit the image width at all' }] as EditSpec[]) {
      const out = await renderEdit(chelsea, spec, NOMINAL);
      const m = await sharp(out.bytes).metadata();
      expect([m.format, m.width, m.height, out.width, out.height]).toEqual(['jpeg', meta.width, meta.height, meta.width, meta.height]);
    }
  });

  it('same source, spec and variant give the same bytes; another strength gives others', async () => {
    const spec: EditSpec = { op: 'warmer' };
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const v = variantForSeed(seed);
      const a = await renderEdit(source, spec, v);
      const b = await renderEdit(source, spec, variantForSeed(seed));
      expect(a.bytes.equals(b.bytes), `seed ${seed}`).toBe(true);
    }
    const a = await renderEdit(source, spec, { strength: 0.7, defects: [] });
    const b = await renderEdit(source, spec, { strength: 1.3, defects: [] });
    expect(a.bytes.equals(b.bytes)).toBe(false);
  });

  it('throws ImageError for bytes that are not an image, and for a truncated JPEG', async () => {
    await expect(renderEdit(Buffer.from('not an image at all'), { op: 'blur' }, NOMINAL)).rejects.toBeInstanceOf(ImageError);
    await expect(renderEdit(fs.readFileSync(path.join(FIXTURES, 'truncated.jpg')), { op: 'blur' }, NOMINAL)).rejects.toBeInstanceOf(ImageError);
  });
});

describe('variantForSeed', () => {
  it('is deterministic, mostly clean, and each defect shows up alone', () => {
    const seen = new Map<string, number>();
    for (let seed = 0; seed < 2000; seed++) {
      const v = variantForSeed(seed);
      expect(variantForSeed(seed)).toEqual(v);
      expect(v.defects.length).toBeLessThanOrEqual(1);
      const key: string = v.defects[0] ?? 'clean';
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (key === 'clean') expect(v.strength >= 0.5 && v.strength <= 1.5).toBe(true);
      if (key === 'weak') expect(v.strength).toBeLessThan(0.15);
      if (key === 'overdone') expect(v.strength).toBeGreaterThan(2);
    }
    expect(seen.get('clean')! / 2000).toBeGreaterThan(0.45);
    for (const d of DEFECTS) expect(seen.get(d) ?? 0, d).toBeGreaterThan(40);
    // large seeds (beyond 32 bits) vary too
    const big = new Set(Array.from({ length: 50 }, (_, i) => JSON.stringify(variantForSeed(2 ** 40 + i))));
    expect(big.size).toBeGreaterThan(10);
  });
});

describe('defects do what the downstream checks expect', () => {
  const spec: EditSpec = { op: 'warmer' };
  let nominal: Px;
  beforeAll(async () => {
    nominal = await render(spec);
  });

  it("'weak' is almost a no-op; 'overdone' changes far more than nominal", async () => {
    const base = mad(nominal, src);
    expect(base).toBeGreaterThan(8);
    expect(mad(await render(spec, { strength: 0.06, defects: ['weak'] }), src)).toBeLessThan(base * 0.15);
    expect(mad(await render(spec, { strength: 3, defects: ['overdone'] }), src)).toBeGreaterThan(base * 2);
    // discrete ops over-done too
    const flip = await render({ op: 'flip_horizontal' });
    const flipOver = await render({ op: 'flip_horizontal' }, { strength: 3, defects: ['overdone'] });
    expect(std(luma(flipOver)) / std(luma(flip))).toBeGreaterThan(1.2);
  });

  it("'shift' translates the content by 8–15 % of the width", async () => {
    const out = await render(spec, { strength: 1, defects: ['shift'] });
    let best = { dx: 0, err: Infinity };
    for (let dx = -100; dx <= 100; dx++) {
      const x0 = Math.max(0, dx) + 100, x1 = Math.min(512, 512 + dx) - 100;
      let s = 0;
      for (let y = 100; y < 412; y += 2) for (let x = x0; x < x1; x += 2) s += Math.abs(out.data[(y * 512 + x) * 3]! - nominal.data[(y * 512 + x - dx) * 3]!);
      const err = s / (((x1 - x0) / 2) * 156);
      if (err < best.err) best = { dx, err };
    }
    expect(Math.abs(best.dx) / 512).toBeGreaterThanOrEqual(0.075);
    expect(Math.abs(best.dx) / 512).toBeLessThanOrEqual(0.155);
    expect(best.err).toBeLessThan(4);
  });

  it("'zoom' is a centre crop scaled back up by 1.2–1.4×", async () => {
    const out = await render(spec, { strength: 1, defects: ['zoom'] });
    let best = { f: 1, err: Infinity };
    let unzoomed = 0;
    for (let f = 1; f <= 1.6; f += 0.02) {
      const cw = Math.round(512 / f);
      const ref = await pixels(sharp(nominal.data, { raw: { width: 512, height: 512, channels: 3 } }).extract({ left: Math.floor((512 - cw) / 2), top: Math.floor((512 - cw) / 2), width: cw, height: cw }).resize(512, 512));
      const err = mad(out, ref);
      if (f === 1) unzoomed = err;
      if (err < best.err) best = { f, err };
    }
    expect(best.f).toBeGreaterThanOrEqual(1.18);
    expect(best.f).toBeLessThanOrEqual(1.42);
    expect(best.err).toBeLessThan(unzoomed / 3);
  });

  /** Correlation of the residual (out − nominal luma) with itself shifted by `lag` pixels horizontally. */
  function residualCorr(out: Px, lag: number): number {
    const a = luma(out), b = luma(nominal);
    const r = a.map((v, i) => v - b[i]!);
    const m = mean(r);
    let num = 0, den = 0;
    for (let y = 0; y < 512; y++) {
      for (let x = 0; x + lag < 512; x++) {
        const i = y * 512 + x;
        num += (r[i]! - m) * (r[i + lag]! - m);
        den += (r[i]! - m) ** 2;
      }
    }
    return num / den;
  }

  it("'checkerboard' overlays a periodic 2–4 px pattern", async () => {
    const out = await render(spec, { strength: 1, defects: ['checkerboard'] });
    const periods = [2, 3, 4].filter((p) => residualCorr(out, p) < -0.3 && residualCorr(out, 2 * p) > 0.3);
    expect(periods.length).toBeGreaterThanOrEqual(1);
    expect(edgeEnergy(out) / edgeEnergy(nominal)).toBeGreaterThan(1.5);
  });

  it("'noise' adds unstructured noise", async () => {
    const out = await render(spec, { strength: 1, defects: ['noise'] });
    const base = luma(nominal);
    const r = luma(out).map((v, i) => v - base[i]!);
    expect(std(r)).toBeGreaterThan(6);
    for (const lag of [1, 2, 3, 4]) expect(Math.abs(residualCorr(out, lag))).toBeLessThan(0.25);
  });

  it("'blocky' shows 8×8 JPEG block edges", async () => {
    const blockiness = (p: Px) => {
      const y = luma(p);
      let across = 0, within = 0, na = 0, nw = 0;
      for (let r = 0; r < 512; r++) {
        for (let x = 0; x + 1 < 512; x++) {
          const d = Math.abs(y[r * 512 + x + 1]! - y[r * 512 + x]!);
          if (x % 8 === 7) {
            across += d;
            na++;
          } else {
            within += d;
            nw++;
          }
        }
      }
      return across / na / (within / nw);
    };
    const out = await renderEdit(source, spec, { strength: 1, defects: ['blocky'] });
    const clean = await renderEdit(source, spec, NOMINAL);
    expect(blockiness(await pixels(out.bytes))).toBeGreaterThan(1.8);
    expect(blockiness(nominal)).toBeLessThan(1.3);
    expect(out.bytes.length).toBeLessThan(clean.bytes.length / 3);
  });
});
