/**
 * Browsing candidates for the dashboard: every filter the reviewer can set, as one parameterised
 * statement, with keyset pagination (ORDER BY id DESC, cursor = the last id seen) so that page
 * 1000 costs what page 1 costs. The newest check, the newest judgment of the rubric and the
 * newest review of each candidate come from LATERAL lookups on their (candidate_id, …) indexes.
 */
import { sql, type SQL } from 'drizzle-orm';
import { sameJudgeVersion, type JudgeVersionKey } from './judge-version.sql.ts';
import { rows, type Db } from '../client.ts';
import { browserDisagreesCondition } from './browser-faces.repository.ts';

export const AXES = ['instruction', 'preservation', 'quality'] as const;
export type Axis = (typeof AXES)[number];

/** What the browse page can filter on. Every field optional except the judge version and page size. */
export interface BrowseFilter {
  /** The judge version whose judgments and picks are shown. */
  judge: JudgeVersionKey;
  /** Candidate status: generated | checked | judged | rejected | failed. */
  status?: string[];
  faceStatus?: string[];
  changeStatus?: string[];
  /** The newest check passed (true) or failed (false). */
  checkPassed?: boolean;
  /** The newest judgment passes every threshold of the rubric. */
  passesThresholds?: boolean;
  category?: string;
  /** Substring of the instruction, case-insensitive (matched literally: % and _ are escaped). */
  q?: string;
  /** Canonical axis ranges on 0–10, inclusive. */
  axisMin?: Partial<Record<Axis, number>>;
  axisMax?: Partial<Record<Axis, number>>;
  iouMin?: number;
  iouMax?: number;
  /** 'yes' / 'no' (any review or none), or the newest verdict. */
  reviewed?: 'yes' | 'no' | 'accept' | 'reject' | 'flag';
  requestId?: number;
  /** The reviewer's browser detector (MediaPipe) disagrees with the server on the candidate or its source. */
  browserDisagrees?: boolean;
  /** Only candidates whose source is in the near-duplicate group of this source (itself included). */
  nearDupsOf?: number;
}

export interface BrowseRow {
  id: number;
  request_id: number;
  seed: number;
  status: string;
  width: number;
  height: number;
  instruction: string;
  category: string;
  source_id: number;
  face_status: string | null;
  face_min_iou: number | null;
  change_status: string | null;
  check_passed: boolean | null;
  judged_ok: boolean | null;
  axis_instruction: number | null;
  axis_preservation: number | null;
  axis_quality: number | null;
  passes_thresholds: boolean | null;
  verdict: string | null;
  reviewer: string | null;
  note: string | null;
  picked: boolean;
}

export interface BrowsePage {
  rows: BrowseRow[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: number | null;
}

/** Escapes a user string for ILIKE so that it matches literally (backslash is the escape). */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}

const lateralJoins = (judge: JudgeVersionKey) => sql`
  JOIN requests r ON r.id = c.request_id
  LEFT JOIN LATERAL (
    SELECT k.face_status, k.face_min_iou, k.change_status, k.passed
    FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1
  ) ck ON true
  LEFT JOIN LATERAL (
    SELECT jj.ok, jj.axis_instruction, jj.axis_preservation, jj.axis_quality, jj.passes_thresholds
    FROM judgments jj WHERE jj.candidate_id = c.id AND ${sameJudgeVersion('jj', judge)} ORDER BY jj.id DESC LIMIT 1
  ) j ON true
  LEFT JOIN LATERAL (
    SELECT v.verdict, v.reviewer, v.note FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1
  ) rv ON true`;

/**
 * Runs `fn` in a transaction with JIT off. A selective filter makes the planner expect to scan
 * the whole table behind the LIMIT, which crosses the JIT cost threshold, and compiling costs far
 * more than the keyset scan itself (test/bench/README.md, browse).
 */
