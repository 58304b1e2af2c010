/** A human review after a request's selection makes it due for incremental selection again. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewCandidates } from '../../db/repositories/review.repository.ts';
import { SELECTION_RULE_VERSION, runSelection, type SelectionParams } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { JUDGE, insertRequests, readSelection } from './fixtures.ts';

const PARAMS: SelectionParams = { minMargin: 1, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await tdb?.cleanup();
});

describe('incremental selection after a review', () => {
  it('re-selects only the reviewed request, and the reject takes effect', async () => {
    const ins = await insertRequests(tdb.db, [
      { candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [9, 9], passes: true }] }, { seed: 2, checks: [true], judgments: [{ ok: true, scores: [5, 5], passes: true }] }] },
      { candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [7, 7], passes: true }] }] },
    ]);
    const first = await runSelection(tdb.db, { judge: JUDGE, params: PARAMS });
    expect(first.requests).toBe(2);
    expect((await runSelection(tdb.db, { judge: JUDGE, params: PARAMS })).requests).toBe(0);

    const best = ins.facts[0]![0]!.id;
    await reviewCandidates(tdb.db, { candidateIds: [best], reviewer: 'ana', verdict: 'reject', note: 'hands look wrong', judge: JUDGE });

    const again = await runSelection(tdb.db, { judge: JUDGE, params: PARAMS });
    expect(again.requests).toBe(1);
    const { picks } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    const pick = picks.find((p) => p.requestId === ins.requestIds[0]);
    expect(pick?.candidateId).toBe(ins.facts[0]![1]!.id);
    expect((await runSelection(tdb.db, { judge: JUDGE, params: PARAMS })).requests).toBe(0);
  });
});
