/**
 * The brute-force reference applied to the ledger as it stands: each request's candidates read
 * straight from the tables (newest ok judgment of the rubric, newest check, newest review) and
 * passed to the TypeScript rules (pickSft, dpoPairs), compared with the stored selection.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../../db/client.ts';
import { SELECTION_RULE_VERSION, dpoPairs, pickSft, type CandidateFacts, type SelectionParams, type Verdict } from '../../pipeline/select/index.ts';

/** The candidates of `requestId` as the reference sees them, read from the ledger now. */
export async function factsOf(db: Db, requestId: number, rubric: string): Promise<CandidateFacts[]> {
  const r = await rows<{ id: number; seed: number; scores: number[] | null; passes: boolean | null; passed: boolean | null; verdict: Verdict | null }>(
    db,
    sql`SELECT c.id, c.seed, j.scores, j.passes_thresholds AS passes, ck.passed, rv.verdict
        FROM candidates c
        LEFT JOIN LATERAL (SELECT scores, passes_thresholds FROM judgments WHERE candidate_id = c.id AND rubric = ${rubric} AND ok AND scores IS NOT NULL ORDER BY id DESC LIMIT 1) j ON true
        LEFT JOIN LATERAL (SELECT passed FROM checks WHERE candidate_id = c.id ORDER BY id DESC LIMIT 1) ck ON true
        LEFT JOIN LATERAL (SELECT verdict FROM reviews WHERE candidate_id = c.id ORDER BY id DESC LIMIT 1) rv ON true
        WHERE c.request_id = ${requestId} ORDER BY c.id`,
  );
  return r.map((x) => ({
    id: Number(x.id),
    seed: x.seed,
    scores: x.scores ? x.scores.map(Number) : null,
    passesThresholds: Boolean(x.passes),
    checkPassed: Boolean(x.passed),
    review: x.verdict,
  }));
}

/** Whether the stored selection of `requestId` (rank > 0 pairs) is the reference's for the ledger now. */
export async function matchesReference(db: Db, requestId: number, rubric: string, params: SelectionParams): Promise<{ ok: boolean; stored: unknown; expected: unknown }> {
  const facts = await factsOf(db, requestId, rubric);
  const pick = await rows<{ candidate_id: number | null }>(
    db,
    sql`SELECT candidate_id FROM selections WHERE request_id = ${requestId} AND rubric = ${rubric} AND rule_version = ${SELECTION_RULE_VERSION}`,
  );
  const pairs = await rows<{ chosen_id: number; rejected_id: number; rank: number }>(
    db,
    sql`SELECT chosen_id, rejected_id, rank FROM pairs
        WHERE request_id = ${requestId} AND rubric = ${rubric} AND rule_version = ${SELECTION_RULE_VERSION} AND rank > 0 ORDER BY rank`,
  );
  const stored = {
    pick: pick[0]?.candidate_id == null ? null : Number(pick[0].candidate_id),
    pairs: pairs.map((p) => [Number(p.chosen_id), Number(p.rejected_id), p.rank]),
  };
  const expected = {
    pick: pickSft(facts, params).candidateId,
    pairs: dpoPairs(facts, params).map((p) => [p.chosenId, p.rejectedId, p.rank]),
  };
  return { ok: JSON.stringify(stored) === JSON.stringify(expected), stored, expected };
}
