/** runSelection against a real Postgres: ties, nothing qualifying, reviews, re-runs, incremental mode. */
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { SELECTION_RULE_VERSION, dpoPairs, pickSft, runSelection, type SelectionParams } from '../../pipeline/select/index.ts';
import { createPgliteDb, createTestDb, type TestDb } from '../helpers/db.ts';
import { JUDGE, RUBRIC, insertRequests, readSelection, resetTables, type FixCandidate } from './fixtures.ts';
import { sleep } from '../../pipeline/sleep.ts';

const PARAMS: SelectionParams = { minMargin: 1, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };

/** A candidate that passed its check with an ok judgment. */
const cand = (seed: number, scores: number[], extra: Partial<FixCandidate> & { passes?: boolean } = {}): FixCandidate => ({
  seed,
  checks: extra.checks ?? [true],
  judgments: [{ ok: true, scores, passes: extra.passes ?? true }],
  reviews: extra.reviews,
});

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await tdb?.cleanup();
});
beforeEach(async () => {
  await resetTables(tdb.db);
});

const select = (requestIds?: number[], params: SelectionParams = PARAMS) =>
  runSelection(tdb.db, { judge: JUDGE, params, requestIds });

describe('SFT pick', () => {
  it('takes the highest geometric mean, ties to the lowest seed', async () => {
    // [2,8] and [4,4] have the same geometric mean (4); seed 3 is lower than seed 7.
    const a = await insertRequests(tdb.db, [{ candidates: [cand(7, [4, 4]), cand(3, [2, 8]), cand(1, [1, 9])] }]);
    const b = await insertRequests(tdb.db, [{ candidates: [cand(5, [6, 6]), cand(2, [2, 8])] }]);
    const r = await select();
    expect(r).toMatchObject({ requests: 2, picks: 2 });
    const { picks } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(picks.map((p) => p.candidateId)).toEqual([a.facts[0]![1]!.id, b.facts[0]![0]!.id]);
    expect(picks[0]!.score).toBeCloseTo(4, 12);
    expect(picks[1]!.score).toBeCloseTo(6, 12);
    expect(picks[0]!.params).toEqual(PARAMS);
  });

  it('stores a null pick when nothing qualifies (failed check, below thresholds, failed or missing judgment)', async () => {
    const ins = await insertRequests(tdb.db, [
      {
        candidates: [
          cand(1, [9, 9], { checks: [false] }),
          cand(2, [9, 9], { passes: false }),
          { seed: 3, checks: [true], judgments: [{ ok: false, scores: null, passes: null }] },
          { seed: 4, checks: [true] },
          cand(5, [9, 9], { checks: [] }),
        ],
      },
      { candidates: [] },
    ]);
    const r = await select();
    expect(r).toMatchObject({ requests: 2, picks: 0, pairs: 0 });
    const { picks } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(picks).toEqual(ins.requestIds.map((requestId) => ({ requestId, candidateId: null, score: null, params: PARAMS })));
  });

  it('uses the newest check row and only judgments of the rubric asked for', async () => {
    const ins = await insertRequests(tdb.db, [
      {
        candidates: [
          cand(1, [9, 9], { checks: [true, false] }), // re-checked and failed
          { seed: 2, checks: [true], judgments: [{ ok: true, scores: [3, 3], passes: true }, { rubric: 'other', ok: true, scores: [10, 10], passes: true }] },
        ],
      },
    ]);
    await select();
    const { picks } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(picks[0]!.candidateId).toBe(ins.facts[0]![1]!.id);
    expect(picks[0]!.score).toBeCloseTo(3, 12);
  });
});

