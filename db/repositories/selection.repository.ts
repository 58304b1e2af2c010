/**
 * Selection in SQL: the SFT pick and the strict-dominance DPO pairs of a batch of requests in
 * one statement (pipeline/select/rules.ts spells out the rules; its TypeScript twins are the
 * reference the property test compares with). The greedy "largest margin first, each candidate
 * used at most maxUses times" is a recursive CTE that walks the ranked edge lists one step per
 * iteration, all requests of the batch at once (only requests where a use limit can bind; the
 * others keep their first maxPairs edges), so the statement count is per batch, never per request.
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
  /** Pairs selected (rows inserted, refreshed, or already there unchanged). */
  pairs: number;
}

/** Highest axis count the SQL handles: products, sums and comparisons are spelled out up to it. */
/** Most score axes a selection reads per candidate (the ensemble's, over all its judges, too). */
export const SELECTION_MAX_AXES = 16;
const AXES = SELECTION_MAX_AXES;
const axes = Array.from({ length: AXES }, (_, i) => i + 1);
const raw = (parts: string[], sep: string) => sql.raw(parts.join(sep));
// The axes are unpacked once per candidate into columns s1…s16 (null past the vector's end):
// the pair conditions then compare plain columns instead of subscripting arrays, which was most
// of the cost of the w × l join.
/** s[1] AS s1, …, s[16] AS s16. */
export const COLS = raw(axes.map((i) => `s[${i}] AS s${i}`), ', ');
/** Π s[i], left to right (a factor 1 past the end is exact). */
const PROD = raw(axes.map((i) => (i === 1 ? 's1' : `coalesce(s${i}, 1)`)), ' * ');
/** Σ s[i], left to right. */
export const SUM = raw(axes.map((i) => (i === 1 ? 's1' : `coalesce(s${i}, 0)`)), ' + ');
/** w ≥ l on every axis (past the end: no axis, no objection). */
const GE = raw(axes.map((i) => (i === 1 ? 'w.s1 >= l.s1' : `(w.s${i} >= l.s${i}) IS NOT FALSE`)), ' AND ');
/** w > l on some axis. */
const GT = raw(axes.map((i) => (i === 1 ? 'w.s1 > l.s1' : `(w.s${i} > l.s${i}) IS TRUE`)), ' OR ');
/** Σ (w − l), left to right, as the reference sums it. */
const TOTAL = raw(axes.map((i) => (i === 1 ? '(w.s1 - l.s1)' : `coalesce(w.s${i} - l.s${i}, 0)`)), ' + ');
/** (w − l) per axis, cut to the vector's length. */
const MARGINS = sql.raw(`(ARRAY[${axes.map((i) => `r.ws[${i}] - r.ls[${i}]`).join(', ')}])[1:r.n]`);

/**
 * A selection rule's own SQL inside the shared statement (batch → cand → q → pick, edge →
 * greedy → kept → writes): the columns it needs and its pick and edge CTE bodies.
 */
export interface RuleSql {
  /** Extra columns read from the judgment row `jj`, each after a comma. */
  judgmentCols: SQL;
  /** Extra columns of `cand` taken from the judgment `j`, each after a comma. */
  candCols: SQL;
  /** Extra columns of `q` over cand's, each after a comma. */
  qCols: SQL;
  /** The pick CTE's body: (request_id, id, score), one row per request that has a pick. */
  pick: SQL;
  /** The edge CTE's body: candidate pairs (request_id, chosen_id, rejected_id, wseed, lseed, ws, ls, n, total), before the use limits. */
  edge: SQL;
}

/**
 * Strict-dominance edges over the relation `rel` (columns s1…s16, n, ssum, seed, qualifies,
 * may_lose): w ≥ l on every axis and > on one, Σ(w − l) ≥ minMargin; vectors of one length only.
 */
export function dominanceEdgeSql(rel: 'q' | 'q2', p: Pick<SelectionSqlParams, 'minMargin'>): SQL {
  const r = sql.raw(rel);
  return sql`
  SELECT * FROM (
    SELECT w.request_id, w.id AS chosen_id, l.id AS rejected_id, w.seed AS wseed, l.seed AS lseed,
           w.s AS ws, l.s AS ls, w.n, (${TOTAL}) AS total
    FROM ${r} w
    JOIN ${r} l ON l.request_id = w.request_id AND l.id <> w.id AND l.n = w.n AND l.ssum <= w.ssum AND l.may_lose
    WHERE w.qualifies AND (${GE}) AND (${GT})
  ) e
  WHERE e.total >= ${p.minMargin}::float8
`;
}

