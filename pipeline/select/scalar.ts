/**
 * `scalar-v1`, the scalarised pairing rule (as Pico-Banana-400K builds its preference pairs),
 * beside strict dominance so the two can be compared on the same data. Its TypeScript reference
 * here; the SQL in db/repositories/scalar-selection.sql.ts computes the same set-based.
 *
 * - score(c) = w_i·instruction + w_p·preservation + w_q·quality over the judgment's canonical
 *   axes (stored as real), summed left to right in doubles, weights normalised to sum 1, so the
 *   score is on the canonical 0–10 scale.
 * - SFT pick: the highest score among qualifying candidates (qualification as in select-v1:
 *   hard checks, thresholds, reviews); ties to the lowest seed.
 * - Pairs: every (w, l) of one request with w qualifying, l allowed to lose (as in select-v1),
 *   score(w) − score(l) > 0 and ≥ minGap; taken largest gap first (ties: chosen seed, then
 *   rejected seed ascending), i.e. best against worst, greedily under the use limits of
 *   select-v1 (maxPairs per request, maxUses per candidate). Equal scores never make a pair.
 * - The stored margins stay w − l per rubric axis (as select-v1 stores them): a negative one is
 *   an axis where the chosen side is worse, a pair strict dominance would never make.
 */
import { mayLose, qualifies, type CandidateFacts, type SelectionParams } from './rules.ts';
import { takeWithinUses, type DpoPair } from './dominance.ts';

/** Version of this rule, stored with its selections and pairs. */
export const SCALAR_RULE_VERSION = 'scalar-v1';

export interface ScalarWeights {
  instruction: number;
  preservation: number;
  quality: number;
}

export interface ScalarParams {
  /** Weights of the canonical axes, summing to 1. */
  weights: ScalarWeights;
  /** Least score gap chosen − rejected (0–10). */
  minGap: number;
}

/** One candidate as scalar-v1 sees it: select-v1's facts plus the canonical axes of the same judgment. */
export interface ScalarCandidateFacts extends CandidateFacts {
  /** The canonical axes (null when there is no usable judgment). */
  axes: ScalarWeights | null;
}

/** The weighted sum, in the order instruction, preservation, quality (the SQL sums the same way). */
export function scalarScore(axes: ScalarWeights, w: ScalarWeights): number {
  return w.instruction * axes.instruction + w.preservation * axes.preservation + w.quality * axes.quality;
}

const scoreOf = (c: ScalarCandidateFacts, p: ScalarParams): number | null => (c.axes ? scalarScore(c.axes, p.weights) : null);

/** Highest score among qualifying candidates; ties to the lowest seed. */
export function pickScalar(cands: readonly ScalarCandidateFacts[], params: SelectionParams, sp: ScalarParams): { candidateId: number | null; score: number | null } {
  let best: { c: ScalarCandidateFacts; s: number } | null = null;
  for (const c of cands) {
    const s = scoreOf(c, sp);
    if (s === null || !qualifies(c, params)) continue;
    if (!best || s > best.s || (s === best.s && c.seed < best.c.seed)) best = { c, s };
  }
  return best ? { candidateId: best.c.id, score: best.s } : { candidateId: null, score: null };
}

/** The scalar-v1 pairs of one request (totalMargin: the score gap; margins: w − l per rubric axis). */
export function scalarPairs(cands: readonly ScalarCandidateFacts[], params: SelectionParams, sp: ScalarParams): DpoPair[] {
  const edges: { w: ScalarCandidateFacts; l: ScalarCandidateFacts; gap: number }[] = [];
  for (const w of cands) {
    const sw = scoreOf(w, sp);
    if (sw === null || !qualifies(w, params)) continue;
    for (const l of cands) {
      const sl = scoreOf(l, sp);
      if (l === w || sl === null || !mayLose(l, params) || l.scores!.length !== w.scores!.length) continue;
      const gap = sw - sl;
      if (gap > 0 && gap >= sp.minGap) edges.push({ w, l, gap });
    }
  }
  edges.sort((a, b) => b.gap - a.gap || a.w.seed - b.w.seed || a.l.seed - b.l.seed);
  return takeWithinUses(edges, params, (e) => ({ margins: e.w.scores!.map((s, i) => s - e.l.scores![i]!), totalMargin: e.gap }));
}

/** Whether a pair is not dominant: the chosen side is worse on some axis (a negative margin). */
export const notDominant = (margins: readonly number[]): boolean => margins.some((m) => m < 0);
