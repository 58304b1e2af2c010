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
  /** Selection rule versions: the first is the one the top-level selection counts are of; each gets an entry in selection.rules. */
  rules?: readonly string[];
  /** The version whose picks and pairs are counted when it is not `judge` (JUDGES_FILE: the ensemble's). */
  selectionJudge?: { rubric: string; model: string; promptHash: string };
}

/** One selection rule's counts. */
export interface RuleCounts {
  requestsSelected: number;
  sftPicks: number;
  dpoPairs: number;
  /** Pairs whose chosen side is worse than the rejected on some rubric axis (a negative margin): never from strict dominance. */
  notDominant: number;
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
    /** Sources whose best face candidate was only likely (FACE_UNCERTAIN decides whether they pass). */
    faceUncertain: number;
    /** Candidates rejected by the grid-artifact rule (ARTIFACT_CHECK=on). */
    artifactFail: number;
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
    /** The rule version these counts are of (the first of SELECT_RULES; null: every rule). */
    ruleVersion: string | null;
    /** Requests with a selection row (an SFT pick or an explicit "nothing qualified"). */
    requestsSelected: number;
    sftPicks: number;
    dpoPairs: number;
    /** Per rule version (those asked for, and any other with rows): the same counts side by side. */
    rules: Record<string, RuleCounts>;
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
  // JUDGES_FILE: the ensemble's rows are named by its composite version alone (their own rule version)
  const rv = !sv && opts.rules?.length ? sql`rule_version = ${opts.rules[0]}` : sql`true`;
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
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND face_status = 'uncertain')::int AS chk_face_uncertain,
      (SELECT count(DISTINCT candidate_id) FROM checks WHERE ${ck} AND artifact_status = 'fail' AND NOT passed)::int AS chk_artifact_fail,
      (SELECT count(*) FROM judgments WHERE ${jCur})::int AS j_judged,
      (SELECT count(*) FROM judgments WHERE ok AND ${jCur})::int AS j_ok,
      (SELECT count(*) FROM judgments WHERE NOT ok AND ${jCur})::int AS j_failed,
      (SELECT count(*) FROM judgments WHERE ok AND ${jCur} AND ${above})::int AS j_above,
      (SELECT count(*) FROM judgments j JOIN candidates c ON c.id = j.candidate_id WHERE c.status = 'rejected' AND ${jv})::int AS j_rejected,
      (SELECT count(DISTINCT request_id) FROM selections WHERE ${selV} AND ${rv})::int AS sel_requests,
      (SELECT count(DISTINCT request_id) FROM selections WHERE candidate_id IS NOT NULL AND ${selV} AND ${rv})::int AS sel_sft,
      (SELECT count(*) FROM pairs WHERE rank > 0 AND ${selV} AND ${rv})::int AS sel_pairs`,
  );
  const perRule = await rows<{ rule_version: string; requests: number; sft: number; pairs: number; not_dominant: number }>(
    db,
    sql`WITH s AS (
          SELECT rule_version, count(DISTINCT request_id)::int AS requests, count(DISTINCT request_id) FILTER (WHERE candidate_id IS NOT NULL)::int AS sft
          FROM selections WHERE ${jv} GROUP BY rule_version
        ), p AS (
          SELECT rule_version, count(*)::int AS pairs,
                 count(*) FILTER (WHERE EXISTS (SELECT 1 FROM unnest(margins) m WHERE m < 0))::int AS not_dominant
          FROM pairs WHERE rank > 0 AND ${jv} GROUP BY rule_version
        )
        SELECT coalesce(s.rule_version, p.rule_version) AS rule_version, coalesce(s.requests, 0) AS requests, coalesce(s.sft, 0) AS sft,
               coalesce(p.pairs, 0) AS pairs, coalesce(p.not_dominant, 0) AS not_dominant
        FROM s FULL JOIN p ON p.rule_version = s.rule_version
        ORDER BY 1`,
  );
  const rules: Record<string, RuleCounts> = {};
  for (const v of opts.rules ?? []) rules[v] = { requestsSelected: 0, sftPicks: 0, dpoPairs: 0, notDominant: 0 };
  for (const x of perRule) {
    rules[x.rule_version] = { requestsSelected: Number(x.requests), sftPicks: Number(x.sft), dpoPairs: Number(x.pairs), notDominant: Number(x.not_dominant) };
  }
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
      faceUncertain: n('chk_face_uncertain'),
      artifactFail: n('chk_artifact_fail'),
    },
    judgments: { judged: n('j_judged'), ok: n('j_ok'), failed: n('j_failed'), aboveThresholds: n('j_above'), onRejected: n('j_rejected') },
    selection: { ruleVersion: opts.rules?.[0] ?? null, requestsSelected: n('sel_requests'), sftPicks: n('sel_sft'), dpoPairs: n('sel_pairs'), rules },
    failures: { total: Object.values(byStage).reduce((a, b) => a + b, 0), byStage },
  };
}