/** select-v1: the geometric-mean pick and strict-dominance edges with Σ(w − l) ≥ minMargin. */
export function dominanceRuleSql(p: Pick<SelectionSqlParams, 'minMargin'>): RuleSql {
  return {
    judgmentCols: sql``,
    candCols: sql``,
    qCols: sql`,
         (${PROD}) AS prod,
         (${SUM}) AS ssum`,
    pick: sql`
  SELECT DISTINCT ON (request_id) request_id, id, CASE WHEN prod > 0 THEN power(prod, 1.0::float8 / n) ELSE 0 END AS score
  FROM q WHERE qualifies
  ORDER BY request_id, score DESC, seed
`,
    edge: dominanceEdgeSql('q', p),
  };
}

/**
 * Selects one batch of requests (ids that do not exist are ignored) and stores the result
 * under (ruleVersion, rubric): selections upserted, pairs upserted (ids of pairs that stay are
 * kept, unchanged rows are not rewritten), pairs no longer selected deleted — or, when a review
 * refers to one, kept with rank 0 — and the requests stamped selected_at = now(), status
 * 'selected' (when settled or selected).
 */
export async function selectBatch(db: Db, o: SelectBatchInput): Promise<SelectBatchResult> {
  return (await selectBatchRules(db, [o]))[0]!;
}

/**
 * selectBatch for several rules over the same requests (`inputs` differ only in their rule), in
 * one transaction under one set of request locks: every rule reads the same state, and the stamp
 * (on the input that asks for it, the last) cannot cover a change another rule did not see.
 */
export async function selectBatchRules(db: Db, inputs: readonly SelectBatchInput[]): Promise<SelectBatchResult[]> {
  const o = inputs[0];
  if (!o || o.requestIds.length === 0) return inputs.map(() => ({ requests: 0, picks: 0, pairs: 0 }));
  // JIT off: the statement's cost estimate crosses the JIT threshold, and compiling its many
  // expressions costs far more than running it. Nested loops off: the planner's row estimates
  // for the CTEs are far too low, and a nested loop over CTE scans makes the w × l join
  // quadratic per batch. The index probes that must be nested loops are written as LATERAL
  // subqueries, which stay nested loops regardless. (Measurements: test/bench/README.md, select.)
  return db.transaction(async (tx) => {
    // Concurrency: the batch's requests are locked first, in id order (reviews lock them in the
    // same order), so a second selection of any of them waits for this one to commit and then
    // reads its pairs: any number of selections at once store what one would.
    await tx.execute(sql`SELECT id FROM requests WHERE id = ANY(${sql.param(o.requestIds)}::bigint[]) ORDER BY id FOR UPDATE`);
    await tx.execute(sql`SET LOCAL jit = off`);
    await tx.execute(sql`SET LOCAL enable_nestloop = off`);
    const out: SelectBatchResult[] = [];
    for (const input of inputs) {
      const [r] = await rows<{ requests: number; picks: number; pairs: number }>(tx as unknown as Db, selectBatchSql(input));
      out.push({ requests: Number(r?.requests ?? 0), picks: Number(r?.picks ?? 0), pairs: Number(r?.pairs ?? 0) });
    }
    return out;
  });
}

export interface SelectBatchInput {
  requestIds: readonly number[];
  /** The judge version read: only its judgments count, and the rows written name it. */
  judge: { rubric: string; model: string; promptHash: string };
  ruleVersion: string;
  params: SelectionSqlParams;
  /**
   * Minimum per raw score or aggregate name, applied to the judgments' raw scores now. Omitted:
   * the pass/fail each judgment stored when it was made.
   */
  thresholds?: Record<string, number>;
  /** The check version whose check rows count; omitted: each candidate's newest check. */
  checkVersion?: string;
  /** Stored in the rows' params beside the rule parameters (thresholds, check version). */
  storedParams?: Record<string, unknown>;
  /** The params stored with each row, replacing { ...params, ...storedParams } (a rule with other parameters). */
  rowParams?: Record<string, unknown>;
  /** The rule's pick and edges; omitted: select-v1's (dominanceRuleSql). */
  rule?: RuleSql;
  /**
   * Stamp the requests selected (selected_at, status). Default true; false for a run that does
   * not cover every rule the select stage runs, so the others still see the requests as due.
   */
  stamp?: boolean;
}

