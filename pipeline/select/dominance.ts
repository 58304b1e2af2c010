/**
 * Strict-dominance DPO pairs of one request: the brute-force reference of the SQL in
 * selection.repository.ts, greedy included.
 */
import { mayLose, qualifies, usable, type CandidateFacts, type SelectionParams } from './rules.ts';

export interface DominanceMargin {
  /** w − l per axis (doubles; stored as real). */
  margins: number[];
  /** Σ(w − l), summed left to right in doubles. */
  total: number;
}

/**
 * The margins when `w` strictly dominates `l` (≥ on every axis, > on at least one; vectors of
 * one length), else null. Equal vectors and incomparable ones give null.
 */
export function dominance(w: readonly number[], l: readonly number[]): DominanceMargin | null {
  if (w.length !== l.length || w.length === 0) return null;
  let strict = false;
  let total = 0;
  const margins: number[] = [];
  for (let i = 0; i < w.length; i++) {
    const d = w[i]! - l[i]!;
    if (d < 0) return null;
    if (d > 0) strict = true;
    margins.push(d);
    total += d;
  }
  return strict ? { margins, total } : null;
}

export interface DpoPair {
  chosenId: number;
  rejectedId: number;
  margins: number[];
  totalMargin: number;
  /** 1 = the largest margin kept. */
  rank: number;
}

/**
 * Every dominant (w, l) with total ≥ minMargin, w qualifying and l allowed to lose, ordered by
 * total margin descending, then chosen seed, then rejected seed ascending; then taken greedily
 * in that order while fewer than maxPairs are kept and neither side has been used maxUses times.
 */
export function dpoPairs(cands: readonly CandidateFacts[], params: SelectionParams): DpoPair[] {
  const edges: { w: CandidateFacts; l: CandidateFacts; m: DominanceMargin }[] = [];
  for (const w of cands) {
    if (!qualifies(w, params)) continue;
    for (const l of cands) {
      if (l === w || !usable(l) || !mayLose(l, params)) continue;
      const m = dominance(w.scores!, l.scores);
      if (m && m.total >= params.minMargin) edges.push({ w, l, m });
    }
  }
  edges.sort((a, b) => b.m.total - a.m.total || a.w.seed - b.w.seed || a.l.seed - b.l.seed);
  return takeWithinUses(edges, params, (e) => ({ margins: e.m.margins, totalMargin: e.m.total }));
}

/**
 * The greedy take every pairing rule shares: edges in rank order, each taken unless a side has
 * been used `maxUses` times, until `maxPairs` pairs are taken. Ranks are 1, 2, … in taking order.
 */
export function takeWithinUses<E extends { w: { id: number }; l: { id: number } }>(
  edges: readonly E[],
  params: Pick<SelectionParams, 'maxPairs' | 'maxUses'>,
  measure: (e: E) => { margins: number[]; totalMargin: number },
): DpoPair[] {
  const uses = new Map<number, number>();
  const out: DpoPair[] = [];
  for (const e of edges) {
    if (out.length >= params.maxPairs) break;
    const uw = uses.get(e.w.id) ?? 0;
    const ul = uses.get(e.l.id) ?? 0;
    if (uw >= params.maxUses || ul >= params.maxUses) continue;
    uses.set(e.w.id, uw + 1);
    uses.set(e.l.id, ul + 1);
    out.push({ chosenId: e.w.id, rejectedId: e.l.id, ...measure(e), rank: out.length + 1 });
  }
  return out;
}
