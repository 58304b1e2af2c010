/**
 * Human review: every accept / reject / flag is one `reviews` row, never an update, so the table
 * is the audit trail (who, what, when) and the newest row per subject is the decision in force.
 * `before` and `after` hold the subject's state as the reviewer saw it and as they left it: the
 * previous review plus the automatic decision (check, thresholds, SFT pick or pair rank).
 */
import { sql, type SQL } from 'drizzle-orm';
import { sameJudgeVersion, type JudgeVersionKey } from './judge-version.sql.ts';
import { rows, type Db } from '../client.ts';

export type Verdict = 'accept' | 'reject' | 'flag';

export interface ReviewRow {
  id: number;
  candidate_id: number | null;
  pair_id: number | null;
  reviewer: string;
  verdict: Verdict;
  note: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  created_at: Date;
}

/** A review just written, with the request of its subject (whose selection is due again). */
export interface WrittenReview extends ReviewRow {
  request_id: number;
}

const RETURNING = sql`RETURNING id, candidate_id, pair_id, reviewer, verdict, note, before, after, created_at,
  coalesce((SELECT c.request_id FROM candidates c WHERE c.id = reviews.candidate_id),
           (SELECT p.request_id FROM pairs p WHERE p.id = reviews.pair_id)) AS request_id`;

/**
 * The review's stamp on its requests, in the caller's transaction: their rows are locked first,
 * in id order (the order selection takes them, so the two never deadlock), then reviewed_at is
 * set past the request's selected_at as it stands after the lock. A selection that held the lock
 * first and did not see this review therefore leaves the request due; one that comes after sees
 * the review. Either way no review is lost.
 */
async function stampReviewed(tx: Db, requestIds: SQL): Promise<void> {
  await tx.execute(sql`SELECT r.id FROM requests r WHERE r.id IN (${requestIds}) ORDER BY r.id FOR UPDATE`);
  await tx.execute(
    sql`UPDATE requests SET reviewed_at = greatest(clock_timestamp(), selected_at + interval '1 millisecond') WHERE id IN (${requestIds})`,
  );
}

/**
 * Records one verdict on each candidate in `candidateIds` (ids that do not exist are skipped),
 * in one transaction that also makes their requests due for selection. Returns the rows
 * written, in id order.
 */
export async function reviewCandidates(
  db: Db,
  o: { candidateIds: readonly number[]; reviewer: string; verdict: Verdict; note: string; judge: JudgeVersionKey },
): Promise<WrittenReview[]> {
  if (o.candidateIds.length === 0) return [];
  const ids = sql.param(o.candidateIds);
  return db.transaction(async (t) => {
    const tx = t as unknown as Db;
    await stampReviewed(tx, sql`SELECT c.request_id FROM candidates c WHERE c.id = ANY(${ids}::bigint[])`);
    return rows<WrittenReview & Record<string, unknown>>(
      tx,
    sql`WITH state AS (
          SELECT c.id, jsonb_build_object(
                   'status', c.status,
                   'check_passed', ck.passed,
                   'passes_thresholds', j.passes_thresholds,
                   'sft_pick', EXISTS (SELECT 1 FROM selections s
                                       WHERE s.request_id = c.request_id AND s.candidate_id = c.id AND ${sameJudgeVersion('s', o.judge)})
                 ) AS auto,
                 prev.verdict, prev.note, prev.reviewer
          FROM candidates c
          LEFT JOIN LATERAL (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1) ck ON true
          LEFT JOIN LATERAL (
            SELECT jj.passes_thresholds FROM judgments jj
            WHERE jj.candidate_id = c.id AND ${sameJudgeVersion('jj', o.judge)} ORDER BY jj.id DESC LIMIT 1
          ) j ON true
          LEFT JOIN LATERAL (
            SELECT v.verdict, v.note, v.reviewer FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1
          ) prev ON true
          WHERE c.id = ANY(${ids}::bigint[])
        )
        INSERT INTO reviews (candidate_id, reviewer, verdict, note, before, after)
        SELECT id, ${o.reviewer}, ${o.verdict}, ${o.note},
               auto || jsonb_build_object('verdict', verdict, 'note', note, 'reviewer', reviewer),
               auto || jsonb_build_object('verdict', ${o.verdict}::text, 'note', ${o.note}::text, 'reviewer', ${o.reviewer}::text)
        FROM state ORDER BY id
        ${RETURNING}`,
    );
  });
}

/** Records one verdict on a DPO pair. Returns null when the pair does not exist. */
export async function reviewPair(
  db: Db,
  o: { pairId: number; reviewer: string; verdict: Verdict; note: string },
): Promise<WrittenReview | null> {
  const pairId = Math.trunc(o.pairId);
  const out = await db.transaction(async (t) => {
    const tx = t as unknown as Db;
    await stampReviewed(tx, sql`SELECT p.request_id FROM pairs p WHERE p.id = ${pairId}`);
    return rows<WrittenReview & Record<string, unknown>>(
      tx,
    sql`WITH state AS (
          SELECT p.id, p.request_id, jsonb_build_object('chosen_id', p.chosen_id, 'rejected_id', p.rejected_id, 'rank', p.rank,
                                          'total_margin', p.total_margin) AS auto,
                 prev.verdict, prev.note, prev.reviewer
          FROM pairs p
          LEFT JOIN LATERAL (
            SELECT v.verdict, v.note, v.reviewer FROM reviews v WHERE v.pair_id = p.id ORDER BY v.id DESC LIMIT 1
          ) prev ON true
          WHERE p.id = ${pairId}
        )
        INSERT INTO reviews (pair_id, reviewer, verdict, note, before, after)
        SELECT id, ${o.reviewer}, ${o.verdict}, ${o.note},
               auto || jsonb_build_object('verdict', verdict, 'note', note, 'reviewer', reviewer),
               auto || jsonb_build_object('verdict', ${o.verdict}::text, 'note', ${o.note}::text, 'reviewer', ${o.reviewer}::text)
        FROM state
        ${RETURNING}`,
    );
  });
  return out[0] ?? null;
}

/** The audit trail, newest first: of one candidate, one pair, or everything (keyset on id). */
export async function listReviews(
  db: Db,
  o: { candidateId?: number; pairId?: number; before?: number | null; limit: number },
): Promise<ReviewRow[]> {
  const where = [sql`true`];
  if (o.candidateId !== undefined) where.push(sql`candidate_id = ${o.candidateId}`);
  if (o.pairId !== undefined) where.push(sql`pair_id = ${o.pairId}`);
  if (o.before != null) where.push(sql`id < ${o.before}`);
  return rows<ReviewRow & Record<string, unknown>>(
    db,
    sql`SELECT id, candidate_id, pair_id, reviewer, verdict, note, before, after, created_at
        FROM reviews WHERE ${sql.join(where, sql` AND `)}
        ORDER BY id DESC LIMIT ${Math.max(1, Math.min(500, Math.trunc(o.limit)))}`,
  );
}
