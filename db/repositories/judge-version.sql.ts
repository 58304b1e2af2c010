/**
 * The judge version as a SQL condition: judgments, selections and pairs of one (rubric, judge
 * model, prompt hash) and no other, so no read mixes two judges.
 */
import { sql, type SQL } from 'drizzle-orm';

export interface JudgeVersionKey {
  rubric: string;
  model: string;
  promptHash: string;
}

/** `alias.rubric = … AND alias.judge_model = … AND alias.prompt_hash = …` (no alias: bare columns). */
export function sameJudgeVersion(alias: string | null, v: JudgeVersionKey): SQL {
  const col = (c: string) => sql.raw(alias ? `${alias}.${c}` : c);
  return sql`(${col('rubric')} = ${v.rubric} AND ${col('judge_model')} = ${v.model} AND ${col('prompt_hash')} = ${v.promptHash})`;
}
