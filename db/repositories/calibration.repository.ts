/**
 * What calibration reads: every candidate a reviewer accepted or rejected (the newest review of
 * the candidate decides; `flag` is no verdict), joined with its newest successful judgment of
 * one judge version.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

/** A judge version. `promptHash`, when given, narrows to judgments made with that prompt. */
export interface JudgeVersion {
  rubric: string;
  judgeModel: string;
  promptHash?: string;
}

export interface ReviewedJudgment {
  candidate_id: number;
  category: string;
  verdict: 'accept' | 'reject';
  passes_thresholds: boolean;
  raw_scores: Record<string, number> | null;
  aggregate: Record<string, number | boolean> | null;
}

export async function reviewedJudgments(db: Db, v: JudgeVersion): Promise<ReviewedJudgment[]> {
  const r = await rows<ReviewedJudgment & Record<string, unknown>>(
    db,
    sql`SELECT rv.candidate_id, r.category, rv.verdict, j.passes_thresholds, j.raw_scores, j.aggregate
        FROM (SELECT DISTINCT ON (candidate_id) candidate_id, verdict FROM reviews
              WHERE candidate_id IS NOT NULL ORDER BY candidate_id, id DESC) rv
        JOIN candidates c ON c.id = rv.candidate_id
        JOIN requests r ON r.id = c.request_id
        JOIN LATERAL (
          SELECT jj.passes_thresholds, jj.raw_scores, jj.aggregate FROM judgments jj
          WHERE jj.candidate_id = rv.candidate_id AND jj.ok AND jj.rubric = ${v.rubric} AND jj.judge_model = ${v.judgeModel}
            ${v.promptHash === undefined ? sql`` : sql`AND jj.prompt_hash = ${v.promptHash}`}
          ORDER BY jj.id DESC LIMIT 1
        ) j ON true
        WHERE rv.verdict IN ('accept', 'reject')
        ORDER BY rv.candidate_id`,
  );
  return r.map((x) => ({ ...x, candidate_id: Number(x.candidate_id), passes_thresholds: Boolean(x.passes_thresholds) }));
}
