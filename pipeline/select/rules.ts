/**
 * The curation rules of selection, as plain functions over one request's candidates. The SQL
 * in `db/repositories/selection.repository.ts` computes the same thing set-based; these are the
 * brute-force reference the property test compares it with, so every decision is spelled out
 * here once:
 *
 * - A candidate is *usable* when it has an ok judgment of the rubric with 1–16 scores (the newest
 *   such judgment; a failed judgment has no scores).
 * - It *qualifies* (may be picked for SFT, may be the chosen side of a pair) when it is usable,
 *   the newest review of it is not `reject`, and either its newest check passed and its
 *   judgment passes every rubric threshold, or the newest review is `accept` and
 *   `reviewAcceptOverridesThresholds` — a reviewer's accept overrides everything automatic,
 *   the hard checks included. A `flag` is neutral: the automatic decision applies.
 * - The rejected side of a pair must be usable; it may have failed (or lack) a hard check only
 *   when `loserMayFailChecks`; a reviewer's reject does not keep it out: a known-bad edit is a
 *   good loser.
 */

/** Version of these rules; stored with every selection and pair so a new version runs beside an old one. */
export const SELECTION_RULE_VERSION = 'select-v1';

/** At most this many axes per score vector (the SQL spells out the product up to it). */
export const MAX_AXES = 16;

export interface SelectionParams {
  /** Minimum Σ(w−l) over the axes, canonical 0–10 scale. */
  minMargin: number;
  /** Pairs kept per request. */
  maxPairs: number;
  /** Times one candidate may appear (chosen or rejected) across one request's pairs. */
  maxUses: number;
  /** Whether the rejected side may have failed a hard check (it still needs an ok judgment). */
  loserMayFailChecks: boolean;
  /** Whether a reviewer's accept lets a candidate qualify below thresholds or after a failed check. */
  reviewAcceptOverridesThresholds: boolean;
}

export type Verdict = 'accept' | 'reject' | 'flag';

/** What selection knows about one candidate (for one rubric). */
export interface CandidateFacts {
  id: number;
  seed: number;
  /** Scores of the newest ok judgment of the rubric; null when there is none. */
  scores: number[] | null;
  /** passes_thresholds of that judgment. */
  passesThresholds: boolean;
  /** `passed` of the newest check row; false when there is none. */
  checkPassed: boolean;
  /** The newest review verdict; null when never reviewed. */
  review: Verdict | null;
}

/** Has scores selection can use. */
export function usable(c: CandidateFacts): c is CandidateFacts & { scores: number[] } {
  return c.scores !== null && c.scores.length > 0 && c.scores.length <= MAX_AXES;
}

/** May be picked for SFT and be the chosen side of a pair. */
export function qualifies(c: CandidateFacts, p: SelectionParams): boolean {
  if (!usable(c) || c.review === 'reject') return false;
  if (c.review === 'accept' && p.reviewAcceptOverridesThresholds) return true;
  return c.checkPassed && c.passesThresholds;
}

/** May be the rejected side of a pair. */
export function mayLose(c: CandidateFacts, p: SelectionParams): boolean {
  return usable(c) && (c.checkPassed || p.loserMayFailChecks);
}

/**
 * Geometric mean of the axes: the product taken left to right in doubles (exact for equal
 * products, so ties are ties), then its n-th root; 0 when the product is not positive.
 */
export function geometricMean(scores: number[]): number {
  let prod = 1;
  for (const s of scores) prod *= s;
  return prod > 0 ? Math.pow(prod, 1 / scores.length) : 0;
}
