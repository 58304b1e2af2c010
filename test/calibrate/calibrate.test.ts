/** The calibration arithmetic on small hand-made sets. */
import { describe, expect, it } from 'vitest';
import { agreement, calibrate, suggest, sweep } from '../../pipeline/calibrate/index.ts';
import type { ReviewedJudgment } from '../../db/repositories/calibration.repository.ts';

const items = (tp: number, fp: number, fn: number, tn: number) => [
  ...Array.from({ length: tp }, () => ({ judge: true, human: true })),
  ...Array.from({ length: fp }, () => ({ judge: true, human: false })),
  ...Array.from({ length: fn }, () => ({ judge: false, human: true })),
  ...Array.from({ length: tn }, () => ({ judge: false, human: false })),
];

describe('agreement', () => {
  it('computes precision, recall, F1 and Cohen κ from the confusion matrix', () => {
    // po = 35/50 = 0.7; pe = (25·30 + 25·20) / 50² = 0.5; κ = (0.7 − 0.5) / 0.5 = 0.4
    expect(agreement(items(20, 5, 10, 15))).toEqual({ n: 50, tp: 20, fp: 5, fn: 10, tn: 15, precision: 0.8, recall: 0.6667, f1: 0.7273, kappa: 0.4 });
  });
  it('leaves undefined ratios null instead of inventing them', () => {
    expect(agreement(items(0, 0, 3, 2))).toMatchObject({ precision: null, recall: 0, f1: 0, kappa: 0 });
    expect(agreement(items(4, 0, 0, 0))).toMatchObject({ precision: 1, recall: 1, kappa: null }); // chance agreement 1
    expect(agreement([])).toMatchObject({ n: 0, precision: null, recall: null, f1: null, kappa: null });
  });
});

describe('sweep and suggest', () => {
  const set = [
    { score: 3, accept: false },
    { score: 5, accept: false },
    { score: 5, accept: true },
    { score: 6, accept: false },
    { score: 7, accept: true },
    { score: 7, accept: true },
    { score: 9, accept: true },
    { score: 9, accept: false },
  ];
  it('keeps ties together and reports every observed value once, ascending', () => {
    const pts = sweep(set);
    expect(pts.map((p) => [p.threshold, p.kept])).toEqual([[3, 8], [5, 7], [6, 5], [7, 4], [9, 2]]);
    expect(pts.find((p) => p.threshold === 7)).toMatchObject({ precision: 0.75, recall: 0.75, f1: 0.75 });
  });
  it('suggests the best-F1 threshold and the lowest reaching the precision target', () => {
    const s = suggest(sweep(set), 0.75);
    expect(s.bestF1?.threshold).toBe(7);
    expect(s.precisionTarget?.threshold).toBe(7);
    expect(suggest(sweep(set), 0.9).precisionTarget).toBeNull();
  });
});

describe('calibrate', () => {
  const row = (i: number, score: number, verdict: 'accept' | 'reject', category = 'color'): ReviewedJudgment => ({
    candidate_id: i,
    category,
    verdict,
    passes_thresholds: score >= 6,
    raw_scores: { editing_success: score },
    aggregate: { SC: score },
  });
  it('withholds suggestions below the minimum number of reviews and gives them from it on', () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(i, i % 10, i % 10 >= 8 ? 'accept' : 'reject', i % 2 ? 'tone' : ''));
    const few = calibrate(rows.slice(0, 29), { rubric: 'viescore-v1', judgeModel: 'm', thresholds: { SC: 6 } });
    expect(few.withheld).toMatch(/30 or more reviews; this judge version has 29/);
    expect(few.scores.SC!.suggested).toBeNull();
    const all = calibrate(rows, { rubric: 'viescore-v1', judgeModel: 'm', thresholds: { SC: 6 } });
    expect(all.withheld).toBeUndefined();
    expect(all.scores.SC!.suggested!.bestF1!.threshold).toBe(8);
    expect(Object.keys(all.perCategory)).toEqual(['(none)', 'tone']);
  });
});
