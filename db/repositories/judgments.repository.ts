/**
 * Judge results: one row per candidate, rubric and judge model. A failed judgment (a reply that
 * could not be scored) is a row too, with its raw reply and no scores.
 */
import { and, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
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
