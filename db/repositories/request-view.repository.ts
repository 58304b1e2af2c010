/**
 * Everything the request view shows about one request, in a handful of queries: the request and
 * its source, every candidate with its newest check (face boxes, change summary), newest
 * judgment of the rubric (axes, raw reply) and newest review, the SFT pick and the DPO pairs
 * of the newest selection's rule version with their own newest review, and the neighbouring
 * request ids for j/k navigation.
 */
import { sql } from 'drizzle-orm';
import { sameJudgeVersion, type JudgeVersionKey } from './judge-version.sql.ts';
import { rows, type Db } from '../client.ts';

export interface RequestViewCandidate {
  id: number;
  seed: number;
  status: string;
  width: number;
  height: number;
  sha256: string;
  blob: string;
  generator: string;
  latency_ms: number;
  check: {
    face_status: string;
    face_min_iou: number | null;
    face_threshold: number;
    face_count: number;
    faces: unknown;
    change_status: string;
    changed_fraction: number;
    largest_component_share: number;
    change: unknown;
    /** pass | fail | off; null for checks made before the artifact rule. */
    artifact_status: string | null;
    artifact: { score: number; period: number | null; pattern: string | null; enforced: boolean; region: { kind: string; box: number[] } | null } | null;
    passed: boolean;
    rule_version: string;
  } | null;
  judgment: {
    id: number;
    judge_model: string;
    rubric: string;
    ok: boolean;
    error: string | null;
    raw_scores: Record<string, number> | null;
    scores: number[] | null;
    axis_instruction: number | null;
    axis_preservation: number | null;
    axis_quality: number | null;
    aggregate: Record<string, number | boolean> | null;
    passes_thresholds: boolean | null;
    raw_reply: string | null;
    attempts: number;
  } | null;
  review: { verdict: string; note: string; reviewer: string; created_at: string } | null;
}

export interface RequestView {
  request: {
    id: number;
    instruction: string;
    category: string;
    status: string;
    model: string;
    candidates_wanted: number;
    created_at: string;
  };
  source: { id: number; sha256: string; blob: string; width: number; height: number; origin: string };
  candidates: RequestViewCandidate[];
  selection: { candidate_id: number | null; score: number | null; rule_version: string } | null;
  pairs: {
    id: number;
    chosen_id: number;
    rejected_id: number;
    margins: number[];
    total_margin: number;
    rank: number;
    rule_version: string;
    review: { verdict: string; note: string; reviewer: string } | null;
  }[];
  failures: { stage: string; subject: string; error: string; attempts: number }[];
  prevId: number | null;
  nextId: number | null;
}