/** The statement selectBatch runs (exported for EXPLAIN in benchmarks). */
export function selectBatchSql(o: SelectBatchInput): SQL {
  return sql`${selectionCtes(o)}
${writeSelection(o)}`;
}

/**
 * Whether the values `vals` (a jsonb of the raw scores with the aggregates over them, e.g.
 * viescore's SC, PQ, O) meet every threshold: the rubrics' meetsThresholds in SQL.
 */
export function thresholdsMetSql(vals: SQL, thresholds: Record<string, number>): SQL {
  const parts = Object.entries(thresholds).map(
    ([name, min]) => sql`coalesce(jsonb_typeof(${vals} -> ${name}::text) = 'number' AND (${vals} ->> ${name}::text)::float8 >= ${min}::float8, false)`,
  );
  return parts.length ? sql`(${sql.join(parts, sql` AND `)})` : sql`true`;
}

/** What a candidate's `passes` is: the thresholds applied now, or the judgment's stored verdict. */
function passesSql(thresholds: Record<string, number> | undefined): SQL {
  return thresholds ? thresholdsMetSql(sql`j.vals`, thresholds) : sql`coalesce(j.passes_thresholds, false)`;
}

/**
 * The read half of a selection batch, shared by the real select and `select --dry-run`: the
 * WITH clause through \`kept\` (batch, cand, q, pick, edge, ranked, greedy, kept).
 */
/**
 * The `batch` CTE: the requests of one batch, each once (a request twice would be upserted
 * twice). The ids go in as one array parameter, unnested and joined: the planner knows the batch
 * size from its value and probes the request_id indexes once per request (test/bench/README.md,
 * select, says what the alternatives cost).
 */
export function batchCte(requestIds: readonly number[]): SQL {
  const ids = sql`unnest(${sql.param([...new Set(requestIds)])}::bigint[])`;
  return sql`batch AS MATERIALIZED (
  SELECT r.id AS request_id, r.settled_at, r.reviewed_at, r.category
  FROM ${ids} u(id) CROSS JOIN LATERAL (SELECT r.id, r.settled_at, r.reviewed_at, r.category FROM requests r WHERE r.id = u.id OFFSET 0) r
)`;
}

/** Whether candidate `c` passed its hard checks: under `checkVersion`, else its latest check. */
export function checkPassedSql(checkVersion: string | undefined): SQL {
  return checkVersion === undefined
    ? sql`SELECT k.passed FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1`
    : sql`SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${checkVersion}`;
}

/** The `qualifies` (may be picked or win) and `may_lose` columns, from check_passed, passes and the review verdict. */
export function qualifiesSql(p: Pick<SelectionSqlParams, 'reviewAcceptOverridesThresholds' | 'loserMayFailChecks'>): SQL {
  return sql`coalesce(verdict <> 'reject', true)
           AND ((coalesce(verdict = 'accept', false) AND ${p.reviewAcceptOverridesThresholds}::boolean) OR (check_passed AND passes)) AS qualifies,
         (check_passed OR ${p.loserMayFailChecks}::boolean) AS may_lose`;
}

/**
 * From the `edge` CTE (request_id, chosen_id, rejected_id, wseed, lseed, ws, ls, n, total) to
 * `kept`: each request's edges ranked by total margin (ties to the lower seeds), then taken in
 * that order within maxPairs and maxUses per candidate. Every selection rule ends with it.
 */
export function takeWithinUsesCtes(p: Pick<SelectionSqlParams, 'maxPairs' | 'maxUses'>): SQL {
  return sql`ranked0 AS (
  SELECT e.*, row_number() OVER (PARTITION BY e.request_id ORDER BY e.total DESC, e.wseed, e.lseed) AS rn,
         count(*) OVER (PARTITION BY e.request_id, e.chosen_id) AS wc,
         count(*) OVER (PARTITION BY e.request_id, e.rejected_id) AS lc
  FROM edge e
),
-- crowded: some candidate might be in more than maxUses edges (its uses ≤ the most edges any
-- candidate wins plus the most any loses). Elsewhere the greedy simply takes the first maxPairs;
-- only crowded requests walk the recursive greedy.
ranked AS MATERIALIZED (
  SELECT r.*, max(r.wc) OVER (PARTITION BY r.request_id) + max(r.lc) OVER (PARTITION BY r.request_id) > ${p.maxUses}::int AS crowded
  FROM ranked0 r
),
lists AS (
  SELECT request_id, array_agg(chosen_id ORDER BY rn) AS ws, array_agg(rejected_id ORDER BY rn) AS ls
  FROM ranked WHERE crowded GROUP BY request_id
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
  SELECT r.request_id, r.chosen_id, r.rejected_id, ${MARGINS} AS margins, r.total, r.rn AS rank
  FROM ranked r
  WHERE NOT r.crowded AND r.rn <= ${p.maxPairs}::int
  UNION ALL
  SELECT r.request_id, r.chosen_id, r.rejected_id, ${MARGINS}, r.total,
         row_number() OVER (PARTITION BY r.request_id ORDER BY r.rn)
  FROM greedy g JOIN ranked r ON r.request_id = g.request_id AND r.rn = g.step
  WHERE g.took
)`;
}

