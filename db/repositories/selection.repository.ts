/**
 * Selection in SQL: the SFT pick and the strict-dominance DPO pairs of a batch of requests in
 * one statement (pipeline/select/rules.ts spells out the rules; its TypeScript twins are the
 * reference the property test compares with). The greedy "largest margin first, each candidate
 * used at most maxUses times" is a recursive CTE that walks every request's ranked edge list one
 * step per iteration, all requests of the batch at once, so the statement count is per batch,
 * never per request.
 */
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

export interface SelectionSqlParams {
  minMargin: number;
  maxPairs: number;
  maxUses: number;
  loserMayFailChecks: boolean;
  reviewAcceptOverridesThresholds: boolean;
}

export interface SelectBatchResult {
  /** Requests that exist among the ids given (each now has a selections row). */
  requests: number;
  /** Selections rows with a candidate. */
  picks: number;
  /** Pairs rows written (inserted or refreshed). */
  pairs: number;
}

/** Highest axis count the SQL handles: the product and sum are spelled out up to it. */
const AXES = 16;
const spelled = (op: '*' | '+', unit: string) =>
  sql.raw(
    ['s[1]', ...Array.from({ length: AXES - 1 }, (_, i) => `coalesce(s[${i + 2}], ${unit})`)].join(` ${op} `),
  );

const idArray = (ids: readonly number[]) => `{${ids.map((n) => Math.trunc(n)).join(',')}}`;

/**
 * Selects one batch of requests (ids that do not exist are ignored) and stores the result
 * under (ruleVersion, rubric): selections upserted, pairs upserted (ids of pairs that stay are
 * kept), pairs no longer selected deleted — or, when a review refers to one, kept with rank 0 —
 * and the requests stamped selected_at = now(), status 'selected' (when settled or selected).
 */
