/**
 * The perceptual hash and the grouping, without a database: a re-encoded, resized copy of a
 * photo lands within the distance while other photos do not; the banding finds every pair
 * within the distance (checked against all pairs); union-find joins chains.
 */
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DEMO_IMAGE_DIR, demoImages } from '../../cli/demo.ts';
import { bandingFor, bandKeys, bitsOf } from '../../pipeline/near-dup/bands.ts';
import { groupNearDuplicates } from '../../pipeline/near-dup/group.ts';
import { fromSigned, hamming, phashOfImage, toSignedString, type Hash64 } from '../../pipeline/near-dup/phash.ts';
import { mulberry32 as rng } from '../../pipeline/rng.ts';


function flip(h: Hash64, bits: number[]): Hash64 {
  let { hi, lo } = h;
  for (const b of bits) {
    if (b < 32) hi = (hi ^ (1 << (31 - b))) >>> 0;
    else lo = (lo ^ (1 << (63 - b))) >>> 0;
  }
  return { hi, lo };
}

describe('pHash', () => {
  it('keeps a re-encoded, resized copy within 6 bits and other photos far apart', async () => {
    const names = demoImages().slice(0, 6);
    const hashes: Hash64[] = [];
    for (const n of names) hashes.push(await phashOfImage(await sharp(path.join(DEMO_IMAGE_DIR, n)).toBuffer()));
    const original = await sharp(path.join(DEMO_IMAGE_DIR, names[0]!)).jpeg({ quality: 95 }).toBuffer();
    const copy = await sharp(original).resize({ width: 300 }).jpeg({ quality: 60 }).toBuffer();
    const a = await phashOfImage(original);
    const b = await phashOfImage(copy);
    expect(hamming(a, b)).toBeLessThanOrEqual(6);
    for (let i = 0; i < hashes.length; i++) for (let j = i + 1; j < hashes.length; j++) expect(hamming(hashes[i]!, hashes[j]!)).toBeGreaterThan(12);
  });

  it('round-trips through the signed bigint Postgres stores', () => {
    for (const h of [{ hi: 0xffffffff, lo: 0xffffffff }, { hi: 0x80000000, lo: 1 }, { hi: 0, lo: 0 }, { hi: 0x12345678, lo: 0x9abcdef0 }]) {
      expect(fromSigned(toSignedString(h))).toEqual(h);
    }
    expect(toSignedString({ hi: 0xffffffff, lo: 0xffffffff })).toBe('-1');
  });
});

describe('banded keys', () => {
  it('cut 64 bits into distance + 2 blocks and read them across the 32-bit halves', () => {
    const b = bandingFor(6);
    expect(b.widths).toEqual([8, 8, 8, 8, 8, 8, 8, 8]);
    expect(b.pairs).toHaveLength(28);
    expect(bandingFor(5).widths.reduce((x, y) => x + y, 0)).toBe(64);
    // bits 28–35 straddle hi and lo
    expect(bitsOf(0x0000000a, 0xb0000000, 28, 8)).toBe(0xab);
    expect(bitsOf(0x12345678, 0x9abcdef0, 0, 32)).toBe(0x12345678);
    expect(bitsOf(0x12345678, 0x9abcdef0, 32, 32)).toBe(0x9abcdef0);
  });

  it('give every pair within the distance a shared key (all distances 0–6, random flips)', () => {
    const next = rng(7);
    for (let trial = 0; trial < 2000; trial++) {
      const a = { hi: (next() * 2 ** 32) >>> 0, lo: (next() * 2 ** 32) >>> 0 };
      const d = trial % 7;
      const bits = new Set<number>();
      while (bits.size < d) bits.add(Math.floor(next() * 64));
      const b = flip(a, [...bits]);
      expect(hamming(a, b)).toBe(d);
      const ka = new Set(bandKeys(a, 6));
      expect(bandKeys(b, 6).some((k) => ka.has(k))).toBe(true);
    }
  });
});

describe('groupNearDuplicates', () => {
  it('finds exactly the groups that comparing all pairs finds', () => {
    const next = rng(11);
    const n = 3000;
    const hs: Hash64[] = [];
    for (let i = 0; i < n; i++) {
      if (i > 10 && next() < 0.3) {
        const base = hs[Math.floor(next() * hs.length)]!;
        const d = Math.floor(next() * 10); // some within 6, some beyond
        const bits = new Set<number>();
        while (bits.size < d) bits.add(Math.floor(next() * 64));
        hs.push(flip(base, [...bits]));
      } else hs.push({ hi: (next() * 2 ** 32) >>> 0, lo: (next() * 2 ** 32) >>> 0 });
    }
    const { group } = groupNearDuplicates(Uint32Array.from(hs.map((h) => h.hi)), Uint32Array.from(hs.map((h) => h.lo)), 6);
    // reference: all pairs, then connected components by repeated relabelling
    const label = Array.from({ length: n }, (_, i) => i);
    const root = (x: number): number => (label[x] === x ? x : (label[x] = root(label[x]!)));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (hamming(hs[i]!, hs[j]!) <= 6) label[Math.max(root(i), root(j))] = Math.min(root(i), root(j));
    const expected = Array.from({ length: n }, (_, i) => root(i));
    expect(Array.from(group)).toEqual(expected);
    expect(new Set(expected).size).toBeLessThan(n * 0.9); // the planted copies really made groups
  });

  it('joins exact duplicates, and chains a–b–c even when a and c are farther apart', () => {
    const a = { hi: 0, lo: 0 };
    const b = flip(a, [0, 1, 2, 3, 4]);
    const c = flip(b, [10, 11, 12, 13, 14]);
    const far = { hi: 0xffffffff, lo: 0xffffffff };
    const list = [a, far, c, b, a];
    const { group } = groupNearDuplicates(Uint32Array.from(list.map((h) => h.hi)), Uint32Array.from(list.map((h) => h.lo)), 6);
    expect(Array.from(group)).toEqual([0, 1, 0, 0, 0]);
  });
});