describe('human review', () => {
  it('a rejected candidate is never picked nor chosen, but may be the rejected side', async () => {
    const ins = await insertRequests(tdb.db, [
      { candidates: [cand(1, [9, 9], { reviews: ['accept', 'reject'] }), cand(2, [5, 5]), cand(3, [2, 2])] },
    ]);
    await select();
    const { picks, pairs } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    const [c1, c2, c3] = ins.facts[0]!.map((f) => f.id);
    expect(picks[0]!.candidateId).toBe(c2);
    expect(pairs.map((p) => [p.chosenId, p.rejectedId, p.rank])).toEqual([[c2, c3, 1]]);
    expect(pairs.some((p) => p.chosenId === c1)).toBe(false);
    // The chosen side never rejected; with the reject reviewed away (flag is neutral), c1 wins again.
    await tdb.db.execute(sql`INSERT INTO reviews (candidate_id, reviewer, verdict) VALUES (${c1}, 'r2', 'flag')`);
    await select(ins.requestIds);
    const again = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(again.picks[0]!.candidateId).toBe(c1);
    expect(again.pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[c1, c3], [c1, c2], [c2, c3]]);
  });

  it('an accepted candidate qualifies below thresholds and after a failed check, unless overriding is off', async () => {
    const ins = await insertRequests(tdb.db, [
      { candidates: [cand(1, [8, 8], { passes: false, reviews: ['accept'] }), cand(2, [9, 9], { checks: [false], reviews: ['accept'] }), cand(3, [1, 1])] },
    ]);
    const [c1, c2, c3] = ins.facts[0]!.map((f) => f.id);
    await select();
    let s = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(s.picks[0]!.candidateId).toBe(c2);
    expect(s.pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[c2, c3], [c1, c3], [c2, c1]]);

    await select(ins.requestIds, { ...PARAMS, reviewAcceptOverridesThresholds: false });
    s = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(s.picks[0]!.candidateId).toBe(c3);
    expect(s.pairs).toEqual([]);
  });
});

describe('DPO pairs', () => {
  it('keeps strictly dominant pairs only, largest margin first, within maxPairs and maxUses', async () => {
    const ins = await insertRequests(tdb.db, [
      {
        candidates: [
          cand(1, [9, 9, 9]),
          cand(2, [9, 9, 9]), // equal to seed 1: never pairs with it
          cand(3, [5, 9, 1]), // incomparable with seed 4
          cand(4, [6, 2, 2]),
          cand(5, [5, 8, 1]), // below seed 3 by 1: margin 1 ≥ minMargin
        ],
      },
    ]);
    const [c1, c2, c3, c4, c5] = ins.facts[0]!.map((f) => f.id);
    await select(undefined, { ...PARAMS, maxPairs: 10, maxUses: 10 });
    let { pairs } = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    // Ranked by total margin, then chosen seed, then rejected seed; c3/c4 and c4/c5 are incomparable.
    expect(pairs.map((p) => [p.chosenId, p.rejectedId, p.totalMargin])).toEqual([
      [c1, c4, 17], [c2, c4, 17], [c1, c5, 13], [c2, c5, 13], [c1, c3, 12], [c2, c3, 12], [c3, c5, 1],
    ]);
    expect(pairs.map((p) => p.rank)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pairs[0]!.margins).toEqual([3, 7, 7]);

    // maxUses 2: c1 and c2 take c4 twice, then c5 twice (c4 and c5 used up); c3 is left with nobody.
    await select(ins.requestIds, { ...PARAMS, maxPairs: 10, maxUses: 2 });
    ({ pairs } = await readSelection(tdb.db, SELECTION_RULE_VERSION));
    expect(pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[c1, c4], [c2, c4], [c1, c5], [c2, c5]]);
    // maxPairs 1 and a larger minimum margin.
    await select(ins.requestIds, { ...PARAMS, maxPairs: 1, minMargin: 14 });
    ({ pairs } = await readSelection(tdb.db, SELECTION_RULE_VERSION));
    expect(pairs.map((p) => [p.chosenId, p.rejectedId, p.rank])).toEqual([[c1, c4, 1]]);
  });

  it('a loser that failed its check pairs only when loserMayFailChecks', async () => {
    const ins = await insertRequests(tdb.db, [{ candidates: [cand(1, [9, 9]), cand(2, [1, 1], { checks: [false] })] }]);
    const [c1, c2] = ins.facts[0]!.map((f) => f.id);
    await select();
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION)).pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[c1, c2]]);
    await select(ins.requestIds, { ...PARAMS, loserMayFailChecks: false });
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION)).pairs).toEqual([]);
  });

  it('keeps a retired pair that a review refers to, with rank 0', async () => {
    const ins = await insertRequests(tdb.db, [{ candidates: [cand(1, [9, 9]), cand(2, [1, 1]), cand(3, [5, 5])] }]);
    const [c1, c2] = ins.facts[0]!.map((f) => f.id);
    await select();
    const [p12] = await rows<{ id: number }>(tdb.db, sql`SELECT id FROM pairs WHERE chosen_id = ${c1} AND rejected_id = ${c2}`);
    await tdb.db.execute(sql`INSERT INTO reviews (pair_id, reviewer, verdict) VALUES (${p12!.id}, 'r', 'accept')`);
    await select(ins.requestIds, { ...PARAMS, minMargin: 20 });
    const left = await rows<{ id: number; rank: number }>(tdb.db, sql`SELECT id, rank FROM pairs ORDER BY id`);
    expect(left).toEqual([{ id: p12!.id, rank: 0 }]);
    await select(ins.requestIds);
    const back = await rows<{ id: number; rank: number }>(tdb.db, sql`SELECT id, rank FROM pairs WHERE id = ${p12!.id}`);
    expect(back[0]!.rank).toBeGreaterThan(0);
  });
});

