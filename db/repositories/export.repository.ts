/**
 * The SQL of the export: streams SFT picks and DPO pairs in key order by keyset pagination (one
 * page in memory at a time, whatever the export size), and records exports and their shards.
 *
 * Review rules (the latest review per subject wins):
 * - SFT: a sample whose candidate's latest review is `reject` is never exported; with
 *   `reviewedOnly`, only candidates whose latest review is `accept` are.
 * - DPO: a pair whose own latest review is `reject` is never exported; a pair whose own latest
 *   review is `accept` always is; otherwise a pair whose chosen candidate's latest review is
 *   `reject` is dropped. With `reviewedOnly`, a pair needs its own `accept`, or (no pair review)
 *   an `accept` on the chosen candidate and any review on the rejected one.
 *
 * Versions: only the selection and pairs of one rule version and one judge version (rubric,
 * judge model, prompt hash) are read, with the judgments of that judge version. A request that is
 * not settled and selected (new candidates, a recheck or rejudge under way, or settled again
 * since its selection) is left out: its selection is stale until it is selected again.
 */
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { exportShards, exports } from '../schema/index.ts';

export type Axis = 'instruction' | 'preservation' | 'quality';

export interface ExportFilter {
  rubric: string;
  judgeModel: string;
  promptHash: string;
  ruleVersion: string;
  /** The judge version whose judgments give the samples' axes when the rows are another's (an ensemble's: its first judge). Default: the rows' own. */
  axesFrom?: { rubric: string; judgeModel: string; promptHash: string };
  reviewedOnly: boolean;
  /** Minimum canonical axis (0–10) of the SFT edit / the DPO chosen edit. */
  minAxis: Partial<Record<Axis, number>>;
}

interface Common extends Record<string, unknown> {
  request_id: number;
  instruction: string;
  category: string;
  source_sha256: string;
  /** The source's near-duplicate group (its smallest member sha256; its own when alone): what the split hashes. */
  near_dup_group: string;
  source_blob: string;
  source_width: number;
  source_height: number;
  rule_version: string;
  face_status: string | null;
  face_min_iou: number | null;
  face_count: number | null;
  face_threshold: number | null;
  change_status: string | null;
  changed_fraction: number | null;
  largest_component_share: number | null;
}

export interface JudgedSide {
  judge_model: string;
  prompt_hash: string;
  raw_scores: Record<string, unknown> | null;
  axis_instruction: number | null;
  axis_preservation: number | null;
  axis_quality: number | null;
}

export interface SftRow extends Common, JudgedSide {
  candidate_id: number;
  seed: number;
  edit_sha256: string;
  edit_blob: string;
  edit_width: number;
  edit_height: number;
  generator: string;
  score: number | null;
  review: string | null;
}

export interface DpoRow extends Common {
  pair_id: number;
  margins: number[];
  total_margin: number;
  rank: number;
  chosen_id: number;
  chosen_seed: number;
  chosen_sha256: string;
  chosen_blob: string;
  chosen_width: number;
  chosen_height: number;
  rejected_id: number;
  rejected_seed: number;
  rejected_sha256: string;
  rejected_blob: string;
  rejected_width: number;
  rejected_height: number;
  chosen: JudgedSide;
  rejected: JudgedSide;
  review: string | null;
}

const PAGE = 500; // requests per keyset page

/**
 * The rule version of the newest SFT selection / DPO pair for `rubric` (and judge model and prompt
 * hash when given), the first of `prefer` that has one coming first; null when there is none.
 */
export async function latestRuleVersion(
  db: Db,
  kind: 'sft' | 'dpo',
  rubric: string,
  judge: { model?: string; promptHash?: string } = {},
  /** Rule versions preferred in this order when they have rows (SELECT_RULES); the others after them. */
  prefer: readonly string[] = [],
): Promise<{ ruleVersion: string; judgeModel: string; promptHash: string } | null> {
  const table = sql.raw(kind === 'sft' ? 'selections' : 'pairs');
  const r = await rows<{ rule_version: string; judge_model: string; prompt_hash: string }>(
    db,
    sql`SELECT rule_version, judge_model, prompt_hash FROM ${table}
        WHERE rubric = ${rubric} AND (${judge.model ?? null}::text IS NULL OR judge_model = ${judge.model ?? null})
          AND (${judge.promptHash ?? null}::text IS NULL OR prompt_hash = ${judge.promptHash ?? null})
        ORDER BY array_position(${sql.param(prefer)}::text[], rule_version) NULLS LAST, created_at DESC, id DESC LIMIT 1`,
  );
  return r[0] ? { ruleVersion: r[0].rule_version, judgeModel: r[0].judge_model, promptHash: r[0].prompt_hash } : null;
}

