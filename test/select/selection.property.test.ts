/**
 * Property: over random score sets (small integer ranges so ties and equal axes are frequent,
 * plus fractional values for float behaviour), the SQL selection stores exactly what the
 * TypeScript reference computes — same picks, same pairs in the same rank order with the same
 * margins — and every stored pair is strictly dominant with a qualifying chosen side.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  SELECTION_RULE_VERSION, dominance, dpoPairs, pickSft, qualifies, runSelection, type SelectionParams, type Verdict,
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
  minMargin: fc.constantFrom(0, 0.5, 1, 2, 3),
  maxPairs: fc.integer({ min: 1, max: 5 }),
  maxUses: fc.integer({ min: 1, max: 3 }),
  loserMayFailChecks: fc.boolean(),
  reviewAcceptOverridesThresholds: fc.boolean(),
});

const arbScore = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.1, 0.2, 0.3, 1.7, 2.5, 9.9) },
);
const arbVerdict = fc.constantFrom<Verdict>('accept', 'reject', 'flag');

function arbRequest(axes: number): fc.Arbitrary<FixRequest> {
  const scores = fc.array(arbScore, { minLength: axes, maxLength: axes });
  const judgment: fc.Arbitrary<FixJudgment> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ ok: fc.constant(true), scores, passes: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
    { weight: 1, arbitrary: fc.constant<FixJudgment>({ ok: false, scores: null, passes: null }) },
  );
  const judgments = fc.oneof(
    { weight: 1, arbitrary: fc.constant<FixJudgment[]>([]) },
    { weight: 8, arbitrary: judgment.map((j) => [j]) },
    // An older judgment by another judge model and one of another rubric: only the judge version read counts.
    { weight: 2, arbitrary: fc.tuple(judgment, judgment).map(([a, b]) => [{ ...a, model: 'judge-old' }, b]) },
    { weight: 1, arbitrary: fc.tuple(judgment, scores).map(([a, s]) => [a, { rubric: 'other-rubric', ok: true, scores: s, passes: true }]) },
  );
  const checks = fc.oneof(
    { weight: 1, arbitrary: fc.constant<boolean[]>([]) },
    { weight: 8, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), { minLength: 1, maxLength: 2 }) },
  );
  const reviews = fc.oneof({ weight: 4, arbitrary: fc.constant<Verdict[]>([]) }, { weight: 1, arbitrary: fc.array(arbVerdict, { minLength: 1, maxLength: 2 }) });
  return fc
    .uniqueArray(fc.integer({ min: 0, max: 30 }), { minLength: 0, maxLength: 7 })
    .chain((seeds) =>
      fc.tuple(...seeds.map((seed) => fc.record({ seed: fc.constant(seed), checks, judgments, reviews }))).map((cs): FixRequest => ({ candidates: cs as FixCandidate[] })),
    );
}

const arbCase = fc.integer({ min: 2, max: 4 }).chain((axes) =>
  fc.record({
    requests: fc.array(arbRequest(axes), { minLength: 1, maxLength: 5 }),
    params: arbParams,
    incremental: fc.boolean(),
    batchSize: fc.integer({ min: 1, max: 3 }),
    concurrency: fc.integer({ min: 1, max: 2 }),
  }),
);

it('SQL selection equals the TypeScript reference; every pair strictly dominant', async () => {
  let pairsSeen = 0;
  let picksSeen = 0;
  await fc.assert(
    fc.asyncProperty(arbCase, async ({ requests, params, incremental, batchSize, concurrency }) => {
      await resetTables(tdb.db);
      const ins = await insertRequests(tdb.db, requests);
      const opts = { judge: JUDGE, params, batchSize, concurrency, requestIds: incremental ? undefined : ins.requestIds };
      const res = await runSelection(tdb.db, opts);
      const stored = await readSelection(tdb.db, SELECTION_RULE_VERSION);
      expect(res.requests).toBe(requests.length);
      expect(stored.picks).toHaveLength(requests.length);
      let totalPairs = 0;
      ins.requestIds.forEach((requestId, i) => {
        const facts = ins.facts[i]!;
        const ref = pickSft(facts, params);
        const got = stored.picks.find((p) => p.requestId === requestId)!;
        expect(got.candidateId).toBe(ref.candidateId);
        if (ref.score === null) expect(got.score).toBeNull();
        else expect(got.score).toBeCloseTo(ref.score, 12);
        expect(got.params).toEqual(params);

        const refPairs = dpoPairs(facts, params);
        const gotPairs = stored.pairs.filter((p) => p.requestId === requestId);
        expect(gotPairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin])).toEqual(
          refPairs.map((p) => [p.chosenId, p.rejectedId, p.rank, p.totalMargin]),
        );
        expect(gotPairs.map((p) => p.margins)).toEqual(refPairs.map((p) => p.margins.map(Math.fround)));
        const byId = new Map(facts.map((f) => [f.id, f]));
        for (const p of gotPairs) {
          const w = byId.get(p.chosenId)!;
          const l = byId.get(p.rejectedId)!;
          expect(qualifies(w, params)).toBe(true);
          expect(dominance(w.scores!, l.scores!)).not.toBeNull();
          expect(p.totalMargin).toBeGreaterThanOrEqual(params.minMargin);
        }
        totalPairs += gotPairs.length;
        if (got.candidateId !== null) picksSeen++;
      });
      expect(res.pairs).toBe(totalPairs);
      pairsSeen += totalPairs;
      // Re-running the same requests changes nothing.
      await runSelection(tdb.db, { ...opts, requestIds: ins.requestIds });
      expect(await readSelection(tdb.db, SELECTION_RULE_VERSION)).toEqual(stored);
    }),
    { numRuns: 60 },
  );
  // The generator must actually exercise both outputs.
  expect(pairsSeen).toBeGreaterThan(20);
  expect(picksSeen).toBeGreaterThan(20);
}, 60_000);