describe('runs', () => {
  it('a re-run rewrites the same rows', async () => {
    await insertRequests(tdb.db, [
      { candidates: [cand(1, [9, 9]), cand(2, [1, 1]), cand(3, [5, 5]), cand(4, [5, 6])] },
      { candidates: [cand(1, [2, 2])] },
    ]);
    const first = await select();
    const snap = () =>
      rows(tdb.db, sql`SELECT s.id, s.request_id, s.candidate_id, s.score, s.params, s.rule_version, s.rubric FROM selections s ORDER BY s.id`);
    const snapPairs = () => rows(tdb.db, sql`SELECT id, chosen_id, rejected_id, margins, total_margin, rank, params FROM pairs ORDER BY id`);
    const [s1, p1] = [await snap(), await snapPairs()];
    const again = await select([...(await rows<{ id: number }>(tdb.db, sql`SELECT id FROM requests`)).map((r) => Number(r.id))]);
    expect(again).toMatchObject({ requests: first.requests, picks: first.picks, pairs: first.pairs });
    expect(await snap()).toEqual(s1);
    expect(await snapPairs()).toEqual(p1);
    expect(p1.length).toBe(first.pairs);
  });

  it('incremental mode selects only requests settled since their last selection', async () => {
    const a = await insertRequests(tdb.db, [{ candidates: [cand(1, [5, 5])] }, { candidates: [cand(1, [6, 6])], status: 'generated', settledAt: null }]);
    expect(await select()).toMatchObject({ requests: 1, picks: 1 });
    expect(await select()).toMatchObject({ requests: 0 });
    const status = await rows<{ status: string; sel: boolean }>(tdb.db, sql`SELECT status, selected_at IS NOT NULL AS sel FROM requests ORDER BY id`);
    expect(status).toEqual([{ status: 'selected', sel: true }, { status: 'generated', sel: false }]);
    // The second request settles; the first one settles again (a late judgment), a third arrives.
    await tdb.db.execute(sql`UPDATE requests SET status = 'settled', settled_at = now() WHERE id = ${a.requestIds[1]!}`);
    await tdb.db.execute(sql`UPDATE requests SET settled_at = now() WHERE id = ${a.requestIds[0]!}`);
    await insertRequests(tdb.db, [{ candidates: [cand(1, [7, 7])] }]);
    const seen: [number, number][] = [];
    const r = await runSelection(tdb.db, { judge: JUDGE, params: PARAMS, batchSize: 2, onProgress: (d, t) => seen.push([d, t]) });
    expect(r).toMatchObject({ requests: 3, picks: 3 });
    expect(seen).toEqual([[0, 3], [2, 3], [3, 3]]);
    expect(await select()).toMatchObject({ requests: 0 });
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION)).picks).toHaveLength(3);
  });

  it('batches in flight at once give what one at a time gives', async () => {
    const reqs = Array.from({ length: 7 }, (_, i) => ({ candidates: [cand(1, [i, 5]), cand(2, [9, 9]), cand(3, [1, 1]), cand(4, [i, i])] }));
    await insertRequests(tdb.db, reqs);
    const seq = await runSelection(tdb.db, { judge: JUDGE, params: PARAMS, batchSize: 1 });
    const one = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    await tdb.db.execute(sql`DELETE FROM pairs`);
    await tdb.db.execute(sql`DELETE FROM selections`);
    let last = [0, 0];
    const par = await runSelection(tdb.db, { judge: JUDGE, params: PARAMS, batchSize: 2, concurrency: 2, all: true, onProgress: (d, t) => (last = [d, t]) });
    expect(par).toMatchObject({ requests: 7, picks: seq.picks, pairs: seq.pairs });
    expect(last).toEqual([7, 7]);
    const two = await readSelection(tdb.db, SELECTION_RULE_VERSION);
    expect(two.picks).toEqual(one.picks);
    expect(two.pairs).toEqual(one.pairs);
    expect(one.pairs.length).toBeGreaterThan(7);
  });

  it('keeps rubrics apart', async () => {
    const ins = await insertRequests(tdb.db, [
      { candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [9], passes: true }, { rubric: 'r2', ok: true, scores: [1, 1], passes: true }] }, cand(2, [5])] },
    ]);
    await runSelection(tdb.db, { judge: JUDGE, params: PARAMS });
    await runSelection(tdb.db, { judge: { ...JUDGE, rubric: 'r2' }, params: PARAMS, requestIds: ins.requestIds });
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION, RUBRIC)).picks[0]!.candidateId).toBe(ins.facts[0]![0]!.id);
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION, 'r2')).picks[0]!.candidateId).toBe(ins.facts[0]![0]!.id);
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION, RUBRIC)).pairs).toHaveLength(1);
    expect((await readSelection(tdb.db, SELECTION_RULE_VERSION, 'r2')).pairs).toHaveLength(0);
  });

  it('refuses bad parameters with the field named', async () => {
    await expect(select([], { ...PARAMS, maxUses: 1.5 })).rejects.toMatchObject({ subject: 'selection.maxUses' });
  });
});