async function withoutJit<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL jit = off`);
    return fn(tx as unknown as Db);
  });
}

/** The WHERE conditions of a filter (without the cursor), joined with AND. */
function conditions(f: BrowseFilter): SQL {
  const w: SQL[] = [sql`true`];
  if (f.status?.length) w.push(sql`c.status IN (${sql.join(f.status.map((s) => sql`${s}`), sql`, `)})`);
  if (f.faceStatus?.length) w.push(sql`ck.face_status IN (${sql.join(f.faceStatus.map((s) => sql`${s}`), sql`, `)})`);
  if (f.changeStatus?.length) w.push(sql`ck.change_status IN (${sql.join(f.changeStatus.map((s) => sql`${s}`), sql`, `)})`);
  if (f.checkPassed !== undefined) w.push(sql`ck.passed = ${f.checkPassed}`);
  if (f.passesThresholds !== undefined) w.push(sql`j.passes_thresholds = ${f.passesThresholds}`);
  if (f.category !== undefined) w.push(sql`r.category = ${f.category}`);
  if (f.q) w.push(sql`r.instruction ILIKE ${likePattern(f.q)}`);
  for (const axis of AXES) {
    const col = sql.raw(`j.axis_${axis}`);
    const min = f.axisMin?.[axis];
    const max = f.axisMax?.[axis];
    if (min !== undefined) w.push(sql`${col} >= ${min}`);
    if (max !== undefined) w.push(sql`${col} <= ${max}`);
  }
  if (f.iouMin !== undefined) w.push(sql`ck.face_min_iou >= ${f.iouMin}`);
  if (f.iouMax !== undefined) w.push(sql`ck.face_min_iou <= ${f.iouMax}`);
  if (f.reviewed === 'yes') w.push(sql`rv.verdict IS NOT NULL`);
  else if (f.reviewed === 'no') w.push(sql`rv.verdict IS NULL`);
  else if (f.reviewed) w.push(sql`rv.verdict = ${f.reviewed}`);
  if (f.nearDupsOf !== undefined) {
    w.push(sql`r.source_id IN (SELECT s2.id FROM sources s1 JOIN sources s2 ON s2.id = s1.id OR s2.near_dup_group = s1.near_dup_group WHERE s1.id = ${f.nearDupsOf})`);
  }
  if (f.requestId !== undefined) w.push(sql`c.request_id = ${f.requestId}`);
  if (f.browserDisagrees === true) w.push(browserDisagreesCondition);
  else if (f.browserDisagrees === false) w.push(sql`NOT ${browserDisagreesCondition}`);
  return sql.join(w, sql` AND `);
}

/** One page of candidates, newest first: ids below `cursor` (all when null), at most `limit`. */
export async function browseCandidates(db: Db, f: BrowseFilter, page: { cursor?: number | null; limit: number }): Promise<BrowsePage> {
  const limit = Math.max(1, Math.min(500, Math.trunc(page.limit)));
  const cursor = page.cursor ?? null;
  const found = await withoutJit(db, (tx) => rows<BrowseRow & Record<string, unknown>>(
    tx,
    sql`SELECT c.id, c.request_id, c.seed, c.status, c.width, c.height,
               r.instruction, r.category, r.source_id,
               ck.face_status, ck.face_min_iou, ck.change_status, ck.passed AS check_passed,
               j.ok AS judged_ok, j.axis_instruction, j.axis_preservation, j.axis_quality, j.passes_thresholds,
               rv.verdict, rv.reviewer, rv.note,
               EXISTS (SELECT 1 FROM selections s
                       WHERE s.request_id = c.request_id AND s.candidate_id = c.id AND ${sameJudgeVersion('s', f.judge)}) AS picked
        FROM candidates c
        ${lateralJoins(f.judge)}
        WHERE ${cursor === null ? sql`true` : sql`c.id < ${cursor}`} AND ${conditions(f)}
        ORDER BY c.id DESC
        LIMIT ${limit + 1}`,
  ));
  const more = found.length > limit;
  const out = more ? found.slice(0, limit) : found;
  return { rows: out, nextCursor: more ? out[out.length - 1]!.id : null };
}

/** Ids of candidates matching a filter, newest first, at most `cap` + 1 (to tell "more than cap"). */
export async function matchingCandidateIds(db: Db, f: BrowseFilter, cap: number): Promise<number[]> {
  const found = await withoutJit(db, (tx) =>
    rows<{ id: number }>(
      tx,
      sql`SELECT c.id FROM candidates c ${lateralJoins(f.judge)}
          WHERE ${conditions(f)} ORDER BY c.id DESC LIMIT ${Math.trunc(cap) + 1}`,
    ),
  );
  return found.map((r) => Number(r.id));
}

/** Distinct request categories (for the filter's drop-down), most frequent first. */
export async function listCategories(db: Db, limit = 200): Promise<{ category: string; n: number }[]> {
  return rows<{ category: string; n: number }>(
    db,
    sql`SELECT category, count(*)::int AS n FROM requests GROUP BY category ORDER BY n DESC, category LIMIT ${limit}`,
  );
}

export interface Histogram {
  /** Lower edge of each bin; bins are `width` wide, the last one closed on the right. */
  edges: number[];
  counts: number[];
  width: number;
}

/**
 * Histograms of the canonical axes (0–10, `bins` bins) over each candidate's newest successful
 * judgment of the rubric, and of the newest check's face IoU (0–1).
 */
export async function scoreHistograms(db: Db, judge: JudgeVersionKey, bins = 20): Promise<Record<Axis | 'face_iou', Histogram>> {
  const b = Math.max(1, Math.min(100, Math.trunc(bins)));
  const found = await rows<{ axis: string; bin: number; n: number }>(
    db,
    sql`WITH j AS (
          SELECT DISTINCT ON (candidate_id) axis_instruction, axis_preservation, axis_quality
          FROM judgments WHERE ${sameJudgeVersion(null, judge)} AND ok ORDER BY candidate_id, id DESC
        ), k AS (
          SELECT DISTINCT ON (candidate_id) face_min_iou FROM checks ORDER BY candidate_id, id DESC
        )
        SELECT axis, least(width_bucket(v, 0, ${10}::float8, ${b}), ${b}) AS bin, count(*)::int AS n
        FROM j CROSS JOIN LATERAL (VALUES ('instruction', axis_instruction::float8), ('preservation', axis_preservation::float8),
                                          ('quality', axis_quality::float8)) AS x(axis, v)
        WHERE v IS NOT NULL GROUP BY 1, 2
        UNION ALL
        SELECT 'face_iou', least(width_bucket(face_min_iou::float8, 0, 1, ${b}), ${b}), count(*)::int
        FROM k WHERE face_min_iou IS NOT NULL GROUP BY 2`,
  );
  const make = (max: number): Histogram => ({
    edges: Array.from({ length: b }, (_, i) => (i * max) / b),
    counts: new Array<number>(b).fill(0),
    width: max / b,
  });
  const out = { instruction: make(10), preservation: make(10), quality: make(10), face_iou: make(1) };
  for (const r of found) {
    const h = out[r.axis as keyof typeof out];
    const i = Math.max(1, Math.min(b, Number(r.bin))) - 1;
    h.counts[i]! += Number(r.n);
  }
  return out;
}

/** Candidates generated, checked and judged per minute over the last `minutes` minutes (zeros filled in). */
export async function throughputPerMinute(
  db: Db,
  minutes = 60,
): Promise<{ minute: string; generated: number; checked: number; judged: number }[]> {
  const m = Math.max(1, Math.min(24 * 60, Math.trunc(minutes)));
  return rows(
    db,
    sql`WITH span AS (SELECT date_trunc('minute', now()) - make_interval(mins => ${m - 1}) AS t0),
        ev AS (
          SELECT date_trunc('minute', generated_at) AS t, 1 AS g, 0 AS c, 0 AS j FROM candidates WHERE generated_at >= (SELECT t0 FROM span)
          UNION ALL
          SELECT date_trunc('minute', checked_at), 0, 1, 0 FROM candidates WHERE checked_at >= (SELECT t0 FROM span)
          UNION ALL
          SELECT date_trunc('minute', judged_at), 0, 0, 1 FROM candidates WHERE judged_at >= (SELECT t0 FROM span)
        ),
        agg AS (SELECT t, sum(g)::int AS g, sum(c)::int AS c, sum(j)::int AS j FROM ev GROUP BY t),
        mins AS (SELECT generate_series((SELECT t0 FROM span), date_trunc('minute', now()), interval '1 minute') AS t)
        SELECT to_char(mins.t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') AS minute,
               coalesce(agg.g, 0) AS generated, coalesce(agg.c, 0) AS checked, coalesce(agg.j, 0) AS judged
        FROM mins LEFT JOIN agg ON agg.t = mins.t ORDER BY mins.t`,
  );
}