const judged = (alias: string, candidate: SQL, f: ExportFilter, v = f.axesFrom ?? f) => sql`
  JOIN LATERAL (
    SELECT judge_model, prompt_hash, raw_scores, axis_instruction, axis_preservation, axis_quality
    FROM judgments WHERE candidate_id = ${candidate} AND rubric = ${v.rubric} AND judge_model = ${v.judgeModel}
      AND prompt_hash = ${v.promptHash} AND ok
    ORDER BY id DESC LIMIT 1
  ) ${sql.raw(alias)} ON true`;

/** The request is settled and selected since (its selection is current). */
const current = sql`r.status = 'selected' AND coalesce(r.settled_at <= r.selected_at, true)`;

const checked = (candidate: SQL) => sql`
  LEFT JOIN LATERAL (
    SELECT face_status, face_min_iou, face_count, face_threshold, change_status, changed_fraction, largest_component_share
    FROM checks WHERE candidate_id = ${candidate} ORDER BY id DESC LIMIT 1
  ) ck ON true`;

const reviewOf = (alias: string, column: 'candidate_id' | 'pair_id', subject: SQL) => sql`
  LEFT JOIN LATERAL (
    SELECT verdict FROM reviews WHERE ${sql.raw(column)} = ${subject} ORDER BY id DESC LIMIT 1
  ) ${sql.raw(alias)} ON true`;

function minAxisSql(alias: string, minAxis: Partial<Record<Axis, number>>): SQL {
  const parts: SQL[] = [];
  for (const axis of ['instruction', 'preservation', 'quality'] as const) {
    const min = minAxis[axis];
    if (min !== undefined) parts.push(sql` AND ${sql.raw(`${alias}.axis_${axis}`)} >= ${min}`);
  }
  return sql.join(parts, sql``);
}

function sftFrom(f: ExportFilter): SQL {
  return sql`
    FROM selections sel
    JOIN requests r ON r.id = sel.request_id
    JOIN sources s ON s.id = r.source_id
    JOIN candidates c ON c.id = sel.candidate_id
    ${judged('j', sql`c.id`, f)}
    ${checked(sql`c.id`)}
    ${reviewOf('rv', 'candidate_id', sql`c.id`)}
    WHERE sel.candidate_id IS NOT NULL AND sel.rubric = ${f.rubric} AND sel.rule_version = ${f.ruleVersion}
      AND sel.judge_model = ${f.judgeModel} AND sel.prompt_hash = ${f.promptHash} AND ${current}
      AND rv.verdict IS DISTINCT FROM 'reject'
      ${f.reviewedOnly ? sql`AND rv.verdict = 'accept'` : sql``}
      ${minAxisSql('j', f.minAxis)}`;
}

function dpoFrom(f: ExportFilter): SQL {
  const reviewed = f.reviewedOnly
    ? sql`AND (rp.verdict = 'accept' OR (rp.verdict IS NULL AND rw.verdict = 'accept' AND rl.verdict IS NOT NULL))`
    : sql``;
  return sql`
    FROM pairs p
    JOIN requests r ON r.id = p.request_id
    JOIN sources s ON s.id = r.source_id
    JOIN candidates cw ON cw.id = p.chosen_id
    JOIN candidates cl ON cl.id = p.rejected_id
    ${judged('jw', sql`cw.id`, f)}
    ${judged('jl', sql`cl.id`, f)}
    ${checked(sql`cw.id`)}
    ${reviewOf('rp', 'pair_id', sql`p.id`)}
    ${reviewOf('rw', 'candidate_id', sql`cw.id`)}
    ${reviewOf('rl', 'candidate_id', sql`cl.id`)}
    WHERE p.rubric = ${f.rubric} AND p.rule_version = ${f.ruleVersion}
      AND p.judge_model = ${f.judgeModel} AND p.prompt_hash = ${f.promptHash} AND ${current}
      -- rank 0: a pair the rule no longer selects, kept only because a review points at it
      AND (p.rank > 0 OR rp.verdict = 'accept')
      AND rp.verdict IS DISTINCT FROM 'reject'
      AND (rp.verdict = 'accept' OR rw.verdict IS DISTINCT FROM 'reject')
      ${reviewed}
      ${minAxisSql('jw', f.minAxis)}`;
}

