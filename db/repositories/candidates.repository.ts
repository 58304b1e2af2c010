/**
 * Candidates: one generated edit per (request, seed). Lifecycle generated → checked → judged,
 * or rejected (failed a hard check) or failed (a stage gave up). Inserting a candidate twice
 * is a no-op; status moves are conditional UPDATEs, so a retried job never moves one twice.
 */
import { sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { candidates } from '../schema/index.ts';

export interface NewCandidate {
  requestId: number;
  seed: number;
  sha256: string;
  blob: string;
  width: number;
  height: number;
  generator: string;
  generatorMeta?: Record<string, unknown>;
  latencyMs: number;
}

export type CandidateStatus = 'generated' | 'checked' | 'judged' | 'rejected' | 'failed';

/** Inserts candidates (ON CONFLICT (request_id, seed) DO NOTHING) in one statement; returns the number inserted. */
export async function insertCandidates(db: Db, list: readonly NewCandidate[]): Promise<number> {
  if (!list.length) return 0;
  const inserted = await db
    .insert(candidates)
    .values(list.map((c) => ({ ...c, latencyMs: Math.round(c.latencyMs) })))
    .onConflictDoNothing({ target: [candidates.requestId, candidates.seed] })
    .returning({ id: candidates.id });
  return inserted.length;
}

/**
 * Generate's write, one statement: inserts the candidates not there yet (ON CONFLICT (request_id,
 * seed) DO NOTHING), moves the request pending → generated, and returns every candidate of the
 * request by seed (those just inserted and those from an earlier attempt). A row a concurrent
 * duplicate job committed meanwhile may be missing from the list: that job enqueues its check.
 */
export async function storeCandidatesOfRequest(db: Db, requestId: number, list: readonly NewCandidate[]): Promise<{ id: number; status: CandidateStatus }[]> {
  if (list.some((c) => c.requestId !== requestId)) throw new Error(`storeCandidatesOfRequest: a candidate of another request than ${requestId}`);
  const insert = list.length
    ? db
        .insert(candidates)
        .values(list.map((c) => ({ ...c, latencyMs: Math.round(c.latencyMs) })))
        .onConflictDoNothing({ target: [candidates.requestId, candidates.seed] })
        .returning({ id: candidates.id, status: candidates.status, seed: candidates.seed })
        .getSQL()
    : sql`SELECT id, status, seed FROM candidates WHERE false`;
  // The SELECT sees the rows from before this statement; the inserted ones come from ins.
  const r = await rows<{ id: number; status: CandidateStatus; seed: number }>(
    db,
    sql`WITH ins AS (${insert}),
        upd AS (UPDATE requests SET status = 'generated', generated_at = coalesce(generated_at, now()) WHERE id = ${requestId} AND status = 'pending' RETURNING id)
        SELECT id, status, seed FROM ins
        UNION ALL SELECT id, status, seed FROM candidates WHERE request_id = ${requestId}
        ORDER BY seed`,
  );
  return r.map((x) => ({ id: Number(x.id), status: x.status }));
}

/** Ids of a request's candidates, by seed. */
export async function candidateIdsOfRequest(db: Db, requestId: number): Promise<{ id: number; status: CandidateStatus }[]> {
  const r = await rows<{ id: number; status: CandidateStatus }>(db, sql`SELECT id, status FROM candidates WHERE request_id = ${requestId} ORDER BY seed`);
  return r.map((x) => ({ id: Number(x.id), status: x.status }));
}

export interface CandidateContext {
  id: number;
  requestId: number;
  seed: number;
  blob: string;
  sha256: string;
  status: CandidateStatus;
  instruction: string;
  category: string;
  sourceId: number;
  sourceBlob: string;
}

/** A candidate with what its checks and judge need: its request's instruction and source blob. */
export async function getCandidateContext(db: Db, id: number): Promise<CandidateContext | undefined> {
  return getCandidateWork(db, id);
}

/** A candidate's context plus what decides its next step under the current versions. */
export interface CandidateWork extends CandidateContext {
  /** Passed flag of its check of `versions.checkVersion` (or of its newest check when not asked); undefined when it has none. */
  checkPassed?: boolean;
  /** Whether a current judgment of `versions.judge` (of every one of `versions.judges`) exists, scored or not (false when not asked). */
  judged: boolean;
  /** Per version of `versions.judges` (else of `versions.judge`), whether its current judgment exists. */
  judgedBy: boolean[];
}

/** The versions a stage works under: the check version and the judge version (rubric, model, prompt hash). */
export interface WorkVersions {
  checkVersion?: string;
  judge?: { rubric: string; model: string; promptHash: string };
  /** Several judge versions (JUDGES_FILE): `judged` means judged by all of them. */
  judges?: { rubric: string; model: string; promptHash: string }[];
}

/** One query for what the check and judge stages read before working on a candidate. */
export async function getCandidateWork(db: Db, id: number, versions: WorkVersions = {}): Promise<CandidateWork | undefined> {
  const vs = versions.judges ?? (versions.judge ? [versions.judge] : []);
  const exists = (v: { rubric: string; model: string; promptHash: string }) =>
    sql`EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.rubric = ${v.rubric} AND j.judge_model = ${v.model}
                  AND j.prompt_hash = ${v.promptHash} AND j.superseded_at IS NULL)`;
  const judged = vs.length ? sql`ARRAY[${sql.join(vs.map(exists), sql`, `)}]` : sql`ARRAY[]::boolean[]`;
  const check = versions.checkVersion === undefined
    ? sql`(SELECT k.passed FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1)`
    : sql`(SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${versions.checkVersion})`;
  const [r] = await rows<Record<string, unknown>>(
    db,
    sql`SELECT c.id, c.request_id, c.seed, c.blob, c.sha256, c.status, r.instruction, r.category, s.id AS source_id, s.blob AS source_blob,
               ${check} AS check_passed,
               ${judged} AS judged
        FROM candidates c JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id
        WHERE c.id = ${id}`,
  );
  if (!r) return undefined;
  return {
    id: Number(r.id),
    requestId: Number(r.request_id),
    seed: Number(r.seed),
    blob: String(r.blob),
    sha256: String(r.sha256),
    status: r.status as CandidateStatus,
    instruction: String(r.instruction),
    category: String(r.category),
    sourceId: Number(r.source_id),
    sourceBlob: String(r.source_blob),
    checkPassed: r.check_passed == null ? undefined : Boolean(r.check_passed),
    judged: vs.length > 0 && (r.judged as boolean[]).every(Boolean),
    judgedBy: (r.judged as boolean[]).map(Boolean),
  };
}

/**
 * A candidate's status after a check of the current version: passed → `judged` when it already
 * has a judgment of the current judge version, else `checked`; failed → `rejected`. `needsJudge`:
 * a judgment is still to come (judged_at cleared, so a rejected one is not terminal yet). A failed
 * candidate stays failed. Returns whether the candidate was updated.
 */
export async function setCheckOutcome(db: Db, id: number, passed: boolean, needsJudge: boolean): Promise<boolean> {
  const status = passed ? (needsJudge ? 'checked' : 'judged') : 'rejected';
  const r = await rows<{ id: number }>(
    db,
    sql`UPDATE candidates SET status = ${status}, checked_at = coalesce(checked_at, now()),
               judged_at = CASE WHEN ${needsJudge}::boolean THEN NULL ELSE coalesce(judged_at, now()) END
        WHERE id = ${id} AND status <> 'failed' RETURNING id`,
  );
  return r.length > 0;
}

/** The judge stage is over for a candidate (scored or not): checked → judged; a rejected one keeps its status and gets judged_at. */
export async function finishJudging(db: Db, id: number): Promise<void> {
  await db.execute(
    sql`UPDATE candidates SET status = CASE WHEN status = 'checked' THEN 'judged' ELSE status END, judged_at = coalesce(judged_at, now())
        WHERE id = ${id} AND status IN ('checked', 'judged', 'rejected')`,
  );
}

/** The judge stage gave up: checked → failed; a rejected candidate stays rejected, its judging over (judged_at set). */
export async function giveUpJudging(db: Db, id: number): Promise<void> {
  await db.execute(
    sql`UPDATE candidates SET status = CASE WHEN status = 'checked' THEN 'failed' ELSE status END, judged_at = coalesce(judged_at, now())
        WHERE id = ${id} AND status IN ('checked', 'rejected')`,
  );
}

/**
 * Sends candidates back to the judge (rejudge, retry-failed): judged or failed → checked, a
 * rejected one's judged_at cleared, and their requests unsettled (their selection is not read
 * until they settle again). Returns the candidates moved.
 */
export async function reopenForJudging(db: Db, ids: readonly number[]): Promise<number[]> {
  return moveAndUnsettle(
    db,
    ids,
    sql`UPDATE candidates SET status = CASE WHEN status IN ('judged', 'failed') THEN 'checked' ELSE status END, judged_at = NULL
        WHERE id = ANY(${sql.param(ids)}::bigint[]) AND status IN ('checked', 'judged', 'rejected', 'failed')
        RETURNING id, request_id`,
  );
}

/** Sends candidates back to the checks (recheck): status generated, and their requests unsettled. */
export async function reopenForChecking(db: Db, ids: readonly number[]): Promise<number[]> {
  return moveAndUnsettle(
    db,
    ids,
    sql`UPDATE candidates SET status = 'generated'
        WHERE id = ANY(${sql.param(ids)}::bigint[]) AND status <> 'failed'
        RETURNING id, request_id`,
  );
}

/** Runs `move` (an UPDATE of candidates RETURNING id, request_id) and, in the same statement, unsettles the requests it touched; returns the moved ids. */
async function moveAndUnsettle(db: Db, ids: readonly number[], move: SQL): Promise<number[]> {
  if (!ids.length) return [];
  const r = await rows<{ id: number }>(
    db,
    sql`WITH moved AS (${move}),
        unsettled AS (
          UPDATE requests SET status = 'generated', settled_at = NULL
          WHERE id IN (SELECT request_id FROM moved) AND status IN ('settled', 'selected') RETURNING id)
        SELECT id FROM moved`,
  );
  return r.map((x) => Number(x.id));
}

/** The next `limit` candidates after `after` (by id) with no check of `checkVersion` (failed ones excepted). */
export async function candidatesWithoutCheck(db: Db, checkVersion: string, after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(
    db,
    sql`SELECT c.id FROM candidates c
        WHERE c.id > ${after} AND c.status <> 'failed'
          AND NOT EXISTS (SELECT 1 FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${checkVersion})
        ORDER BY c.id LIMIT ${limit}`,
  );
  return r.map((x) => Number(x.id));
}

/**
 * The next `limit` candidates after `after` that the judge version (any of several, JUDGES_FILE)
 * should judge and has not: passed their checks (checked or judged), or failed them when `judgeRejected`.
 */
export async function candidatesWithoutJudgment(
  db: Db,
  v: { rubric: string; model: string; promptHash: string } | readonly { rubric: string; model: string; promptHash: string }[],
  judgeRejected: boolean,
  after: number,
  limit: number,
): Promise<number[]> {
  const vs = Array.isArray(v) ? v : [v as { rubric: string; model: string; promptHash: string }];
  const lacks = vs.map(
    (x) => sql`NOT EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.rubric = ${x.rubric} AND j.judge_model = ${x.model}
                            AND j.prompt_hash = ${x.promptHash} AND j.superseded_at IS NULL)`,
  );
  const r = await rows<{ id: number }>(
    db,
    sql`SELECT c.id FROM candidates c
        WHERE c.id > ${after} AND (c.status IN ('checked', 'judged') OR (c.status = 'rejected' AND ${judgeRejected}::boolean))
          AND (${sql.join(lacks, sql` OR `)})
        ORDER BY c.id LIMIT ${limit}`,
  );
  return r.map((x) => Number(x.id));
}

/**
 * Of `ids`, how many are past the stage (recheck / rejudge progress): `check` — no longer
 * generated; `judge` — their judging ended (judged_at set) or they failed for good.
 */
export async function countPastStage(db: Db, ids: readonly number[], stage: 'check' | 'judge'): Promise<number> {
  if (!ids.length) return 0;
  const past = stage === 'check' ? sql`status <> 'generated'` : sql`(judged_at IS NOT NULL OR status = 'failed')`;
  const [r] = await rows<{ n: number }>(
    db,
    sql`SELECT count(*)::int AS n FROM candidates WHERE id = ANY(${sql.param(ids)}::bigint[]) AND ${past}`,
  );
  return Number(r?.n ?? 0);
}

const stamp = {
  generated: sql``,
  checked: sql`, checked_at = coalesce(checked_at, now())`,
  rejected: sql`, checked_at = coalesce(checked_at, now())`,
  judged: sql`, judged_at = coalesce(judged_at, now())`,
  failed: sql``,
} satisfies Record<CandidateStatus, ReturnType<typeof sql>>;

/** Moves a candidate to `to` when it is in one of `from`; returns whether it moved. */
export async function moveCandidate(db: Db, id: number, from: readonly CandidateStatus[], to: CandidateStatus): Promise<boolean> {
  const r = await rows<{ id: number }>(
    db,
    sql`UPDATE candidates SET status = ${to}${stamp[to]} WHERE id = ${id} AND status = ANY(${sql.param(from)}::text[]) RETURNING id`,
  );
  return r.length > 0;
}

/** Ids of candidates in `status`, after `after`, at most `limit` (keyset pages for reconcile). */
export async function candidateIdsByStatus(db: Db, status: CandidateStatus, after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM candidates WHERE status = ${status} AND id > ${after} ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}

/** Rejected candidates whose judging has not ended (judged_at unset), after `after`, at most `limit` (reconcile with JUDGE_REJECTED). */
export async function rejectedIdsToJudge(db: Db, after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(
    db,
    sql`SELECT id FROM candidates WHERE status = 'rejected' AND judged_at IS NULL AND id > ${after} ORDER BY id LIMIT ${limit}`,
  );
  return r.map((x) => Number(x.id));
}
