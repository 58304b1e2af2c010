/**
 * Near-duplicate groups over many hashes in memory: exact duplicates first (one sort), then the
 * banded keys of the distinct hashes (one radix sort per key), every pair inside a bucket checked
 * by Hamming distance, and union-find over the pairs that pass. What `vibe-curate near-dups`
 * runs over every source, and what the benchmark measures at a million hashes.
 */
import { bandingFor, bitsOf, mixKey } from './bands.ts';
import { popcount32 } from './phash.ts';

/** Union-find with path halving and union by size. */
export class UnionFind {
  readonly parent: Int32Array;
  private readonly size: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    this.size = new Int32Array(n).fill(1);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]!]!;
      x = p[x]!;
    }
    return x;
  }
  /** Joins the sets of a and b; false when they were one set already. */
  union(a: number, b: number): boolean {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return false;
    if (this.size[ra]! < this.size[rb]!) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra]! += this.size[rb]!;
    return true;
  }
}

/** Indexes 0..n-1 ordered by the unsigned 32-bit `keys` (LSD radix sort, two 16-bit passes). */
export function radixOrder(keys: Uint32Array, n = keys.length): Uint32Array {
  let order = new Uint32Array(n);
  let tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const count = new Uint32Array(65537);
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[((keys[order[i]!]! >>> shift) & 0xffff) + 1]!++;
    for (let i = 0; i < 65536; i++) count[i + 1]! += count[i]!;
    for (let i = 0; i < n; i++) {
      const o = order[i]!;
      tmp[count[(keys[o]! >>> shift) & 0xffff]!++] = o;
    }
    [order, tmp] = [tmp, order];
  }
  return order;
}

export interface GroupStats {
  /** Distinct hashes (exact duplicates joined first). */
  distinct: number;
  /** Pairs compared by Hamming distance (bucket mates). */
  candidates: number;
  /** Compared pairs within the distance. */
  verified: number;
}

/**
 * Groups the hashes (hi[i], lo[i]) so that any two within Hamming `distance` share a group
 * (transitively). Returns each hash's group as the smallest index in it, and counters.
 */
export function groupNearDuplicates(hi: Uint32Array, lo: Uint32Array, distance: number): { group: Int32Array; stats: GroupStats } {
  const n = hi.length;
  const uf = new UnionFind(n);
  const stats: GroupStats = { distinct: 0, candidates: 0, verified: 0 };
  // exact duplicates: order by (hi, lo), join runs; the first of each run represents it
  const byLo = radixOrder(lo);
  const hiOrdered = new Uint32Array(n);
  for (let i = 0; i < n; i++) hiOrdered[i] = hi[byLo[i]!]!;
  const byHi = radixOrder(hiOrdered);
  const reps: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = byLo[byHi[k]!]!;
    const prev = k ? byLo[byHi[k - 1]!]! : -1;
    if (prev >= 0 && hi[prev] === hi[i] && lo[prev] === lo[i]) uf.union(prev, i);
    else reps.push(i);
  }
  stats.distinct = reps.length;
  if (distance > 0) {
    const band = bandingFor(distance);
    const m = reps.length;
    const rHi = new Uint32Array(m);
    const rLo = new Uint32Array(m);
    for (let k = 0; k < m; k++) {
      rHi[k] = hi[reps[k]!]!;
      rLo[k] = lo[reps[k]!]!;
    }
    const keys = new Uint32Array(m);
    // the hashes copied into key order, so that comparing bucket mates reads memory in sequence
    const sKey = new Uint32Array(m);
    const sHi = new Uint32Array(m);
    const sLo = new Uint32Array(m);
    const sIdx = new Uint32Array(m);
    // each block's bits of every hash, read once; a key mixes two of them (same keys as bandKey)
    const blocks = band.starts.map((start, b) => {
      const v = new Uint32Array(m);
      for (let k = 0; k < m; k++) v[k] = bitsOf(rHi[k]!, rLo[k]!, start, band.widths[b]!);
      return v;
    });
    for (let p = 0; p < band.pairs.length; p++) {
      const [i, j] = band.pairs[p]!;
      const bi = blocks[i]!;
      const bj = blocks[j]!;
      for (let k = 0; k < m; k++) keys[k] = mixKey(p, bi[k]!, bj[k]!) >>> 0;
      const order = radixOrder(keys);
      for (let k = 0; k < m; k++) {
        const o = order[k]!;
        sKey[k] = keys[o]!;
        sHi[k] = rHi[o]!;
        sLo[k] = rLo[o]!;
        sIdx[k] = o;
      }
      let start = 0;
      while (start < m) {
        const key = sKey[start]!;
        let end = start + 1;
        while (end < m && sKey[end] === key) end++;
        for (let a = start; a < end; a++) {
          const ah = sHi[a]!;
          const al = sLo[a]!;
          for (let b = a + 1; b < end; b++) {
            stats.candidates++;
            if (popcount32((ah ^ sHi[b]!) >>> 0) + popcount32((al ^ sLo[b]!) >>> 0) <= distance) {
              stats.verified++;
              uf.union(reps[sIdx[a]!]!, reps[sIdx[b]!]!);
            }
          }
        }
        start = end;
      }
    }
  }
  // label: the smallest index of each set
  const label = new Int32Array(n).fill(-1);
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    if (label[r] === -1) label[r] = i;
    group[i] = label[r]!;
  }
  return { group, stats };
}
