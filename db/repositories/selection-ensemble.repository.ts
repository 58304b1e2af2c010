/**
 * `select-ensemble-v1` in SQL: selection over several judges (JUDGES_FILE), one statement per
 * batch of requests. pipeline/select/ensemble.ts spells out the rule and its TypeScript reference:
 *
 * - a candidate is usable only with a current ok judgment of every judge (its score vector is the
 *   concatenation of the judges' vectors, in JUDGES_FILE order);
 * - it passes thresholds only when it passes every judge's (applied now to each judge's raw scores);
 * - the SFT pick is the highest mean over the judges of each judge's geometric mean, ties to the
 *   lowest seed;
 * - a pair needs ≥ on every axis of every judge and > on one (strict dominance on the
 *   concatenation), with the margin, use limit and ranking of select-v1.
 *
 * The rows are written by select-v1's write half under the ensemble's composite judge version
 * (rubric `ensemble`), so they never mix with a single judge's.
 */
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { batchCte, checkPassedSql, COLS, dominanceEdgeSql, qualifiesSql, SELECTION_MAX_AXES, SUM, takeWithinUsesCtes, thresholdsMetSql, writeSelection, type SelectBatchResult, type SelectionSqlParams } from './selection.repository.ts';

/** One judge of the ensemble as selection reads it. */
export interface EnsembleJudgeSql {
  rubric: string;
  model: string;
  promptHash: string;
  /** Length of the rubric's score vector (a judgment with another length is not usable). */
  axes: number;
  /** Minimums on the raw scores and aggregates, applied now. */
  thresholds: Record<string, number>;
}

export interface EnsembleBatchInput {
  requestIds: readonly number[];
  judges: readonly EnsembleJudgeSql[];
  /** The composite version the rows are stored under (ensembleKey). */
  key: { rubric: string; model: string; promptHash: string };
  ruleVersion: string;
  params: SelectionSqlParams;
  checkVersion?: string;
  storedParams?: Record<string, unknown>;
}

/** Concatenated axes the SQL handles (as select-v1). */
export const ENSEMBLE_MAX_AXES = SELECTION_MAX_AXES;
/** One judge's geometric mean of its own vector `jN.s`: the product left to right, then the root; 0 when not positive. */
function geoOf(alias: string, n: number): SQL {
  const prod = Array.from({ length: n }, (_, i) => `${alias}.s[${i + 1}]`).join(' * ');
  return sql.raw(`CASE WHEN (${prod}) > 0 THEN power(${prod}, 1.0::float8 / ${n}) ELSE 0 END`);
}

/** The read half: batch (with the columns select-v1's write half reads), cand (one lateral judgment per judge), q, pick, edge … kept, as select-v1 names them. */
function ensembleCtes(o: EnsembleBatchInput): SQL {
  const p = o.params;
  const joins = o.judges.map((j, i) => {
    const a = sql.raw(`j${i}`);
    return sql`
  JOIN LATERAL (
    SELECT jj.scores::float8[] AS s, jj.raw_scores || coalesce(jj.aggregate, '{}'::jsonb) AS vals FROM judgments jj
    WHERE jj.candidate_id = c.id AND jj.rubric = ${j.rubric} AND jj.judge_model = ${j.model} AND jj.prompt_hash = ${j.promptHash}
      AND jj.ok AND jj.scores IS NOT NULL AND jj.superseded_at IS NULL
    ORDER BY jj.id DESC LIMIT 1
  ) ${a} ON cardinality(${a}.s) = ${j.axes}::int`;
  });
  const concat = sql.raw(o.judges.map((_, i) => `j${i}.s`).join(' || '));
  const passes = sql.join(o.judges.map((j, i) => thresholdsMetSql(sql.raw(`j${i}.vals`), j.thresholds)), sql` AND `);
  // Mean over the judges of each judge's geometric mean, summed in JUDGES_FILE order.
  const score = sql`(${sql.join(o.judges.map((j, i) => geoOf(`j${i}`, j.axes)), sql` + `)}) / ${o.judges.length}::float8`;
  return sql`
WITH RECURSIVE
${batchCte(o.requestIds)},
cand0 AS MATERIALIZED (
  SELECT c.id, c.request_id, c.seed, ${concat} AS s, ${passes} AS passes, ${score} AS geo,
         coalesce(ck.passed, false) AS check_passed, rv.verdict
  FROM batch b
  CROSS JOIN LATERAL (SELECT c.id, c.request_id, c.seed FROM candidates c WHERE c.request_id = b.request_id OFFSET 0) c
  ${sql.join(joins, sql``)}
  LEFT JOIN LATERAL (${checkPassedSql(o.checkVersion)}) ck ON true
  LEFT JOIN LATERAL (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) rv ON true
),
q AS MATERIALIZED (
  SELECT c.*, cardinality(c.s) AS n, ${COLS},
         ${qualifiesSql(p)}
  FROM cand0 c
),
q2 AS MATERIALIZED (SELECT q.*, (${SUM}) AS ssum FROM q),
pick AS MATERIALIZED (
  SELECT DISTINCT ON (request_id) request_id, id, geo AS score
  FROM q2 WHERE qualifies
  ORDER BY request_id, geo DESC, seed
),
edge AS (${dominanceEdgeSql('q2', p)}),
${takeWithinUsesCtes(p)}`;
}

/**
 * Selects one batch of requests under select-ensemble-v1 and stores the picks and pairs under
 * the ensemble's composite judge version (upserts, stale pairs dropped or demoted, requests
 * stamped: select-v1's write half).
 */
export async function selectEnsembleBatch(db: Db, o: EnsembleBatchInput): Promise<SelectBatchResult> {
  if (o.requestIds.length === 0) return { requests: 0, picks: 0, pairs: 0 };
  const total = o.judges.reduce((n, j) => n + j.axes, 0);
  if (!o.judges.length || total > ENSEMBLE_MAX_AXES) throw new RangeError(`select-ensemble-v1: 1 to ${ENSEMBLE_MAX_AXES} axes over all judges, got ${total}`);
  const write = writeSelection({ requestIds: o.requestIds, judge: o.key, ruleVersion: o.ruleVersion, params: o.params, storedParams: o.storedParams });
  const [r] = await db.transaction(async (tx) => {
    // Locked first in id order, as select-v1 and reviews do: concurrent selections of a request serialise.
    await tx.execute(sql`SELECT id FROM requests WHERE id = ANY(${sql.param(o.requestIds)}::bigint[]) ORDER BY id FOR UPDATE`);
    await tx.execute(sql`SET LOCAL jit = off`);
    await tx.execute(sql`SET LOCAL enable_nestloop = off`);
    return rows<{ requests: number; picks: number; pairs: number }>(tx as unknown as Db, sql`${ensembleCtes(o)}\n${write}`);
  });
  return { requests: Number(r?.requests ?? 0), picks: Number(r?.picks ?? 0), pairs: Number(r?.pairs ?? 0) };
}
