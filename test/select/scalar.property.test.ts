/**
 * Property: over random candidates with three axes (the canonical axes themselves, as metric-v1
 * stores them; small integers so equal scores and equal gaps are frequent, plus fractions),
 * random weights and gaps, the SQL of scalar-v1 stores exactly what its TypeScript reference
 * computes — same picks and scores, same pairs in the same rank order with the same gaps and
 * margins — beside select-v1's rows, which it leaves alone.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { normaliseWeights } from '../../pipeline/config.ts';
import {
  SCALAR_RULE_VERSION,
  SELECTION_RULE_VERSION,
  pickScalar,
  qualifies,
  runSelection,
  scalarPairs,
  scalarScore,
  type ScalarCandidateFacts,
  type ScalarParams,
  type SelectionParams,
  type Verdict,
} from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { JUDGE, insertRequests, readSelection, resetTables, type FixCandidate, type FixJudgment, type FixRequest } from './fixtures.ts';

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await tdb?.cleanup();
});

const arbParams: fc.Arbitrary<SelectionParams> = fc.record({
  minMargin: fc.constant(1),
  maxPairs: fc.integer({ min: 1, max: 5 }),
  maxUses: fc.integer({ min: 1, max: 3 }),
  loserMayFailChecks: fc.boolean(),
  reviewAcceptOverridesThresholds: fc.boolean(),
});

const arbScalar: fc.Arbitrary<ScalarParams> = fc.record({
  weights: fc.oneof(
    fc.constant({ instruction: 0.4, preservation: 0.35, quality: 0.25 }),
    fc.constant({ instruction: 1, preservation: 0, quality: 0 }),
    fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 5 })).map(([i, p, q]) => normaliseWeights({ instruction: i, preservation: p, quality: q })),
  ),
  minGap: fc.constantFrom(0, 0.25, 0.5, 1, 2),
});

const arbScore = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(0.1, 0.3, 1.7, 2.5, 9.9) });

const arbRequest: fc.Arbitrary<FixRequest> = (() => {
  const scores = fc.array(arbScore, { minLength: 3, maxLength: 3 });
  const judgment: fc.Arbitrary<FixJudgment> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ ok: fc.constant(true), scores, passes: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
    { weight: 1, arbitrary: fc.constant<FixJudgment>({ ok: false, scores: null, passes: null }) },
  );
  const judgments = fc.oneof(
    { weight: 1, arbitrary: fc.constant<FixJudgment[]>([]) },
    { weight: 8, arbitrary: judgment.map((j) => [j]) },
    { weight: 2, arbitrary: fc.tuple(judgment, judgment).map(([a, b]) => [{ ...a, model: 'judge-old' }, b]) },
  );
  const checks = fc.oneof(
    { weight: 1, arbitrary: fc.constant<boolean[]>([]) },
    { weight: 8, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), { minLength: 1, maxLength: 2 }) },
  );
  const reviews = fc.oneof({ weight: 4, arbitrary: fc.constant<Verdict[]>([]) }, { weight: 1, arbitrary: fc.array(fc.constantFrom<Verdict>('accept', 'reject', 'flag'), { minLength: 1, maxLength: 2 }) });
  return fc
    .uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 7 })
    .chain((seeds) => fc.tuple(...seeds.map((seed) => fc.record({ seed: fc.constant(seed), checks, judgments, reviews }))).map((cs): FixRequest => ({ candidates: cs as FixCandidate[] })));
})();

const arbCase = fc.record({
  requests: fc.array(arbRequest, { minLength: 1, maxLength: 5 }),
  params: arbParams,
  scalar: arbScalar,
  both: fc.boolean(),
  batchSize: fc.integer({ min: 1, max: 3 }),
});

it('scalar-v1 in SQL equals its TypeScript reference, beside select-v1', async () => {
  let pairsSeen = 0;
  let notDominantSeen = 0;
  await fc.assert(
    fc.asyncProperty(arbCase, async ({ requests, params, scalar, both, batchSize }) => {
      await resetTables(tdb.db);
      const ins = await insertRequests(tdb.db, requests);
      const rules = both ? [SELECTION_RULE_VERSION, SCALAR_RULE_VERSION] as const : [SCALAR_RULE_VERSION] as const;
      const res = await runSelection(tdb.db, { judge: JUDGE, params, scalar, rules: [...rules], batchSize });
      const stored = await readSelection(tdb.db, SCALAR_RULE_VERSION);
      expect(stored.picks).toHaveLength(requests.length);
      expect((await readSelection(tdb.db, SELECTION_RULE_VERSION)).picks).toHaveLength(both ? requests.length : 0);
      let total = 0;
      ins.requestIds.forEach((requestId, i) => {
        const facts: ScalarCandidateFacts[] = ins.facts[i]!.map((f) => ({
          ...f,
          axes: f.scores ? { instruction: f.scores[0]!, preservation: f.scores[1]!, quality: f.scores[2]! } : null,
        }));
        const ref = pickScalar(facts, params, scalar);
        const got = stored.picks.find((p) => p.requestId === requestId)!;
        expect(got.candidateId).toBe(ref.candidateId);
        expect(got.score).toBe(ref.score);
        expect(got.params).toEqual({ weights: scalar.weights, minGap: scalar.minGap, maxPairs: params.maxPairs, maxUses: params.maxUses, loserMayFailChecks: params.loserMayFailChecks, reviewAcceptOverridesThresholds: params.reviewAcceptOverridesThresholds });
        const refPairs = scalarPairs(facts, params, scalar);
        const gotPairs = stored.pairs.filter((p) => p.requestId === requestId);
        expect(gotPairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin])).toEqual(refPairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin]));
        expect(gotPairs.map((p) => p.margins)).toEqual(refPairs.map((p) => p.margins.map(Math.fround)));
        const byId = new Map(facts.map((f) => [f.id, f]));
        for (const p of gotPairs) {
          const w = byId.get(p.chosenId)!;
          const l = byId.get(p.rejectedId)!;
          expect(qualifies(w, params)).toBe(true);
          expect(scalarScore(w.axes!, scalar.weights) - scalarScore(l.axes!, scalar.weights)).toBeGreaterThan(0);
          expect(p.totalMargin).toBeGreaterThanOrEqual(scalar.minGap);
          if (p.margins.some((m) => m < 0)) notDominantSeen++;
        }
        total += gotPairs.length;
      });
      expect(res.byRule[SCALAR_RULE_VERSION]!.pairs).toBe(total);
      pairsSeen += total;
    }),
    { numRuns: 50 },
  );
  expect(pairsSeen).toBeGreaterThan(20);
  expect(notDominantSeen).toBeGreaterThan(0);
}, 90_000);