function selectionCtes(o: SelectBatchInput): SQL {
  const p = o.params;
  const rule = o.rule ?? dominanceRuleSql(p);
  const vals = o.thresholds ? sql`, jj.raw_scores || coalesce(jj.aggregate, '{}'::jsonb) AS vals` : sql``;
  return sql`
WITH RECURSIVE
${batchCte(o.requestIds)},
cand AS MATERIALIZED (
  SELECT c.id, c.request_id, c.seed, j.s, cardinality(j.s) AS n, ${COLS},
         coalesce(ck.passed, false) AS check_passed, ${passesSql(o.thresholds)} AS passes, rv.verdict${rule.candCols}
  FROM batch b
  CROSS JOIN LATERAL (SELECT c.id, c.request_id, c.seed FROM candidates c WHERE c.request_id = b.request_id OFFSET 0) c
  JOIN LATERAL (
    SELECT jj.scores::float8[] AS s, jj.passes_thresholds${vals}${rule.judgmentCols} FROM judgments jj
    WHERE jj.candidate_id = c.id AND jj.rubric = ${o.judge.rubric} AND jj.judge_model = ${o.judge.model} AND jj.prompt_hash = ${o.judge.promptHash}
      AND jj.ok AND jj.scores IS NOT NULL
    ORDER BY jj.id DESC LIMIT 1
  ) j ON cardinality(j.s) BETWEEN 1 AND ${AXES}
  LEFT JOIN LATERAL (${checkPassedSql(o.checkVersion)}) ck ON true
  LEFT JOIN LATERAL (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) rv ON true
),
q AS MATERIALIZED (
  SELECT cand.*,
         ${qualifiesSql(p)}${rule.qCols}
  FROM cand
),
pick AS MATERIALIZED (${rule.pick}),
edge AS (${rule.edge}),
${takeWithinUsesCtes(p)}`;
}

/** The version columns' values, in the order (rubric, judge_model, prompt_hash). */
const versionValues = (o: SelectBatchInput) => sql`${o.judge.rubric}, ${o.judge.model}, ${o.judge.promptHash}`;
const sameVersion = (alias: string, o: SelectBatchInput) =>
  sql`${sql.raw(alias)}.rule_version = ${o.ruleVersion} AND ${sql.raw(alias)}.rubric = ${o.judge.rubric}
      AND ${sql.raw(alias)}.judge_model = ${o.judge.model} AND ${sql.raw(alias)}.prompt_hash = ${o.judge.promptHash}`;

