/**
 * `scalar-v1` in SQL (the rule and its TypeScript reference: pipeline/select/scalar.ts): its
 * pick and edges inside the shared selection statement of selection.repository.ts, which reads
 * the batch, applies the qualification rules and walks the same greedy under the use limits.
 *
 * The score is the weighted sum of the judgment's canonical axes (real, widened to float8),
 * instruction + preservation + quality in that order, as the reference sums it; the edge's
 * `total` is the score gap, so the greedy takes the largest gaps (best against worst) first.
 */
import { sql } from 'drizzle-orm';
import type { RuleSql } from './selection.repository.ts';

export interface ScalarSqlParams {
  weights: { instruction: number; preservation: number; quality: number };
  /** Least gap chosen − rejected; equal scores never pair whatever it is. */
  minGap: number;
}

export function scalarRuleSql(p: ScalarSqlParams): RuleSql {
  const w = p.weights;
  return {
    judgmentCols: sql`, jj.axis_instruction::float8 AS ai, jj.axis_preservation::float8 AS ap, jj.axis_quality::float8 AS aq`,
    candCols: sql`, j.ai, j.ap, j.aq`,
    qCols: sql`,
         ${w.instruction}::float8 * ai + ${w.preservation}::float8 * ap + ${w.quality}::float8 * aq AS sc`,
    pick: sql`
  SELECT DISTINCT ON (request_id) request_id, id, sc AS score
  FROM q WHERE qualifies AND sc IS NOT NULL
  ORDER BY request_id, sc DESC, seed
`,
    edge: sql`
  SELECT w.request_id, w.id AS chosen_id, l.id AS rejected_id, w.seed AS wseed, l.seed AS lseed,
         w.s AS ws, l.s AS ls, w.n, w.sc - l.sc AS total
  FROM q w
  JOIN q l ON l.request_id = w.request_id AND l.id <> w.id AND l.n = w.n AND l.sc < w.sc AND l.may_lose
  WHERE w.qualifies AND w.sc - l.sc >= ${p.minGap}::float8
`,
  };
}
