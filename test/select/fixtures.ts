/**
 * Test data for selection: requests with candidates, checks, judgments and reviews written to a
 * real database, and the CandidateFacts the TypeScript reference sees for the same rows.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { rows } from '../../db/client.ts';
import * as t from '../../db/schema/index.ts';
import type { CandidateFacts, Verdict } from '../../pipeline/select/index.ts';

export const RUBRIC = 'test-rubric-v1';
/** The judge version the fixtures' judgments belong to (unless a judgment names another model or rubric). */
export const JUDGE = { rubric: RUBRIC, model: 'judge-a', promptHash: 'h' };

export interface FixJudgment {
  rubric?: string; // default RUBRIC
  model?: string; // default 'judge-a'; (candidate, rubric, model) is unique
  ok: boolean;
  scores: number[] | null;
  passes: boolean | null;
}

export interface FixCandidate {
  seed: number;
  /** passed of each check row, oldest first (the last one counts). */
  checks?: boolean[];
  judgments?: FixJudgment[];
  /** Review verdicts, oldest first (the last one counts). */
  reviews?: Verdict[];
}

export interface FixRequest {
  candidates: FixCandidate[];
  status?: string; // default 'settled'
  settledAt?: Date | null; // default now
}

export interface Inserted {
  requestIds: number[];
  /** Per request (same order), the candidates as the reference sees them for `rubric`. */
  facts: CandidateFacts[][];
}

let sourceSeq = 0;

/** Inserts the requests (one source each) and everything under them. */
export async function insertRequests(
  db: Db,
  reqs: FixRequest[],
  /**
   * judge: the version judgments belong to unless they name another model or rubric (default
   * JUDGE); checkVersion: the rule version of each candidate's last check row (default check-vN);
   * rawNames: the raw score names the scores are also stored under (default none).
   */
  o: { judge?: { rubric: string; model: string; promptHash: string }; checkVersion?: string; rawNames?: string[] } = {},
): Promise<Inserted> {
  const judge = o.judge ?? JUDGE;
  const rubric = judge.rubric;
  const out: Inserted = { requestIds: [], facts: [] };
  if (reqs.length === 0) return out;
  const srcs = await db
    .insert(t.sources)
    .values(reqs.map(() => {
      const n = ++sourceSeq;
      return { sha256: `src-${process.pid}-${n}-${Math.random()}`, blob: `s/${n}.png`, width: 8, height: 8, format: 'png', bytes: 1, origin: `s${n}.png` };
    }))
    .returning({ id: t.sources.id });
  const reqRows = await db
    .insert(t.requests)
    .values(reqs.map((r, i) => ({
      sourceId: srcs[i]!.id,
      instruction: `edit ${i}`,
      candidatesWanted: r.candidates.length,
      model: 'm',
      baseSeed: 0,
      status: r.status ?? 'settled',
      settledAt: r.settledAt === undefined ? new Date() : r.settledAt,
    })))
    .returning({ id: t.requests.id });
  out.requestIds = reqRows.map((r) => r.id);
  const flat = reqs.flatMap((r, i) => r.candidates.map((c) => ({ c, requestId: reqRows[i]!.id })));
  const candRows = flat.length
    ? await db
        .insert(t.candidates)
        .values(flat.map(({ c, requestId }) => ({
          requestId, seed: c.seed, sha256: `c${c.seed}`, blob: `c/${c.seed}.png`, width: 8, height: 8, generator: 'g', latencyMs: 1,
        })))
        .returning({ id: t.candidates.id })
    : [];
  const checkVals: (typeof t.checks.$inferInsert)[] = [];
  const judgVals: (typeof t.judgments.$inferInsert)[] = [];
  const revVals: (typeof t.reviews.$inferInsert)[] = [];
  flat.forEach(({ c }, k) => {
    const candidateId = candRows[k]!.id;
    (c.checks ?? []).forEach((passed, v) =>
      checkVals.push({
        candidateId, ruleVersion: o.checkVersion !== undefined && v === c.checks!.length - 1 ? o.checkVersion : `check-v${v}`, faceStatus: 'no_faces', faceThreshold: 0.9, faceCount: 0, faces: {},
        detectorVersion: 'd', changeStatus: 'pass', changedFraction: 0.1, largestComponentShare: 1, change: {}, passed, latencyMs: 1,
      }),
    );
    for (const j of c.judgments ?? [])
      judgVals.push({
        candidateId, judgeModel: j.model ?? judge.model, rubric: j.rubric ?? rubric, promptHash: judge.promptHash, ok: j.ok,
        scores: j.scores, passesThresholds: j.passes, attempts: 1, latencyMs: 1,
        rawScores: o.rawNames && j.scores ? Object.fromEntries(o.rawNames.map((n, i) => [n, j.scores![i]!])) : null,
        // Three scores are the canonical axes themselves, as the metric-v1 rubric stores them.
        ...(j.scores?.length === 3 ? { axisInstruction: j.scores[0], axisPreservation: j.scores[1], axisQuality: j.scores[2] } : {}),
      });
    for (const verdict of c.reviews ?? []) revVals.push({ candidateId, reviewer: 'r', verdict });
  });
  if (checkVals.length) await db.insert(t.checks).values(checkVals);
  if (judgVals.length) await db.insert(t.judgments).values(judgVals);
  if (revVals.length) await db.insert(t.reviews).values(revVals);

  // Facts as the rules define them, from what the database stored (scores as stored reals).
  const stored = await rows<{ candidate_id: number; scores: number[] | null; passes: boolean | null }>(
    db,
    sql`SELECT DISTINCT ON (candidate_id) candidate_id, scores, passes_thresholds AS passes FROM judgments
        WHERE rubric = ${rubric} AND judge_model = ${judge.model} AND prompt_hash = ${judge.promptHash} AND ok AND scores IS NOT NULL
        ORDER BY candidate_id, id DESC`,
  );
  const byCand = new Map(stored.map((s) => [Number(s.candidate_id), s]));
  let k = 0;
  for (const r of reqs) {
    const facts: CandidateFacts[] = [];
    for (const c of r.candidates) {
      const id = candRows[k++]!.id;
      const j = byCand.get(id);
      facts.push({
        id,
        seed: c.seed,
        scores: j ? j.scores!.map((v) => Math.fround(Number(v))) : null, // the float4 value Postgres computes with
        passesThresholds: j?.passes === true,
        checkPassed: c.checks?.length ? c.checks[c.checks.length - 1]! : false,
        review: c.reviews?.length ? c.reviews[c.reviews.length - 1]! : null,
      });
    }
    out.facts.push(facts);
  }
  return out;
}