/** The write half: upserts, stale pairs, request stamps, and the counts (after CTEs batch, pick(request_id, id, geo) and kept; select-ensemble-v1 shares it). */
export function writeSelection(o: SelectBatchInput): SQL {
  const p = o.params;
  const paramsJson = JSON.stringify(o.rowParams ?? { ...p, ...o.storedParams });
  return sql`,
sel_up AS (
  INSERT INTO selections AS t (request_id, candidate_id, rule_version, rubric, judge_model, prompt_hash, params, score)
  SELECT b.request_id, pk.id, ${o.ruleVersion}, ${versionValues(o)}, ${paramsJson}::jsonb, pk.score
  FROM batch b LEFT JOIN pick pk ON pk.request_id = b.request_id
  ON CONFLICT (request_id, rule_version, rubric, judge_model, prompt_hash) DO UPDATE
    SET candidate_id = EXCLUDED.candidate_id, params = EXCLUDED.params, score = EXCLUDED.score
    WHERE (t.candidate_id, t.params, t.score) IS DISTINCT FROM (EXCLUDED.candidate_id, EXCLUDED.params, EXCLUDED.score)
),
pair_up AS (
  INSERT INTO pairs AS t (request_id, chosen_id, rejected_id, rule_version, rubric, judge_model, prompt_hash, params, margins, total_margin, rank)
  SELECT request_id, chosen_id, rejected_id, ${o.ruleVersion}, ${versionValues(o)}, ${paramsJson}::jsonb, margins::real[], total, rank
  FROM kept
  ON CONFLICT (chosen_id, rejected_id, rule_version, rubric, judge_model, prompt_hash) DO UPDATE
    SET request_id = EXCLUDED.request_id, params = EXCLUDED.params, margins = EXCLUDED.margins,
        total_margin = EXCLUDED.total_margin, rank = EXCLUDED.rank
    WHERE (t.request_id, t.params, t.margins, t.total_margin, t.rank)
      IS DISTINCT FROM (EXCLUDED.request_id, EXCLUDED.params, EXCLUDED.margins, EXCLUDED.total_margin, EXCLUDED.rank)
),
-- The batch's stored pairs, fetched per request through pairs_request_idx (OFFSET 0 keeps the
-- lateral a per-request index probe rather than a pass over the whole pairs table).
stale AS (
  SELECT pr.id, EXISTS (SELECT 1 FROM reviews v WHERE v.pair_id = pr.id) AS reviewed
  FROM batch b
  CROSS JOIN LATERAL (
    SELECT p.id, p.chosen_id, p.rejected_id FROM pairs p
    WHERE p.request_id = b.request_id AND ${sameVersion('p', o)} OFFSET 0
  ) pr
  WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.chosen_id = pr.chosen_id AND k.rejected_id = pr.rejected_id)
),
dropped AS (DELETE FROM pairs WHERE id = ANY(ARRAY(SELECT id FROM stale WHERE NOT reviewed))),
demoted AS (UPDATE pairs SET rank = 0 WHERE id = ANY(ARRAY(SELECT id FROM stale WHERE reviewed)) AND rank <> 0)${o.stamp === false ? sql`` : sql`,`}
-- selected_at = now() (or the settled_at / reviewed_at read under the lock, when later: this
-- statement saw them), unless the request settled again while this statement ran (its row now
-- differs from the snapshot the selection read): then the settled_at that was read, so the
-- request stays due (settled_at > selected_at) and the next run sees the late change.
${o.stamp === false ? sql`` : sql`stamped AS (
  UPDATE requests r
     SET selected_at = CASE WHEN r.settled_at IS DISTINCT FROM b.settled_at THEN b.settled_at
                            ELSE greatest(now(), b.settled_at, b.reviewed_at) END,
         status = CASE WHEN r.status IN ('settled', 'selected') THEN 'selected' ELSE r.status END
  FROM batch b
  WHERE r.id = b.request_id AND r.id = ANY(ARRAY(SELECT request_id FROM batch))
)`}
SELECT (SELECT count(*) FROM batch)::int AS requests,
       (SELECT count(*) FROM pick)::int AS picks,
       (SELECT count(*) FROM kept)::int AS pairs`;
}

/** One difference `select --dry-run` finds between the stored selection and what a select would write. */
export interface SelectionChange {
  kind: 'pick' | 'pair_gained' | 'pair_lost';
  requestId: number;
  category: string;
  /** pick: the stored pick (null: none); pairs: the chosen candidate. */
  a: number | null;
  /** pick: the new pick (null: none); pairs: the rejected candidate. */
  b: number | null;
}

/** Per kind and category, how many changes a batch's dry run finds, with the first `limit` of them. */
export interface SelectionChangeGroup {
  kind: SelectionChange['kind'];
  category: string;
  n: number;
  /** Changes with `a` set (pick: a stored pick was there). */
  withA: number;
  /** Changes with `b` set (pick: there is a new pick). */
  withB: number;
  /** The first `limit` changes, by request id. */
  first: SelectionChange[];
}

/**
 * The differences one batch's selection would make, in one read-only statement: the same read
 * as selectBatch (so the prediction is exact), compared with the stored selection of the same
 * rule and judge version (pairs of rank 0 count as not selected), counted in Postgres per kind
 * and category with the first `limit` changes of each. Writes nothing.
 */