export async function selectBatch(
  db: Db,
  o: { requestIds: readonly number[]; rubric: string; ruleVersion: string; params: SelectionSqlParams },
): Promise<SelectBatchResult> {
  if (o.requestIds.length === 0) return { requests: 0, picks: 0, pairs: 0 };
  const p = o.params;
  const paramsJson = JSON.stringify(p);
  const q: SQL = sql`
WITH RECURSIVE
batch AS (SELECT r.id AS request_id FROM requests r WHERE r.id = ANY(${idArray(o.requestIds)}::bigint[])),
cand AS MATERIALIZED (
  SELECT c.id, c.request_id, c.seed, j.s, cardinality(j.s) AS n,
         coalesce(ck.passed, false) AS check_passed, coalesce(j.passes_thresholds, false) AS passes, rv.verdict
  FROM batch b
  JOIN candidates c ON c.request_id = b.request_id
  JOIN LATERAL (
    SELECT jj.scores::float8[] AS s, jj.passes_thresholds FROM judgments jj
    WHERE jj.candidate_id = c.id AND jj.rubric = ${o.rubric} AND jj.ok AND jj.scores IS NOT NULL
    ORDER BY jj.id DESC LIMIT 1
  ) j ON cardinality(j.s) BETWEEN 1 AND ${AXES}
  LEFT JOIN LATERAL (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1) ck ON true
  LEFT JOIN LATERAL (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) rv ON true
),
q AS MATERIALIZED (
  SELECT id, request_id, seed, s, n,
         coalesce(verdict <> 'reject', true)
           AND ((coalesce(verdict = 'accept', false) AND ${p.reviewAcceptOverridesThresholds}::boolean) OR (check_passed AND passes)) AS qualifies,
         (check_passed OR ${p.loserMayFailChecks}::boolean) AS may_lose,
         (${spelled('*', '1')}) AS prod,
         (${spelled('+', '0')}) AS ssum
  FROM cand
),
pick AS (
  SELECT DISTINCT ON (request_id) request_id, id, CASE WHEN prod > 0 THEN power(prod, 1.0::float8 / n) ELSE 0 END AS geo
  FROM q WHERE qualifies
  ORDER BY request_id, geo DESC, seed
),
edge AS (
  SELECT w.request_id, w.id AS chosen_id, l.id AS rejected_id, w.seed AS wseed, l.seed AS lseed, d.margins, d.total
  FROM q w
  JOIN q l ON l.request_id = w.request_id AND l.id <> w.id AND l.n = w.n AND l.ssum <= w.ssum AND l.may_lose
  CROSS JOIN LATERAL (
    SELECT bool_and(u.a >= u.b) AS ge, bool_or(u.a > u.b) AS gt, sum(u.a - u.b) AS total,
           array_agg(u.a - u.b ORDER BY u.i) AS margins
    FROM unnest(w.s, l.s) WITH ORDINALITY AS u(a, b, i)
  ) d
  WHERE w.qualifies AND d.ge AND d.gt AND d.total >= ${p.minMargin}::float8
),
ranked AS MATERIALIZED (
  SELECT e.*, row_number() OVER (PARTITION BY e.request_id ORDER BY e.total DESC, e.wseed, e.lseed) AS rn FROM edge e
),
lists AS (
  SELECT request_id, array_agg(chosen_id ORDER BY rn) AS ws, array_agg(rejected_id ORDER BY rn) AS ls
  FROM ranked GROUP BY request_id
),
greedy (request_id, step, ws, ls, used, taken, took) AS (
  SELECT request_id, 0, ws, ls, ARRAY[]::bigint[], 0, false FROM lists
  UNION ALL
  SELECT g.request_id, g.step + 1, g.ws, g.ls,
         CASE WHEN x.ok THEN g.used || g.ws[g.step + 1] || g.ls[g.step + 1] ELSE g.used END,
         g.taken + x.ok::int, x.ok
  FROM greedy g
  CROSS JOIN LATERAL (
    SELECT cardinality(array_positions(g.used, g.ws[g.step + 1])) < ${p.maxUses}::int
       AND cardinality(array_positions(g.used, g.ls[g.step + 1])) < ${p.maxUses}::int AS ok
  ) x
  WHERE g.step < cardinality(g.ws) AND g.taken < ${p.maxPairs}::int
),
kept AS MATERIALIZED (
  SELECT r.request_id, r.chosen_id, r.rejected_id, r.margins, r.total,
         row_number() OVER (PARTITION BY r.request_id ORDER BY r.rn) AS rank
  FROM greedy g JOIN ranked r ON r.request_id = g.request_id AND r.rn = g.step
  WHERE g.took
),
sel_up AS (
  INSERT INTO selections (request_id, candidate_id, rule_version, rubric, params, score)
  SELECT b.request_id, pk.id, ${o.ruleVersion}, ${o.rubric}, ${paramsJson}::jsonb, pk.geo
  FROM batch b LEFT JOIN pick pk ON pk.request_id = b.request_id
  ON CONFLICT (request_id, rule_version, rubric) DO UPDATE
    SET candidate_id = EXCLUDED.candidate_id, params = EXCLUDED.params, score = EXCLUDED.score
  RETURNING candidate_id
),
pair_up AS (
  INSERT INTO pairs (request_id, chosen_id, rejected_id, rule_version, rubric, params, margins, total_margin, rank)
  SELECT request_id, chosen_id, rejected_id, ${o.ruleVersion}, ${o.rubric}, ${paramsJson}::jsonb, margins::real[], total, rank
  FROM kept
  ON CONFLICT (chosen_id, rejected_id, rule_version, rubric) DO UPDATE
    SET request_id = EXCLUDED.request_id, params = EXCLUDED.params, margins = EXCLUDED.margins,
        total_margin = EXCLUDED.total_margin, rank = EXCLUDED.rank
  RETURNING 1
),
stale AS (
  SELECT pr.id, EXISTS (SELECT 1 FROM reviews v WHERE v.pair_id = pr.id) AS reviewed
  FROM pairs pr JOIN batch b ON pr.request_id = b.request_id
  WHERE pr.rule_version = ${o.ruleVersion} AND pr.rubric = ${o.rubric}
    AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.chosen_id = pr.chosen_id AND k.rejected_id = pr.rejected_id)
),
dropped AS (DELETE FROM pairs WHERE id IN (SELECT id FROM stale WHERE NOT reviewed) RETURNING 1),
demoted AS (UPDATE pairs SET rank = 0 WHERE id IN (SELECT id FROM stale WHERE reviewed) AND rank <> 0 RETURNING 1),
stamped AS (
  UPDATE requests r SET selected_at = now(),
         status = CASE WHEN r.status IN ('settled', 'selected') THEN 'selected' ELSE r.status END
  FROM batch b WHERE r.id = b.request_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM stamped)::int AS requests,
       (SELECT count(*) FROM sel_up WHERE candidate_id IS NOT NULL)::int AS picks,
       (SELECT count(*) FROM pair_up)::int AS pairs,
       (SELECT count(*) FROM dropped)::int + (SELECT count(*) FROM demoted)::int AS retired`;
  const [r] = await rows<{ requests: number; picks: number; pairs: number }>(db, q);
  return { requests: Number(r?.requests ?? 0), picks: Number(r?.picks ?? 0), pairs: Number(r?.pairs ?? 0) };
}

const PENDING = sql`status IN ('settled', 'selected') AND (selected_at IS NULL OR settled_at > selected_at)`;
const SELECTABLE = sql`status IN ('settled', 'selected')`;

/**
 * How many requests are due: settled since their last selection (or never selected); with
 * `all`, every settled or selected request (after a change of parameters).
 */
export async function countPendingSelection(db: Db, opts: { all?: boolean } = {}): Promise<number> {
  const where = opts.all ? SELECTABLE : PENDING;
  const [r] = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM requests WHERE ${where}`);
  return Number(r?.n ?? 0);
}

/** The next `limit` due request ids above `afterId`, ascending (keyset paging: bounded memory). */
export async function nextPendingSelection(db: Db, afterId: number, limit: number, opts: { all?: boolean } = {}): Promise<number[]> {
  const where = opts.all ? SELECTABLE : PENDING;
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM requests WHERE ${where} AND id > ${afterId} ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}
