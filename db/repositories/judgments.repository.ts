/**
 * Judge results: one current row per candidate and judge version (rubric, judge model, prompt
 * hash). A failed judgment (a reply that could not be scored) is a row too, with its raw reply
 * and no scores; `retry-failed --stage judge` supersedes it (kept as history) so a new attempt
 * can become current.
 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { judgments } from '../schema/index.ts';

export type NewJudgment = typeof judgments.$inferInsert;

const VERSION_KEY = {
  target: [judgments.candidateId, judgments.rubric, judgments.judgeModel, judgments.promptHash],
  where: sql`superseded_at IS NULL`,
};

/** Inserts a judgment (ON CONFLICT on the current judgment of its version DO NOTHING); returns whether it was new. */
export async function insertJudgment(db: Db, row: NewJudgment): Promise<boolean> {
  const r = await db
    .insert(judgments)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing(VERSION_KEY)
    .returning({ id: judgments.id });
  return r.length > 0;
}

/** Whether a candidate has a current judgment of this judge version. */
export async function hasJudgment(db: Db, candidateId: number, v: { rubric: string; model: string; promptHash: string }): Promise<boolean> {
  const r = await db
    .select({ id: judgments.id })
    .from(judgments)
    .where(
      and(
        eq(judgments.candidateId, candidateId),
        eq(judgments.rubric, v.rubric),
        eq(judgments.judgeModel, v.model),
        eq(judgments.promptHash, v.promptHash),
        isNull(judgments.supersededAt),
      ),
    )
    .limit(1);
  return r.length > 0;
}

/**
 * The judge stage's write, one statement: inserts the judgment (ON CONFLICT DO NOTHING) and ends
 * its candidate's judging (checked → judged; a rejected one keeps its status), whether the row is
 * new or an earlier attempt's. Returns whether the judgment was new.
 */
export async function insertJudgmentAndFinish(db: Db, row: NewJudgment): Promise<{ inserted: boolean }> {
  const insert = db
    .insert(judgments)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing(VERSION_KEY)
    .returning({ id: judgments.id })
    .getSQL();
  const [r] = await rows<{ inserted: number }>(
    db,
    sql`WITH ins AS (${insert}),
        mv AS (UPDATE candidates SET status = CASE WHEN status = 'checked' THEN 'judged' ELSE status END, judged_at = coalesce(judged_at, now())
               WHERE id = ${row.candidateId} AND status IN ('checked', 'judged', 'rejected') RETURNING id)
        SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM mv)::int AS moved`,
  );
  return { inserted: Number(r?.inserted ?? 0) > 0 };
}

/**
 * Marks the current unscorable (ok = false) judgments of a judge version superseded, kept as
 * history, so they can be asked again; returns their candidate ids (`retry-failed --stage judge`).
 */
export async function supersedeFailedJudgments(db: Db, v: { rubric: string; model: string; promptHash: string }): Promise<number[]> {
  const r = await rows<{ candidate_id: number }>(
    db,
    sql`UPDATE judgments SET superseded_at = now()
        WHERE NOT ok AND superseded_at IS NULL AND rubric = ${v.rubric} AND judge_model = ${v.model} AND prompt_hash = ${v.promptHash}
        RETURNING candidate_id`,
  );
  return r.map((x) => Number(x.candidate_id)).sort((a, b) => a - b);
}

/** The judge versions the ledger holds, with their judgment counts, the most recently used first (the dashboard's selector). */
export async function listJudgeVersions(db: Db): Promise<{ rubric: string; model: string; promptHash: string; judgments: number }[]> {
  const r = await rows<{ rubric: string; judge_model: string; prompt_hash: string; n: number }>(
    db,
    sql`SELECT rubric, judge_model, prompt_hash, count(*)::int AS n FROM judgments
        WHERE superseded_at IS NULL GROUP BY rubric, judge_model, prompt_hash ORDER BY max(id) DESC LIMIT 50`,
  );
  return r.map((x) => ({ rubric: x.rubric, model: x.judge_model, promptHash: x.prompt_hash, judgments: Number(x.n) }));
}