export async function selectBatchDryRun(db: Db, o: SelectBatchInput, limit: number): Promise<SelectionChangeGroup[]> {
  if (o.requestIds.length === 0) return [];
  const r = await db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL jit = off`);
    await tx.execute(sql`SET LOCAL enable_nestloop = off`);
    return rows<{ kind: SelectionChange['kind']; category: string; n: number; with_a: number; with_b: number; first: (number | string | null)[][] | null }>(
      tx as unknown as Db,
      sql`${selectionCtes(o)},
old_pick AS (
  SELECT b.request_id, os.candidate_id
  FROM batch b CROSS JOIN LATERAL (SELECT s.candidate_id FROM selections s WHERE s.request_id = b.request_id AND ${sameVersion('s', o)} OFFSET 0) os
),
old_pairs AS (
  SELECT b.request_id, op.chosen_id, op.rejected_id
  FROM batch b CROSS JOIN LATERAL (
    SELECT p.chosen_id, p.rejected_id FROM pairs p WHERE p.request_id = b.request_id AND ${sameVersion('p', o)} AND p.rank > 0 OFFSET 0
  ) op
),
changes AS (
  SELECT 'pick' AS kind, b.request_id, b.category, op.candidate_id AS a, pk.id AS b
  FROM batch b LEFT JOIN old_pick op ON op.request_id = b.request_id LEFT JOIN pick pk ON pk.request_id = b.request_id
  WHERE op.candidate_id IS DISTINCT FROM pk.id
  UNION ALL
  SELECT 'pair_gained', k.request_id, b.category, k.chosen_id, k.rejected_id
  FROM kept k JOIN batch b ON b.request_id = k.request_id
  WHERE NOT EXISTS (SELECT 1 FROM old_pairs o WHERE o.chosen_id = k.chosen_id AND o.rejected_id = k.rejected_id)
  UNION ALL
  SELECT 'pair_lost', o.request_id, b.category, o.chosen_id, o.rejected_id
  FROM old_pairs o JOIN batch b ON b.request_id = o.request_id
  WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.chosen_id = o.chosen_id AND k.rejected_id = o.rejected_id)
)
SELECT kind, category, count(*)::int AS n, count(a)::int AS with_a, count(b)::int AS with_b,
       (array_agg(ARRAY[request_id, a, b] ORDER BY request_id, a, b))[1:${Math.max(0, Math.trunc(limit))}::int] AS first
FROM changes GROUP BY kind, category`,
    );
  });
  const id = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return r.map((x) => ({
    kind: x.kind,
    category: x.category,
    n: Number(x.n),
    withA: Number(x.with_a),
    withB: Number(x.with_b),
    first: (x.first ?? []).map((t) => ({ kind: x.kind, requestId: Number(t[0]), category: x.category, a: id(t[1]), b: id(t[2]) })),
  }));
}

const PENDING = sql`status IN ('settled', 'selected') AND (selected_at IS NULL OR settled_at > selected_at OR reviewed_at > selected_at)`;
const SELECTABLE = sql`status IN ('settled', 'selected')`;

/** Which requests a run without explicit ids covers. */
export interface PendingFilter {
  /** Every settled or selected request, not only the due ones. */
  all?: boolean;
  /**
   * Also due: a settled or selected request with no selections row of one of these rule
   * versions under this judge version (a rule run for the first time, or one the select stage
   * does not run).
   */
  missing?: { ruleVersions: readonly string[]; judge: { rubric: string; model: string; promptHash: string } };
}

function pendingWhere(f: PendingFilter): SQL {
  if (f.all) return SELECTABLE;
  const m = f.missing;
  if (!m || m.ruleVersions.length === 0) return PENDING;
  const lacks = sql.join(
    m.ruleVersions.map(
      (v) => sql`NOT EXISTS (SELECT 1 FROM selections s WHERE s.request_id = requests.id AND s.rule_version = ${v}
                  AND s.rubric = ${m.judge.rubric} AND s.judge_model = ${m.judge.model} AND s.prompt_hash = ${m.judge.promptHash})`,
    ),
    sql` OR `,
  );
  return sql`(${PENDING} OR (${SELECTABLE} AND (${lacks})))`;
}

/**
 * How many requests are due: settled or reviewed since their last selection (or never selected); with
 * `all`, every settled or selected request (after a change of parameters); with `missing`, also those
 * lacking a row of one of the rule versions.
 */
export async function countPendingSelection(db: Db, opts: PendingFilter = {}): Promise<number> {
  const [r] = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM requests WHERE ${pendingWhere(opts)}`);
  return Number(r?.n ?? 0);
}

/** The next `limit` due request ids above `afterId`, ascending (keyset paging: bounded memory). */
export async function nextPendingSelection(db: Db, afterId: number, limit: number, opts: PendingFilter = {}): Promise<number[]> {
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM requests WHERE ${pendingWhere(opts)} AND id > ${afterId} ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}