describe('embedded PGlite', () => {
  it('runs the same statement and gives the reference result', async () => {
    const lite = await createPgliteDb();
    try {
      const ins = await insertRequests(lite.db, [
        { candidates: [cand(1, [9, 9]), cand(2, [9, 9], { reviews: ['reject'] }), cand(3, [5, 6]), cand(4, [1, 1], { checks: [false] })] },
        { candidates: [cand(1, [2, 2], { passes: false })] },
      ]);
      const r = await runSelection(lite.db, { judge: JUDGE, params: PARAMS, concurrency: 2 });
      expect(r).toMatchObject({ requests: 2, picks: 1 });
      const s = await readSelection(lite.db, SELECTION_RULE_VERSION);
      expect(s.picks.map((p) => p.candidateId)).toEqual(ins.facts.map((f) => pickSft(f, PARAMS).candidateId));
      expect(s.pairs.map((p) => [p.chosenId, p.rejectedId, p.rank])).toEqual(
        ins.facts.flatMap((f) => dpoPairs(f, PARAMS).map((p) => [p.chosenId, p.rejectedId, p.rank])),
      );
      expect(s.pairs.length).toBe(3);
    } finally {
      await lite.close();
    }
  });
});

describe('a request that settles again during selection', () => {
  it('waits for the settle to commit, then selects what it wrote', async () => {
    const ins = await insertRequests(tdb.db, [{ candidates: [cand(1, [5, 5])] }, { candidates: [cand(1, [6, 6])] }]);
    const other = new pg.Client({ connectionString: tdb.url });
    await other.connect();
    try {
      // Another worker settles request 0 again and holds its row: selection takes the request's
      // lock first, so it waits for the commit and reads the new state (nothing is left due).
      await other.query('BEGIN');
      await other.query(`UPDATE requests SET settled_at = clock_timestamp() WHERE id = $1`, [ins.requestIds[0]]);
      const t0 = performance.now();
      const running = select();
      await sleep(300);
      await other.query('COMMIT');
      expect(await running).toMatchObject({ requests: 2 });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
      const due = await rows<{ id: number }>(tdb.db, sql`SELECT id FROM requests WHERE settled_at > selected_at OR selected_at IS NULL`);
      expect(due).toEqual([]);
      expect(await select()).toMatchObject({ requests: 0 });
    } finally {
      await other.end();
    }
  });
});