/** The view of request `id` under `rubric`, or null when there is no such request. */
export async function getRequestView(db: Db, id: number, judge: JudgeVersionKey): Promise<RequestView | null> {
  const head = await rows<Record<string, unknown>>(
    db,
    sql`SELECT r.id, r.instruction, r.category, r.status, r.model, r.candidates_wanted, r.created_at,
               s.id AS source_id, s.sha256, s.blob, s.width, s.height, s.origin,
               (SELECT max(id) FROM requests WHERE id < r.id) AS prev_id,
               (SELECT min(id) FROM requests WHERE id > r.id) AS next_id
        FROM requests r JOIN sources s ON s.id = r.source_id WHERE r.id = ${id}`,
  );
  const h = head[0];
  if (!h) return null;
  const [cands, selection, pairs, failures] = await Promise.all([
    rows<Record<string, unknown>>(
      db,
      sql`SELECT c.id, c.seed, c.status, c.width, c.height, c.sha256, c.blob, c.generator, c.latency_ms,
                 to_jsonb(ck) AS check, to_jsonb(j) AS judgment, to_jsonb(rv) AS review
          FROM candidates c
          LEFT JOIN LATERAL (
            SELECT k.face_status, k.face_min_iou, k.face_threshold, k.face_count, k.faces, k.change_status,
                   k.changed_fraction, k.largest_component_share, k.change, k.artifact_status, k.artifact, k.passed, k.rule_version
            FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1
          ) ck ON true
          LEFT JOIN LATERAL (
            SELECT jj.id, jj.judge_model, jj.rubric, jj.ok, jj.error, jj.raw_scores, jj.scores, jj.axis_instruction,
                   jj.axis_preservation, jj.axis_quality, jj.aggregate, jj.passes_thresholds, jj.raw_reply, jj.attempts
            FROM judgments jj WHERE jj.candidate_id = c.id AND ${sameJudgeVersion('jj', judge)} ORDER BY jj.id DESC LIMIT 1
          ) j ON true
          LEFT JOIN LATERAL (
            SELECT v.verdict, v.note, v.reviewer, v.created_at FROM reviews v
            WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1
          ) rv ON true
          WHERE c.request_id = ${id}
          ORDER BY c.seed`,
    ),
    rows<Record<string, unknown>>(
      db,
      sql`SELECT candidate_id, score, rule_version FROM selections
          WHERE request_id = ${id} AND ${sameJudgeVersion(null, judge)} ORDER BY id DESC LIMIT 1`,
    ),
    rows<Record<string, unknown>>(
      db,
      sql`SELECT p.id, p.chosen_id, p.rejected_id, p.margins, p.total_margin, p.rank, p.rule_version, to_jsonb(rv) AS review
          FROM pairs p
          LEFT JOIN LATERAL (
            SELECT v.verdict, v.note, v.reviewer FROM reviews v WHERE v.pair_id = p.id ORDER BY v.id DESC LIMIT 1
          ) rv ON true
          WHERE p.request_id = ${id} AND ${sameJudgeVersion('p', judge)}
            AND p.rule_version = coalesce(
              (SELECT s.rule_version FROM selections s WHERE s.request_id = ${id} AND ${sameJudgeVersion('s', judge)} ORDER BY s.id DESC LIMIT 1),
              p.rule_version)
          ORDER BY (p.rank = 0), p.rank, p.id`,
    ),
    rows<Record<string, unknown>>(
      db,
      sql`SELECT stage, subject, error, attempts FROM failures
          WHERE resolved_at IS NULL AND (request_id = ${id}
                OR candidate_id IN (SELECT id FROM candidates WHERE request_id = ${id}))
          ORDER BY id`,
    ),
  ]);
  return {
    request: {
      id: Number(h.id),
      instruction: String(h.instruction),
      category: String(h.category),
      status: String(h.status),
      model: String(h.model),
      candidates_wanted: Number(h.candidates_wanted),
      created_at: new Date(h.created_at as string).toISOString(),
    },
    source: {
      id: Number(h.source_id),
      sha256: String(h.sha256),
      blob: String(h.blob),
      width: Number(h.width),
      height: Number(h.height),
      origin: String(h.origin),
    },
    candidates: cands.map((c) => ({
      id: Number(c.id),
      seed: Number(c.seed),
      status: String(c.status),
      width: Number(c.width),
      height: Number(c.height),
      sha256: String(c.sha256),
      blob: String(c.blob),
      generator: String(c.generator),
      latency_ms: Number(c.latency_ms),
      check: (c.check ?? null) as RequestViewCandidate['check'],
      judgment: (c.judgment ?? null) as RequestViewCandidate['judgment'],
      review: (c.review ?? null) as RequestViewCandidate['review'],
    })),
    selection: selection[0]
      ? {
          candidate_id: selection[0].candidate_id == null ? null : Number(selection[0].candidate_id),
          score: selection[0].score == null ? null : Number(selection[0].score),
          rule_version: String(selection[0].rule_version),
        }
      : null,
    pairs: pairs.map((p) => ({
      id: Number(p.id),
      chosen_id: Number(p.chosen_id),
      rejected_id: Number(p.rejected_id),
      margins: (p.margins as number[]).map(Number),
      total_margin: Number(p.total_margin),
      rank: Number(p.rank),
      rule_version: String(p.rule_version),
      review: (p.review ?? null) as RequestView['pairs'][number]['review'],
    })),
    failures: failures.map((f) => ({
      stage: String(f.stage),
      subject: String(f.subject),
      error: String(f.error),
      attempts: Number(f.attempts),
    })),
    prevId: h.prev_id == null ? null : Number(h.prev_id),
    nextId: h.next_id == null ? null : Number(h.next_id),
  };
}

/** Blob key, size and sha of a candidate or source image (for thumbnails and full images). */
export async function imageBlob(
  db: Db,
  kind: 'candidate' | 'source',
  id: number,
): Promise<{ blob: string; sha256: string; width: number; height: number } | null> {
  const q =
    kind === 'candidate'
      ? sql`SELECT blob, sha256, width, height FROM candidates WHERE id = ${id}`
      : sql`SELECT blob, sha256, width, height FROM sources WHERE id = ${id}`;
  const r = await rows<{ blob: string; sha256: string; width: number; height: number }>(db, q);
  return r[0] ?? null;
}

/** Source and edit blob keys of a candidate (for the change map). */
export async function candidatePair(db: Db, id: number): Promise<{ sourceBlob: string; editBlob: string; sha256: string } | null> {
  const r = await rows<{ source_blob: string; edit_blob: string; sha256: string }>(
    db,
    sql`SELECT s.blob AS source_blob, c.blob AS edit_blob, c.sha256
        FROM candidates c JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id
        WHERE c.id = ${id}`,
  );
  return r[0] ? { sourceBlob: r[0].source_blob, editBlob: r[0].edit_blob, sha256: r[0].sha256 } : null;
}
