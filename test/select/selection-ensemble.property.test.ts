/**
 * Property: over random candidates judged by two judges (2 and 3 axes, small integer scores so
 * ties are frequent, some judgments missing or unscorable), select-ensemble-v1 in SQL stores
 * exactly what the TypeScript reference computes: the pick by the mean of the judges' geometric
 * means, pairs by strict dominance over the concatenated axes, each judge's thresholds applied
 * to its raw scores, and no candidate without both judgments.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensembleKey } from '../../pipeline/judge/index.ts';
import { meetsThresholds } from '../../pipeline/judge/rubrics/common.ts';
import { ENSEMBLE_RULE_VERSION, ensembleSelect, runEnsembleSelection, type EnsembleCandidate, type EnsembleJudge, type SelectionParams, type Verdict } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { RUBRIC, insertRequests, readSelection, resetTables, type FixCandidate, type FixJudgment, type FixRequest } from './fixtures.ts';

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await tdb?.cleanup();
});

const RAW = ['x', 'y', 'z'];
const JUDGES: EnsembleJudge[] = [
  { rubric: RUBRIC, model: 'judge-a', promptHash: 'h', axes: 2, thresholds: { x: 1 } },
  { rubric: RUBRIC, model: 'judge-b', promptHash: 'h', axes: 3, thresholds: { y: 1, z: 1 } },
];

const arbParams: fc.Arbitrary<SelectionParams> = fc.record({
  minMargin: fc.constantFrom(0, 0.5, 1, 2),
  maxPairs: fc.integer({ min: 1, max: 5 }),
  maxUses: fc.integer({ min: 1, max: 3 }),
  loserMayFailChecks: fc.boolean(),
  reviewAcceptOverridesThresholds: fc.boolean(),
});
const arbScore = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 2 }) }, { weight: 1, arbitrary: fc.constantFrom(0.5, 2.5) });

function arbJudgment(model: string, axes: number): fc.Arbitrary<FixJudgment[]> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<FixJudgment[]>([]) },
    { weight: 1, arbitrary: fc.constant<FixJudgment[]>([{ model, ok: false, scores: null, passes: null }]) },
    { weight: 8, arbitrary: fc.array(arbScore, { minLength: axes, maxLength: axes }).map((scores): FixJudgment[] => [{ model, ok: true, scores, passes: true }]) },
  );
}

const arbRequest: fc.Arbitrary<FixRequest> = fc.uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 6 }).chain((seeds) =>
  fc
    .tuple(
      ...seeds.map((seed) =>
        fc.record({
          seed: fc.constant(seed),
          checks: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }).map((p) => [p]),
          judgments: fc.tuple(arbJudgment('judge-a', 2), arbJudgment('judge-b', 3)).map(([a, b]) => [...a, ...b]),
          reviews: fc.oneof({ weight: 5, arbitrary: fc.constant<Verdict[]>([]) }, { weight: 1, arbitrary: fc.constantFrom<Verdict[]>(['accept'], ['reject'], ['flag']) }),
        }),
      ),
    )
    .map((cs): FixRequest => ({ candidates: cs as FixCandidate[] })),
);

/** The reference's view of a fixture candidate: per judge its ok judgment (scores as the stored float4) or null. */
function asEnsemble(id: number, c: FixCandidate): EnsembleCandidate {
  return {
    id,
    seed: c.seed,
    judgments: JUDGES.map((v) => {
      const j = c.judgments?.find((x) => x.model === v.model && x.ok && x.scores);
      if (!j) return null;
      const scores = j.scores!.map(Math.fround);
      return { scores, values: Object.fromEntries(j.scores!.map((s, i) => [RAW[i]!, s])) };
    }),
    checkPassed: c.checks?.at(-1) ?? false,
    review: c.reviews?.at(-1) ?? null,
  };
}

it('select-ensemble-v1 in SQL equals the TypeScript reference', async () => {
  let picks = 0;
  let pairs = 0;
  let belowOneJudge = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(arbRequest, { minLength: 1, maxLength: 4 }), arbParams, async (requests, params) => {
      await resetTables(tdb.db);
      const ins = await insertRequests(tdb.db, requests, { rawNames: RAW });
      await runEnsembleSelection(tdb.db, { judges: JUDGES, params, checkVersion: 'check-v0', requestIds: ins.requestIds, batchSize: 2 });
      const stored = await readSelection(tdb.db, ENSEMBLE_RULE_VERSION, ensembleKey(JUDGES).rubric);
      ins.requestIds.forEach((requestId, i) => {
        const cands = requests[i]!.candidates.map((c, k) => asEnsemble(ins.facts[i]![k]!.id, c));
        const ref = ensembleSelect(cands, JUDGES, params);
        const got = stored.picks.find((p) => p.requestId === requestId)!;
        expect(got.candidateId).toBe(ref.pick?.candidateId ?? null);
        if (ref.pick) expect(got.score).toBeCloseTo(ref.pick.score, 12);
        const gotPairs = stored.pairs.filter((p) => p.requestId === requestId);
        expect(gotPairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin])).toEqual(ref.pairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin]));
        picks += got.candidateId === null ? 0 : 1;
        pairs += gotPairs.length;
        belowOneJudge += cands.filter((c) => c.judgments[0] && c.judgments[1] && meetsThresholds(JUDGES[0]!.thresholds, c.judgments[0].values) !== meetsThresholds(JUDGES[1]!.thresholds, c.judgments[1].values)).length;
      });
    }),
    { numRuns: 80 },
  );
  expect(picks).toBeGreaterThan(10);
  expect(pairs).toBeGreaterThan(5);
  expect(belowOneJudge).toBeGreaterThan(10);
}, 90_000);

it('picks by the mean of the judges\' geometric means, not by either judge alone', () => {
  // a: judge A (5, 5) → 5, judge B (1, 1, 1) → 1: mean 3. b: A (4, 4) → 4, B (3, 3, 3) → 3: mean 3.5.
  const mk = (id: number, seed: number, a: number[], b: number[]): EnsembleCandidate => ({
    id, seed, checkPassed: true, review: null,
    judgments: [{ scores: a, values: { x: 9 } }, { scores: b, values: { y: 9, z: 9 } }],
  });
  const params: SelectionParams = { minMargin: 0, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };
  const r = ensembleSelect([mk(1, 0, [5, 5], [1, 1, 1]), mk(2, 1, [4, 4], [3, 3, 3])], JUDGES, params);
  expect(r.pick).toEqual({ candidateId: 2, score: 3.5 });
  expect(r.pairs).toEqual([]); // each is better under one judge: no dominance over both
  const missing = { ...mk(3, 2, [9, 9], [9, 9, 9]), judgments: [{ scores: [9, 9], values: { x: 9 } }, null] };
  expect(ensembleSelect([missing, mk(2, 1, [4, 4], [3, 3, 3])], JUDGES, params).pick?.candidateId).toBe(2);
});
