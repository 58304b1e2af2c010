/**
 * Banded LSH keys for Hamming distance, with guaranteed recall.
 *
 * Pigeonhole: cut the 64 bits into B = D + 2 blocks. Two hashes at Hamming distance d ≤ D differ
 * in at most d blocks, so at least B − d ≥ 2 blocks are identical. A key is one PAIR of blocks
 * (its index and the bits of both blocks), C(B, 2) keys per hash; two hashes within distance D
 * therefore always share a key, so candidate recall is 100 % for every d ≤ D, not just likely.
 *
 * Why pairs of blocks and not single blocks: with D = 6 and single blocks (B = 7 bands of ~9
 * bits, equally exact), a million unrelated hashes put ~2 000 hashes in every bucket and make
 * ~7·10⁹ candidate pairs to verify; a pair of 8-bit blocks is a 16-bit key, ~15 hashes per
 * bucket at a million, ~2·10⁸ candidates over the 28 keys. The key is the pair index and the
 * block bits mixed into one signed 32-bit integer (Postgres int4, GIN-indexable); a mixing
 * collision only adds a candidate, which the Hamming check then drops.
 */
import type { Hash64 } from './phash.ts';

export interface Banding {
  distance: number;
  /** Block boundaries: block i covers bits [starts[i], starts[i] + widths[i]) counted from the most significant bit. */
  starts: number[];
  widths: number[];
  /** Pairs of block indexes, one key each. */
  pairs: [number, number][];
}

/** NEAR_DUP_DISTANCE's default: bits of the 64-bit pHash. */
export const DEFAULT_NEAR_DUP_DISTANCE = 6;

const cache = new Map<number, Banding>();

/** The banding for Hamming distance `distance` (0–16). */
export function bandingFor(distance: number): Banding {
  if (!Number.isInteger(distance) || distance < 0 || distance > 16) throw new RangeError(`near-duplicate distance must be an integer 0–16, got ${distance}`);
  let b = cache.get(distance);
  if (b) return b;
  const blocks = distance + 2;
  const starts: number[] = [];
  const widths: number[] = [];
  let at = 0;
  for (let i = 0; i < blocks; i++) {
    const w = Math.floor(64 / blocks) + (i < 64 % blocks ? 1 : 0);
    starts.push(at);
    widths.push(w);
    at += w;
  }
  const pairs: [number, number][] = [];
  for (let i = 0; i < blocks; i++) for (let j = i + 1; j < blocks; j++) pairs.push([i, j]);
  b = { distance, starts, widths, pairs };
  cache.set(distance, b);
  return b;
}

/** Bits [start, start + width) of the 64-bit hash, counted from the most significant bit (width ≤ 32). */
const mask = (w: number) => (w >= 32 ? 0xffffffff : (1 << w) - 1);

export function bitsOf(hi: number, lo: number, start: number, width: number): number {
  const end = start + width;
  if (end <= 32) return ((hi >>> (32 - end)) & mask(width)) >>> 0;
  if (start >= 32) return ((lo >>> (64 - end)) & mask(width)) >>> 0;
  const fromHi = 32 - start; // bits taken from the end of `hi`
  const fromLo = width - fromHi;
  const high = hi & mask(fromHi);
  const low = fromLo === 0 ? 0 : lo >>> (32 - fromLo);
  return ((fromLo >= 32 ? 0 : high << fromLo) | low) >>> 0;
}

/** Mixes the pair index and the two blocks' bits into one signed 32-bit key. */
export function mixKey(pair: number, a: number, b: number): number {
  let h = Math.imul(pair + 1, 0x9e3779b1);
  h = Math.imul(h ^ a, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** The key of pair `p` of hash (hi, lo). */
export function bandKey(band: Banding, p: number, hi: number, lo: number): number {
  const [i, j] = band.pairs[p]!;
  return mixKey(p, bitsOf(hi, lo, band.starts[i]!, band.widths[i]!), bitsOf(hi, lo, band.starts[j]!, band.widths[j]!));
}

/** Every key of a hash (what `sources.phash_bands` stores). */
export function bandKeys(h: Hash64, distance: number): number[] {
  const band = bandingFor(distance);
  return band.pairs.map((_, p) => bandKey(band, p, h.hi, h.lo));
}
