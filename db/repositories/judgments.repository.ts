/**
 * Judge results: one row per candidate, rubric and judge model. A failed judgment (a reply that
 * could not be scored) is a row too, with its raw reply and no scores.
 */
import { and, eq, sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { judgments } from '../schema/index.ts';

export type NewJudgment = typeof judgments.$inferInsert;

/** Inserts a judgment (ON CONFLICT (candidate, rubric, model) DO NOTHING); returns whether it was new. */
export async function insertJudgment(db: Db, row: NewJudgment): Promise<boolean> {
  const r = await db
    .insert(judgments)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing({ target: [judgments.candidateId, judgments.rubric, judgments.judgeModel] })
    .returning({ id: judgments.id });
  return r.length > 0;
}

/** Whether a candidate already has a judgment by this rubric and model. */
export async function hasJudgment(db: Db, candidateId: number, rubric: string, model: string): Promise<boolean> {
  const r = await db
    .select({ id: judgments.id })
    .from(judgments)
    .where(and(eq(judgments.candidateId, candidateId), eq(judgments.rubric, rubric), eq(judgments.judgeModel, model)))
    .limit(1);
  return r.length > 0;
}

/**
 * The judge stage's write, one statement: inserts the judgment (ON CONFLICT DO NOTHING) and moves
 * its candidate checked → judged (whether the row is new or an earlier attempt's). Returns
 * whether the judgment was new and whether the candidate moved now.
 */
export async function insertJudgmentAndMove(db: Db, row: NewJudgment): Promise<{ inserted: boolean; moved: boolean }> {
  const insert = db
    .insert(judgments)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing({ target: [judgments.candidateId, judgments.rubric, judgments.judgeModel] })
    .returning({ id: judgments.id })
    .getSQL();
  const [r] = await rows<{ inserted: number; moved: number }>(
    db,
    sql`WITH ins AS (${insert}),
        mv AS (UPDATE candidates SET status = 'judged', judged_at = coalesce(judged_at, now()) WHERE id = ${row.candidateId} AND status = 'checked' RETURNING id)
        SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM mv)::int AS moved`,
  );
  return { inserted: Number(r?.inserted ?? 0) > 0, moved: Number(r?.moved ?? 0) > 0 };
}