/** How many samples the filter selects (for progress). */
export async function countExportSamples(db: Db, kind: 'sft' | 'dpo', f: ExportFilter): Promise<number> {
  const r = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n ${kind === 'sft' ? sftFrom(f) : dpoFrom(f)}`);
  return Number(r[0]?.n ?? 0);
}

const COMMON_COLS = sql`
  r.id AS request_id, r.instruction, r.category,
  s.sha256 AS source_sha256, coalesce(s.near_dup_group, s.sha256) AS near_dup_group, s.blob AS source_blob, s.width AS source_width, s.height AS source_height,
  ck.face_status, ck.face_min_iou, ck.face_count, ck.face_threshold,
  ck.change_status, ck.changed_fraction, ck.largest_component_share`;

/**
 * The request-id range of the next page: the `pageSize`-th request id after `after` among the
 * rows of `table` for the rubric and rule version, or null at the end. Paging on the bare table
 * first keeps each page's join bounded (a plain keyset over the filtered join makes Postgres
 * sort the whole remainder for every page).
 */
async function nextPageEnd(db: Db, table: 'selections' | 'pairs', f: ExportFilter, after: number, pageSize: number): Promise<number | null> {
  const extra = table === 'selections' ? sql`AND candidate_id IS NOT NULL` : sql``;
  const r = await rows<{ last: number | null }>(
    db,
    sql`SELECT max(request_id) AS last FROM (
          SELECT request_id FROM ${sql.raw(table)}
          WHERE rubric = ${f.rubric} AND rule_version = ${f.ruleVersion} AND judge_model = ${f.judgeModel} AND prompt_hash = ${f.promptHash}
            AND request_id > ${after} ${extra}
          ORDER BY request_id LIMIT ${pageSize}) page`,
  );
  const last = r[0]?.last;
  return last === null || last === undefined ? null : Number(last);
}

/**
 * Pages of rows by request-id range; the next page's query runs while the caller consumes the
 * current one (two pages in memory at most).
 */
async function* paged<T>(db: Db, table: 'selections' | 'pairs', f: ExportFilter, pageSize: number, query: (after: number, last: number) => SQL, map: (r: Record<string, unknown>) => T): AsyncGenerator<T> {
  const fetchPage = async (after: number) => {
    const last = await nextPageEnd(db, table, f, after, pageSize);
    return last === null ? null : { last, rows: await rows<Record<string, unknown>>(db, query(after, last)) };
  };
  let next = fetchPage(-1);
  for (;;) {
    const page = await next;
    if (!page) return;
    next = fetchPage(page.last);
    next.catch(() => {}); // surfaced when awaited
    for (const r of page.rows) yield map(r);
  }
}

/**
 * The page's range on `r.id` too (implied by the join, so the rows are the same): without it
 * Postgres does not carry the range over to `requests`, and plans each page as a hash join over a
 * full scan of `requests` and `candidates` (test/bench/README.md, export).
 */
const requestRange = (after: number, last: number) => sql`AND r.id > ${after} AND r.id <= ${last}`;

/** SFT picks in key order (request id), a page of requests at a time. */
export function streamSftRows(db: Db, f: ExportFilter, pageSize = PAGE): AsyncGenerator<SftRow> {
  return paged(
    db,
    'selections',
    f,
    pageSize,
    (after, last) => sql`SELECT ${COMMON_COLS}, sel.rule_version, sel.score,
            c.id AS candidate_id, c.seed, c.sha256 AS edit_sha256, c.blob AS edit_blob,
            c.width AS edit_width, c.height AS edit_height, c.generator,
            j.judge_model, j.prompt_hash, j.raw_scores, j.axis_instruction, j.axis_preservation, j.axis_quality,
            rv.verdict AS review
          ${sftFrom(f)} AND sel.request_id > ${after} AND sel.request_id <= ${last} ${requestRange(after, last)}
          ORDER BY r.id`,
    (r) => r as SftRow,
  );
}

/** DPO pairs in key order (request id, chosen seed, rejected seed), a page of requests at a time. */
export function streamDpoRows(db: Db, f: ExportFilter, pageSize = PAGE): AsyncGenerator<DpoRow> {
  return paged(
    db,
    'pairs',
    f,
    pageSize,
    (after, last) => sql`SELECT ${COMMON_COLS}, p.rule_version,
            p.id AS pair_id, p.margins, p.total_margin, p.rank,
            cw.id AS chosen_id, cw.seed AS chosen_seed, cw.sha256 AS chosen_sha256, cw.blob AS chosen_blob,
            cw.width AS chosen_width, cw.height AS chosen_height,
            cl.id AS rejected_id, cl.seed AS rejected_seed, cl.sha256 AS rejected_sha256, cl.blob AS rejected_blob,
            cl.width AS rejected_width, cl.height AS rejected_height,
            jw.judge_model AS w_judge_model, jw.prompt_hash AS w_prompt_hash, jw.raw_scores AS w_raw_scores, jw.axis_instruction AS w_axis_instruction,
            jw.axis_preservation AS w_axis_preservation, jw.axis_quality AS w_axis_quality,
            jl.judge_model AS l_judge_model, jl.prompt_hash AS l_prompt_hash, jl.raw_scores AS l_raw_scores, jl.axis_instruction AS l_axis_instruction,
            jl.axis_preservation AS l_axis_preservation, jl.axis_quality AS l_axis_quality,
            COALESCE(rp.verdict, rw.verdict) AS review
          ${dpoFrom(f)} AND p.request_id > ${after} AND p.request_id <= ${last} ${requestRange(after, last)}
          ORDER BY p.request_id, cw.seed, cl.seed`,
    toDpoRow,
  );
}

function side(raw: Record<string, unknown>, p: 'w' | 'l'): JudgedSide {
  return {
    judge_model: raw[`${p}_judge_model`] as string,
    prompt_hash: raw[`${p}_prompt_hash`] as string,
    raw_scores: raw[`${p}_raw_scores`] as Record<string, unknown> | null,
    axis_instruction: raw[`${p}_axis_instruction`] as number | null,
    axis_preservation: raw[`${p}_axis_preservation`] as number | null,
    axis_quality: raw[`${p}_axis_quality`] as number | null,
  };
}

function toDpoRow(raw: Record<string, unknown>): DpoRow {
  return { ...(raw as unknown as DpoRow), chosen: side(raw, 'w'), rejected: side(raw, 'l') };
}

/** Creates or resets the export row for `outDir` (unique): status `running`. Returns its id. */
export async function beginExport(
  db: Db,
  e: { name: string; kind: string; format: string; outDir: string; params: Record<string, unknown> },
): Promise<number> {
  const [row] = await db
    .insert(exports)
    .values({ ...e, status: 'running' })
    .onConflictDoUpdate({
      target: exports.outDir,
      set: { name: e.name, kind: e.kind, format: e.format, params: e.params, status: 'running', samples: 0, bytes: 0, manifestSha256: null, createdAt: sql`now()`, finishedAt: null },
    })
    .returning({ id: exports.id });
  return row!.id;
}

/** Marks an export done and replaces its shard rows. */
export async function finishExport(
  db: Db,
  id: number,
  r: { samples: number; bytes: number; manifestSha256: string; shards: { path: string; split: string; samples: number; bytes: number; sha256: string }[] },
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(exportShards).where(sql`${exportShards.exportId} = ${id}`);
    for (let i = 0; i < r.shards.length; i += 500) {
      await tx.insert(exportShards).values(r.shards.slice(i, i + 500).map((s) => ({ ...s, exportId: id })));
    }
    await tx
      .update(exports)
      .set({ status: 'done', samples: r.samples, bytes: r.bytes, manifestSha256: r.manifestSha256, finishedAt: sql`now()` })
      .where(sql`${exports.id} = ${id}`);
  });
}

/** Marks an export failed (kept for the record; a rerun resets it). */
export async function failExport(db: Db, id: number): Promise<void> {
  await db.update(exports).set({ status: 'failed', finishedAt: sql`now()` }).where(sql`${exports.id} = ${id}`);
}

/** The directory of the newest finished export called `name`, or null. For `/exports/NAME/…`. */
export async function findExportDir(db: Db, name: string): Promise<string | null> {
  const r = await rows<{ out_dir: string }>(
    db,
    sql`SELECT out_dir FROM exports WHERE name = ${name} AND status = 'done' ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1`,
  );
  return r[0]?.out_dir ?? null;
}

/** Recorded exports, newest first (for dashboards and status). */
export async function listExports(db: Db, limit = 50): Promise<{ id: number; name: string; kind: string; format: string; out_dir: string; status: string; samples: number; bytes: number; finished_at: Date | null }[]> {
  return rows(
    db,
    sql`SELECT id, name, kind, format, out_dir, status, samples, bytes, finished_at FROM exports ORDER BY id DESC LIMIT ${limit}`,
  );
}

/** The distinct selection params stored with the rows an export reads (one set unless params changed without `select --all`). */
export async function selectionParamsOf(db: Db, kind: 'sft' | 'dpo', f: Pick<ExportFilter, 'rubric' | 'ruleVersion'>): Promise<unknown[]> {
  const table = sql.raw(kind === 'sft' ? 'selections' : 'pairs');
  const r = await rows<{ params: unknown }>(
    db,
    sql`SELECT DISTINCT params FROM ${table} WHERE rubric = ${f.rubric} AND rule_version = ${f.ruleVersion} LIMIT 20`,
  );
  return r.map((x) => x.params).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}