export interface StoredPick {
  requestId: number;
  candidateId: number | null;
  score: number | null;
  params: unknown;
}
export interface StoredPair {
  requestId: number;
  chosenId: number;
  rejectedId: number;
  margins: number[];
  totalMargin: number;
  rank: number;
}

/** Selections and pairs of one rule version and rubric, ordered by request (and rank). */
export async function readSelection(db: Db, ruleVersion: string, rubric = RUBRIC): Promise<{ picks: StoredPick[]; pairs: StoredPair[] }> {
  const picks = await rows<{ request_id: number; candidate_id: number | null; score: number | null; params: unknown }>(
    db,
    sql`SELECT request_id, candidate_id, score, params FROM selections WHERE rule_version = ${ruleVersion} AND rubric = ${rubric} ORDER BY request_id`,
  );
  const pairs = await rows<{ request_id: number; chosen_id: number; rejected_id: number; margins: number[]; total_margin: number; rank: number }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id, margins, total_margin, rank FROM pairs
        WHERE rule_version = ${ruleVersion} AND rubric = ${rubric} ORDER BY request_id, rank, chosen_id, rejected_id`,
  );
  return {
    picks: picks.map((p) => ({ requestId: Number(p.request_id), candidateId: p.candidate_id === null ? null : Number(p.candidate_id), score: p.score, params: p.params })),
    pairs: pairs.map((p) => ({
      requestId: Number(p.request_id), chosenId: Number(p.chosen_id), rejectedId: Number(p.rejected_id),
      margins: p.margins.map((v) => Math.fround(Number(v))), totalMargin: Number(p.total_margin), rank: p.rank,
    })),
  };
}

/** Empties every table selection reads or writes (between property-test runs). */
export async function resetTables(db: Db): Promise<void> {
  await db.execute(sql`TRUNCATE reviews, pairs, selections, judgments, checks, candidates, requests, sources RESTART IDENTITY CASCADE`);
}
