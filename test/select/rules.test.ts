/** The TypeScript reference rules, by hand-worked examples (the property test trusts them). */
import { describe, expect, it } from 'vitest';
import {
  dominance, dpoPairs, geometricMean, mayLose, pickSft, qualifies, type CandidateFacts, type SelectionParams,
} from '../../pipeline/select/index.ts';

const P: SelectionParams = { minMargin: 1, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };
let nextId = 1;
const c = (seed: number, scores: number[] | null, more: Partial<CandidateFacts> = {}): CandidateFacts => ({
  id: nextId++, seed, scores, passesThresholds: true, checkPassed: true, review: null, ...more,
});

describe('dominance', () => {
  it('needs ≥ on every axis and > on one', () => {
    expect(dominance([3, 2, 1], [1, 2, 1])).toEqual({ margins: [2, 0, 0], total: 2 });
    expect(dominance([3, 2, 1], [3, 2, 1])).toBeNull(); // equal vectors never pair
    expect(dominance([3, 1], [1, 2])).toBeNull(); // incomparable
    expect(dominance([3, 1], [3, 1, 0])).toBeNull(); // different lengths
  });
});

describe('geometricMean', () => {
  it('is the n-th root of the product, 0 with a zero axis', () => {
    expect(geometricMean([2, 8])).toBe(4);
    expect(geometricMean([4, 4])).toBe(4);
    expect(geometricMean([9, 0, 9])).toBe(0);
  });
});

describe('qualification', () => {
  it('follows checks, thresholds and the newest review', () => {
    expect(qualifies(c(1, [5]), P)).toBe(true);
    expect(qualifies(c(1, [5], { checkPassed: false }), P)).toBe(false);
    expect(qualifies(c(1, [5], { passesThresholds: false }), P)).toBe(false);
    expect(qualifies(c(1, null, { review: 'accept' }), P)).toBe(false); // nothing to rank it by
    expect(qualifies(c(1, [5], { checkPassed: false, passesThresholds: false, review: 'accept' }), P)).toBe(true);
    expect(qualifies(c(1, [5], { passesThresholds: false, review: 'accept' }), { ...P, reviewAcceptOverridesThresholds: false })).toBe(false);
    expect(qualifies(c(1, [5], { review: 'reject' }), P)).toBe(false);
    expect(qualifies(c(1, [5], { review: 'flag' }), P)).toBe(true);
    expect(mayLose(c(1, [5], { review: 'reject' }), P)).toBe(true);
    expect(mayLose(c(1, [5], { checkPassed: false }), { ...P, loserMayFailChecks: false })).toBe(false);
  });
});

describe('pickSft', () => {
  it('takes the highest geometric mean, ties to the lowest seed, none when nothing qualifies', () => {
    const a = c(7, [4, 4]);
    const b = c(3, [2, 8]);
    expect(pickSft([a, b, c(1, [1, 9])], P)).toEqual({ candidateId: b.id, score: 4 });
    expect(pickSft([c(1, [9, 9], { checkPassed: false }), c(2, null)], P)).toEqual({ candidateId: null, score: null });
  });
});

describe('dpoPairs', () => {
  it('ranks by total margin, then chosen seed, then rejected seed, and takes them greedily', () => {
    const w1 = c(1, [9, 9]);
    const w2 = c(2, [9, 9]);
    const l3 = c(3, [5, 5]);
    const l4 = c(4, [1, 1]);
    // Edges: w1>l4 16, w2>l4 16, w1>l3 8, w2>l3 8, l3>l4 8.
    expect(dpoPairs([w1, w2, l3, l4], { ...P, maxUses: 10, maxPairs: 10 }).map((p) => [p.chosenId, p.rejectedId, p.totalMargin, p.rank])).toEqual([
      [w1.id, l4.id, 16, 1], [w2.id, l4.id, 16, 2], [w1.id, l3.id, 8, 3], [w2.id, l3.id, 8, 4], [l3.id, l4.id, 8, 5],
    ]);
    // maxUses 2: l4 is used up after two pairs, then w1 and w2 take l3 and l3 is used up.
    expect(dpoPairs([w1, w2, l3, l4], { ...P, maxPairs: 10 }).map((p) => [p.chosenId, p.rejectedId])).toEqual([
      [w1.id, l4.id], [w2.id, l4.id], [w1.id, l3.id], [w2.id, l3.id],
    ]);
    // maxUses 1: each candidate once — w1>l4, then w2>l3.
    expect(dpoPairs([w1, w2, l3, l4], { ...P, maxUses: 1 }).map((p) => [p.chosenId, p.rejectedId, p.rank])).toEqual([
      [w1.id, l4.id, 1], [w2.id, l3.id, 2],
    ]);
    // minMargin above 8 leaves the two 16s; maxPairs 1 keeps the first.
    expect(dpoPairs([w1, w2, l3, l4], { ...P, minMargin: 9, maxPairs: 1 }).map((p) => [p.chosenId, p.rejectedId])).toEqual([[w1.id, l4.id]]);
  });

  it('never lets a rejected candidate win, but lets it lose', () => {
    const bad = c(1, [9, 9], { review: 'reject' });
    const mid = c(2, [5, 5]);
    const low = c(3, [1, 1, 1]); // another length: pairs with nobody
    const worse = c(4, [2, 2], { review: 'reject' });
    expect(dpoPairs([bad, mid, low, worse], P).map((p) => [p.chosenId, p.rejectedId])).toEqual([[mid.id, worse.id]]);
  });
});
