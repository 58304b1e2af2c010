/**
 * The survival table of a run (after NoHumansRequired): how many requests and candidates
 * reached each stage and why the others stopped. What `vibe-curate status --json` prints
 * besides queue depths, and what the dashboard's overview shows.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { thresholdsMetSql } from './selection.repository.ts';

/** The versions a funnel reads: one judge version, the thresholds in force, one check version. */
export interface FunnelVersions {
  judge?: { rubric: string; model: string; promptHash: string };
  /** Applied to the raw scores for `aboveThresholds`; omitted: each judgment's stored verdict. */
  thresholds?: Record<string, number>;
  checkVersion?: string;
  /** The version whose picks and pairs are counted when it is not `judge` (JUDGES_FILE: the ensemble's). */
  selectionJudge?: { rubric: string; model: string; promptHash: string };
}

export interface Funnel {
  /** Rubric the judgment, selection and pair counts are restricted to (null: every rubric). */
  rubric: string | null;
  /** The judge version counted (null: every version). */
  judge: { rubric: string; model: string; promptHash: string } | null;
  /** The check version counted (null: every version). */
  checkVersion: string | null;
  requests: {
    total: number;
    pending: number;
    generated: number;
    settled: number;
    selected: number;
    /** Generation failed for good. */
    failed: number;
  };
  candidates: {
    /** Candidate rows: edits the inference core returned. */
    generated: number;
    /** Candidates whose check or judge stage failed for good. */
    failed: number;
  };
  checks: {
    checked: number;
    passed: number;
    failed: number;
    /** Failed reasons; a candidate can fail both, so these may add up to more than `failed`. */
    faceFail: number;
    noChange: number;
    noiseOnly: number;
    /** Sources with no face (the face check had nothing to hold). */
    noFaces: number;
  };
  judgments: {
    judged: number;
    ok: number;
    /** Replies that could not be scored (kept with their raw text). */
    failed: number;
    aboveThresholds: number;
    /** Judge calls (judgment rows, history included) spent on candidates that failed a hard check. */
    onRejected: number;
  };
  selection: {
    /** Requests with a selection row (an SFT pick or an explicit "nothing qualified"). */
    requestsSelected: number;
    sftPicks: number;
    dpoPairs: number;
  };
  /** Open (unresolved) failures. */
  failures: { total: number; byStage: Record<string, number> };
}

type CountRow = Record<string, number | null>;

/**
 * The funnel over the whole database, under one judge version and one check version when given
 * (judgments, picks and pairs of that judge version; checks of that check version).
 */
export async function getFunnel(db: Db, opts: FunnelVersions = {}): Promise<Funnel> {
  const v = opts.judge;
  const jv = v ? sql`rubric = ${v.rubric} AND judge_model = ${v.model} AND prompt_hash = ${v.promptHash}` : sql`true`;
  const sv = opts.selectionJudge;
  const selV = sv ? sql`rubric = ${sv.rubric} AND judge_model = ${sv.model} AND prompt_hash = ${sv.promptHash}` : jv;
  const jCur = sql`${jv} AND superseded_at IS NULL`;
  const ck = opts.checkVersion === undefined ? sql`true` : sql`rule_version = ${opts.checkVersion}`;
  const above = opts.thresholds ? thresholdsMetSql(sql`(raw_scores || coalesce(aggregate, '{}'::jsonb))`, opts.thresholds) : sql`passes_thresholds`;
  const [r] = await rows<CountRow>(
    db,
    sql`SELECT
      (SELECT count(*) FROM requests)::int AS req_total,
      (SELECT count(*) FROM requests WHERE status = 'pending')::int AS req_pending,
      (SELECT count(*) FROM requests WHERE status = 'generated')::int AS req_generated,
      (SELECT count(*) FROM requests WHERE settled_at IS NOT NULL)::int AS req_settled,
      (SELECT count(*) FROM requests WHERE status = 'selected')::int AS req_selected,
      (SELECT count(*) FROM requests WHERE status = 'failed')::int AS req_failed,
      (SELECT count(*) FROM candidates)::int AS cand_generated,
      (SELECT count(*) FROM candidates WHERE status = 'failed')::int AS cand_failed,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck})::int AS chk_checked,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND passed)::int AS chk_passed,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND NOT passed)::int AS chk_failed,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND face_status = 'fail')::int AS chk_face_fail,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND change_status = 'no_change')::int AS chk_no_change,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND change_status = 'noise_only')::int AS chk_noise_only,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND face_status = 'no_faces')::int AS chk_no_faces,
      (SELECT count(*) FROM judgments WHERE ${jCur})::int AS j_judged,
      (SELECT count(*) FROM judgments WHERE ok AND ${jCur})::int AS j_ok,
      (SELECT count(*) FROM judgments WHERE NOT ok AND ${jCur})::int AS j_failed,
      (SELECT count(*) FROM judgments WHERE ok AND ${jCur} AND ${above})::int AS j_above,
      (SELECT count(*) FROM judgments j JOIN candidates c ON c.id = j.candidate_id WHERE c.status = 'rejected' AND ${jv})::int AS j_rejected,
      (SELECT count(DISTINCT request_id) FROM selections WHERE ${selV})::int AS sel_requests,
      (SELECT count(DISTINCT request_id) FROM selections WHERE candidate_id IS NOT NULL AND ${selV})::int AS sel_sft,
      (SELECT count(*) FROM pairs WHERE rank > 0 AND ${selV})::int AS sel_pairs`,
  );
  const n = (k: string) => Number(r?.[k] ?? 0);
  const byStageRows = await rows<{ stage: string; n: number }>(
    db,
    sql`SELECT stage, count(*)::int AS n FROM failures WHERE resolved_at IS NULL GROUP BY stage ORDER BY stage`,
  );
  const byStage: Record<string, number> = {};
  for (const row of byStageRows) byStage[row.stage] = Number(row.n);
  return {
    rubric: v?.rubric ?? null,
    judge: v ?? null,
    checkVersion: opts.checkVersion ?? null,
    requests: {
      total: n('req_total'),
      pending: n('req_pending'),
      generated: n('req_generated'),
      settled: n('req_settled'),
      selected: n('req_selected'),
      failed: n('req_failed'),
    },
    candidates: { generated: n('cand_generated'), failed: n('cand_failed') },
    checks: {
      checked: n('chk_checked'),
      passed: n('chk_passed'),
      failed: n('chk_failed'),
      faceFail: n('chk_face_fail'),
      noChange: n('chk_no_change'),
      noiseOnly: n('chk_noise_only'),
      noFaces: n('chk_no_faces'),
    },
    judgments: { judged: n('j_judged'), ok: n('j_ok'), failed: n('j_failed'), aboveThresholds: n('j_above'), onRejected: n('j_rejected') },
    selection: { requestsSelected: n('sel_requests'), sftPicks: n('sel_sft'), dpoPairs: n('sel_pairs') },
    failures: { total: Object.values(byStage).reduce((a, b) => a + b, 0), byStage },
  };
}
