/**
 * Judge calibration against reviewers. The reviewer's verdict is the truth (accept = positive);
 * the judge's decision is its threshold verdict (`passes_thresholds`). Agreement is precision,
 * recall, F1 and Cohen's κ, overall and per category. For each thresholded score alone, a sweep
 * over its observed values finds the threshold that maximises F1 and the lowest one whose
 * precision reaches 0.9 (the most recall at that precision). Suggestions are withheld below
 * MIN_REVIEWS reviews: a threshold fitted to a handful of verdicts is noise.
 */
import type { ReviewedJudgment } from '../../db/repositories/calibration.repository.ts';

/** Fewest reviews thresholds are suggested from. */
export const MIN_REVIEWS = 30;
/** The precision the second suggested threshold must reach. */
export const TARGET_PRECISION = 0.9;

export interface Agreement {
  n: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  /** null where undefined (no positive decisions, no accepted reviews, or κ with chance agreement 1). */
  precision: number | null;
  recall: number | null;
  f1: number | null;
  kappa: number | null;
}

const ratio = (a: number, b: number) => (b === 0 ? null : a / b);
const round = (x: number | null) => (x === null ? null : Math.round(x * 1e4) / 1e4);

/** Agreement of the judge's decisions with the reviewers' (true = accept / pass). */
export function agreement(items: readonly { judge: boolean; human: boolean }[]): Agreement {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const { judge, human } of items) {
    if (judge && human) tp++;
    else if (judge) fp++;
    else if (human) fn++;
    else tn++;
  }
  const n = tp + fp + fn + tn;
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  const f1 = ratio(2 * tp, 2 * tp + fp + fn);
  let kappa: number | null = null;
  if (n > 0) {
    const po = (tp + tn) / n;
    const pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n);
    kappa = pe === 1 ? null : (po - pe) / (1 - pe);
  }
  return { n, tp, fp, fn, tn, precision: round(precision), recall: round(recall), f1: round(f1), kappa: round(kappa) };
}

export interface ThresholdPoint {
  threshold: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  /** Reviewed candidates at or above the threshold. */
  kept: number;
}

/** Precision, recall and F1 of `score ≥ t` against the verdicts, for every observed value t (ascending). */
export function sweep(items: readonly { score: number; accept: boolean }[]): ThresholdPoint[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const positives = items.filter((i) => i.accept).length;
  const out: ThresholdPoint[] = [];
  let tp = 0;
  let kept = 0;
  for (let i = 0; i < sorted.length; i++) {
    kept++;
    if (sorted[i]!.accept) tp++;
    if (i + 1 < sorted.length && sorted[i + 1]!.score === sorted[i]!.score) continue; // the whole tie is kept together
    const fp = kept - tp;
    const fn = positives - tp;
    out.push({ threshold: sorted[i]!.score, precision: round(ratio(tp, kept)), recall: round(ratio(tp, positives)), f1: round(ratio(2 * tp, 2 * tp + fp + fn)), kept });
  }
  return out.reverse();
}

/** The F1-best threshold (ties: the higher precision, then the lower threshold) and the lowest with precision ≥ target. */
export function suggest(points: readonly ThresholdPoint[], target = TARGET_PRECISION): { bestF1: ThresholdPoint | null; precisionTarget: ThresholdPoint | null } {
  let bestF1: ThresholdPoint | null = null;
  for (const p of points) {
    if (p.f1 === null) continue;
    if (!bestF1 || p.f1 > bestF1.f1! || (p.f1 === bestF1.f1 && (p.precision ?? 0) > (bestF1.precision ?? 0))) bestF1 = p;
  }
  const precisionTarget = points.find((p) => p.precision !== null && p.precision >= target) ?? null;
  return { bestF1, precisionTarget };
}

export interface ScoreCalibration {
  /** The threshold configured now. */
  current: number;
  /** Agreement of this score's current threshold alone. */
  agreement: Agreement;
  /** Reviewed candidates without this score (not counted above). */
  missing: number;
  /** Counts per observed value: what the dashboard charts. */
  distribution: { value: number; accepted: number; rejected: number }[];
  sweep: ThresholdPoint[];
  /** null below MIN_REVIEWS reviews. */
  suggested: { bestF1: ThresholdPoint | null; precisionTarget: ThresholdPoint | null } | null;
}

export interface CalibrationReport {
  rubric: string;
  judgeModel: string;
  promptHash: string | null;
  /** Reviewed (accept or reject) candidates with a judgment of this judge version: what every number rests on. */
  reviews: number;
  accepted: number;
  rejected: number;
  minReviews: number;
  targetPrecision: number;
  /** Why thresholds are not suggested (fewer than minReviews reviews); absent when they are. */
  withheld?: string;
  overall: Agreement;
  perCategory: Record<string, Agreement>;
  scores: Record<string, ScoreCalibration>;
}

/** The value of a thresholded score: a raw score or an aggregate of the rubric. */
function valueOf(r: ReviewedJudgment, name: string): number | null {
  const v = r.aggregate?.[name] ?? r.raw_scores?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The whole report from reviewed judgments of one judge version and the rubric's thresholds. */
export function calibrate(
  rowsIn: readonly ReviewedJudgment[],
  o: { rubric: string; judgeModel: string; promptHash?: string; thresholds: Record<string, number>; minReviews?: number },
): CalibrationReport {
  const minReviews = o.minReviews ?? MIN_REVIEWS;
  const decisions = rowsIn.map((r) => ({ judge: r.passes_thresholds, human: r.verdict === 'accept' }));
  const byCat = new Map<string, { judge: boolean; human: boolean }[]>();
  rowsIn.forEach((r, i) => {
    const cat = r.category || '(none)';
    if (!byCat.has(cat)) byCat.set(cat, []);
    byCat.get(cat)!.push(decisions[i]!);
  });
  const enough = rowsIn.length >= minReviews;
  const scores: Record<string, ScoreCalibration> = {};
  for (const [name, current] of Object.entries(o.thresholds).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const items: { score: number; accept: boolean }[] = [];
    for (const r of rowsIn) {
      const v = valueOf(r, name);
      if (v !== null) items.push({ score: v, accept: r.verdict === 'accept' });
    }
    const dist = new Map<number, { value: number; accepted: number; rejected: number }>();
    for (const it of items) {
      const d = dist.get(it.score) ?? { value: it.score, accepted: 0, rejected: 0 };
      if (it.accept) d.accepted++;
      else d.rejected++;
      dist.set(it.score, d);
    }
    const points = sweep(items);
    scores[name] = {
      current,
      agreement: agreement(items.map((it) => ({ judge: it.score >= current, human: it.accept }))),
      missing: rowsIn.length - items.length,
      distribution: [...dist.values()].sort((a, b) => a.value - b.value),
      sweep: points,
      suggested: enough ? suggest(points) : null,
    };
  }
  const accepted = decisions.filter((d) => d.human).length;
  return {
    rubric: o.rubric,
    judgeModel: o.judgeModel,
    promptHash: o.promptHash ?? null,
    reviews: rowsIn.length,
    accepted,
    rejected: rowsIn.length - accepted,
    minReviews,
    targetPrecision: TARGET_PRECISION,
    ...(enough ? {} : { withheld: `thresholds are suggested from ${minReviews} or more reviews; this judge version has ${rowsIn.length}` }),
    overall: agreement(decisions),
    perCategory: Object.fromEntries([...byCat.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, agreement(v)])),
    scores,
  };
}
