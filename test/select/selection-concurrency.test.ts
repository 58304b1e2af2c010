/**
 * Selection under concurrency, on a real Postgres: several selections of the same requests at
 * once, with reviews landing in between, never store more pairs or uses than one selection
 * would, and a request that is not due matches the brute-force reference for the ledger as it
 * stands (so no review was lost); the next selection of what is due converges to the reference.
 */
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Db } from '../../db/client.ts';
import { reviewCandidates } from '../../db/repositories/review.repository.ts';
import { isSelectionDue } from '../../db/repositories/requests.repository.ts';
import { SELECTION_RULE_VERSION, runSelection, type SelectionParams, type Verdict } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { JUDGE, RUBRIC, insertRequests, readSelection, type FixCandidate } from './fixtures.ts';
import { matchesReference as reference } from './reference.ts';
import { sleep } from '../../pipeline/sleep.ts';

const PARAMS: SelectionParams = { minMargin: 0.5, maxPairs: 3, maxUses: 1, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };

const matchesReference = (db: Db, requestId: number) => reference(db, requestId, RUBRIC, PARAMS);

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 8 });
});
afterAll(async () => {
  await tdb?.cleanup();
});

/** Deterministic pseudo-random numbers (a test that fails can be rerun as it was). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('concurrent selections with reviews in between', () => {
  it('never exceed the pair limits, lose no review, and converge to the reference', async () => {
    const rand = rng(13);
    const cand = (seed: number): FixCandidate => ({
      seed,
      checks: [true],
      judgments: [{ ok: true, scores: [Math.round(rand() * 10), Math.round(rand() * 10)], passes: rand() < 0.8 }],
    });
    const ins = await insertRequests(tdb.db, Array.from({ length: 6 }, () => ({ candidates: Array.from({ length: 6 }, (_, i) => cand(i + 1)) })));
    const ids = ins.requestIds;
    const candidateIds = ins.facts.flat().map((f) => f.id);
    const selectAll = () => runSelection(tdb.db, { judge: JUDGE, params: PARAMS, requestIds: ids });
    await selectAll();

    for (let round = 0; round < 8; round++) {
      const verdicts: Verdict[] = ['accept', 'reject', 'flag'];
      const reviews = Array.from({ length: 3 }, () =>
        (async (victim: number, verdict: Verdict, wait: number) => {
          await sleep(wait);
          await reviewCandidates(tdb.db, { candidateIds: [victim], reviewer: 'ana', verdict, note: '', judge: JUDGE });
        })(candidateIds[Math.floor(rand() * candidateIds.length)]!, verdicts[Math.floor(rand() * 3)]!, Math.floor(rand() * 30)),
      );
      const selections = Array.from({ length: 4 }, () => (async (wait: number) => (await sleep(wait), selectAll()))(Math.floor(rand() * 30)));
      await Promise.all([...reviews, ...selections]);

      const uses = await rows<{ request_id: number; pairs: number; most_uses: number }>(
        tdb.db,
        sql`SELECT p.request_id, count(*)::int AS pairs,
                   (SELECT max(n) FROM (SELECT count(*) AS n FROM pairs q, unnest(ARRAY[q.chosen_id, q.rejected_id]) AS u(c)
                                         WHERE q.request_id = p.request_id AND q.rank > 0 GROUP BY u.c) x)::int AS most_uses
            FROM pairs p WHERE p.rank > 0 GROUP BY p.request_id`,
      );
      for (const u of uses) {
        expect(u.pairs).toBeLessThanOrEqual(PARAMS.maxPairs);
        expect(u.most_uses).toBeLessThanOrEqual(PARAMS.maxUses);
      }
      for (const id of ids) {
        // a request that is not due has seen every review: its selection is the reference's
        if (!(await isSelectionDue(tdb.db, id))) expect(await matchesReference(tdb.db, id), `round ${round}, request ${id}`).toMatchObject({ ok: true });
      }
    }
    await runSelection(tdb.db, { judge: JUDGE, params: PARAMS });
    for (const id of ids) {
      expect(await isSelectionDue(tdb.db, id)).toBe(false);
      expect(await matchesReference(tdb.db, id)).toMatchObject({ ok: true });
    }
  }, 120_000);

  it('keeps a request due when its review lands while a selection holds the request', async () => {
    const ins = await insertRequests(tdb.db, [{ candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [9, 9], passes: true }] }, { seed: 2, checks: [true], judgments: [{ ok: true, scores: [5, 5], passes: true }] }] }]);
    const id = ins.requestIds[0]!;
    const best = ins.facts[0]![0]!.id;
    await runSelection(tdb.db, { judge: JUDGE, params: PARAMS, requestIds: [id] });
    const other = new pg.Client({ connectionString: tdb.url });
    await other.connect();
    try {
      // Someone holds the request (as a selection or a review does); a selection and a review
      // both queue behind it, in whichever order the server grants them.
      await other.query('BEGIN');
      await other.query('SELECT id FROM requests WHERE id = $1 FOR UPDATE', [id]);
      const selecting = runSelection(tdb.db, { judge: JUDGE, params: PARAMS, requestIds: [id] });
      await sleep(100);
      const reviewing = reviewCandidates(tdb.db, { candidateIds: [best], reviewer: 'ana', verdict: 'reject', note: 'hands', judge: JUDGE });
      await sleep(100);
      await other.query('COMMIT');
      await Promise.all([selecting, reviewing]);
    } finally {
      await other.end();
    }
    // Either the selection saw the reject, or the request is still due: never a lost review.
    const due = await isSelectionDue(tdb.db, id);
    const now = await matchesReference(tdb.db, id);
    expect(due || now.ok).toBe(true);
    await runSelection(tdb.db, { judge: JUDGE, params: PARAMS });
    expect(await matchesReference(tdb.db, id)).toMatchObject({ ok: true });
    const s = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(s.picks.find((p) => p.requestId === id)?.candidateId).toBe(ins.facts[0]![1]!.id); // the reject took effect
  }, 60_000);
});
