/**
 * Near-duplicate grouping benchmark: N synthetic 64-bit hashes (default 1 000 000), a tenth of
 * them planted copies of an earlier hash with 1–6 bits flipped (NEAR_DUP_DISTANCE = 6).
 *   measured:   groupNearDuplicates (exact duplicates, banded keys, Hamming check, union-find);
 *   baseline 1: exact-hash grouping of the same hashes (one sort and a scan): the grouping that
 *               splits by exact hash amounts to; it is the floor on time and finds no planted pair;
 *   baseline 2: all pairs compared, on a SUBSET of S hashes (default 20 000) where it is feasible,
 *               timed and extrapolated quadratically to N; the grouping must agree with it there.
 * Prints the times, the planted pairs recovered, and the ratios.
 *
 *   npx tsx test/bench/near-dup.bench.ts [--hashes 1000000] [--subset 20000]
 */
import { groupNearDuplicates, radixOrder } from '../../pipeline/near-dup/group.ts';
import { popcount32 } from '../../pipeline/near-dup/phash.ts';
import { mulberry32 as rng } from '../../pipeline/rng.ts';
import { flag } from './flags.ts';

const N = flag('hashes', 1_000_000, 2);
const S = Math.min(N, flag('subset', 20_000, 2));
const D = 6;
const PLANTED_SHARE = 0.1;


/** Hashes with planted copies; `pairs` lists (original, copy) indexes. */
function synth(n: number, seed: number): { hi: Uint32Array; lo: Uint32Array; pairs: [number, number][] } {
  const next = rng(seed);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0 && next() < PLANTED_SHARE) {
      const base = Math.floor(next() * i);
      let h = hi[base]!;
      let l = lo[base]!;
      const d = 1 + Math.floor(next() * D);
      const bits = new Set<number>();
      while (bits.size < d) bits.add(Math.floor(next() * 64));
      for (const b of bits) {
        if (b < 32) h = (h ^ (1 << (31 - b))) >>> 0;
        else l = (l ^ (1 << (63 - b))) >>> 0;
      }
      hi[i] = h;
      lo[i] = l;
      pairs.push([base, i]);
    } else {
      hi[i] = (next() * 2 ** 32) >>> 0;
      lo[i] = (next() * 2 ** 32) >>> 0;
    }
  }
  return { hi, lo, pairs };
}

/** Baseline 1: groups of identical hashes (smallest index of each), by one radix sort on each half. */
function exactGroups(hi: Uint32Array, lo: Uint32Array): Int32Array {
  const n = hi.length;
  const byLo = radixOrder(lo);
  const hiOrdered = new Uint32Array(n);
  for (let i = 0; i < n; i++) hiOrdered[i] = hi[byLo[i]!]!;
  const byHi = radixOrder(hiOrdered);
  const group = new Int32Array(n);
  let first = -1;
  for (let k = 0; k < n; k++) {
    const i = byLo[byHi[k]!]!;
    const prev = k ? byLo[byHi[k - 1]!]! : -1;
    if (prev < 0 || hi[prev] !== hi[i] || lo[prev] !== lo[i]) first = i;
    group[i] = first;
  }
  return group;
}

/** Baseline 2: every pair compared; components as smallest index. */
function allPairsGroups(hi: Uint32Array, lo: Uint32Array): { group: Int32Array; compared: number } {
  const n = hi.length;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  let compared = 0;
  for (let i = 0; i < n; i++) {
    const hi0 = hi[i]!;
    const lo0 = lo[i]!;
    for (let j = i + 1; j < n; j++) {
      compared++;
      if (popcount32((hi0 ^ hi[j]!) >>> 0) + popcount32((lo0 ^ lo[j]!) >>> 0) <= D) {
        const a = find(i);
        const b = find(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) group[i] = find(i);
  return { group, compared };
}

const recovered = (group: Int32Array, pairs: [number, number][]) => pairs.filter(([a, b]) => group[a] === group[b]).length;
const secs = (ms: number) => (ms / 1000).toFixed(2);
const pct = (a: number, b: number) => ((100 * a) / Math.max(1, b)).toFixed(2);

function main(): void {
  console.log(`near-dup bench: ${N.toLocaleString('en')} hashes, ~${PLANTED_SHARE * 100} % planted copies at 1–${D} bits, distance ≤ ${D}`);
  const { hi, lo, pairs } = synth(N, 42);

  let t0 = performance.now();
  const exact = exactGroups(hi, lo);
  const exactMs = performance.now() - t0;

  t0 = performance.now();
  const { group, stats } = groupNearDuplicates(hi, lo, D);
  const lshMs = performance.now() - t0;

  const groups = new Map<number, number>();
  for (const g of group) groups.set(g, (groups.get(g) ?? 0) + 1);
  let multi = 0;
  let largest = 0;
  for (const n of groups.values()) {
    if (n > 1) multi++;
    largest = Math.max(largest, n);
  }
  const found = recovered(group, pairs);
  console.log(`baseline 1, exact-hash grouping:  ${secs(exactMs)} s, planted pairs recovered ${recovered(exact, pairs)}/${pairs.length} (${pct(recovered(exact, pairs), pairs.length)} %)`);
  console.log(
    `measured, banded LSH + union-find: ${secs(lshMs)} s, planted pairs recovered ${found}/${pairs.length} (${pct(found, pairs.length)} %); ` +
      `${stats.candidates.toLocaleString('en')} bucket-mate checks, ${stats.verified.toLocaleString('en')} within ${D} (a pair counts once per shared key); ${multi.toLocaleString('en')} groups of 2+, largest ${largest}`,
  );
  console.log(`ratio measured / baseline 1: ${(lshMs / exactMs).toFixed(1)}× the time of exact grouping`);

  // baseline 2 on a subset: the same planted structure at S hashes
  const sub = synth(S, 43);
  t0 = performance.now();
  const all = allPairsGroups(sub.hi, sub.lo);
  const allMs = performance.now() - t0;
  t0 = performance.now();
  const subLsh = groupNearDuplicates(sub.hi, sub.lo, D);
  const subLshMs = performance.now() - t0;
  let agree = true;
  for (let i = 0; i < S; i++) if (all.group[i] !== subLsh.group[i]) agree = false;
  const extrapolated = allMs * (N / S) ** 2;
  console.log(
    `baseline 2, all pairs on ${S.toLocaleString('en')} hashes: ${secs(allMs)} s (${all.compared.toLocaleString('en')} pairs), LSH on the same ${secs(subLshMs)} s; ` +
      `groups identical: ${agree ? 'yes' : 'NO'}`,
  );
  console.log(`ratio baseline 2 extrapolated to ${N.toLocaleString('en')} (${secs(extrapolated)} s) / measured: ${(extrapolated / lshMs).toFixed(0)}× faster`);
  if (!agree || found / pairs.length < 0.99) process.exitCode = 1;
}

main();
