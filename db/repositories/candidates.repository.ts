/**
 * Candidates: one generated edit per (request, seed). Lifecycle generated → checked → judged,
 * or rejected (failed a hard check) or failed (a stage gave up). Inserting a candidate twice
 * is a no-op; status moves are conditional UPDATEs, so a retried job never moves one twice.
 */
import { sql } from 'drizzle-orm';
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

/** A candidate's context plus what decides its next step: its newest check and, for `judgment`, whether that judgment exists. */
export interface CandidateWork extends CandidateContext {
  /** Passed flag of the newest check (any rule version); undefined when it has none. */
  checkPassed?: boolean;
  /** Whether a judgment by `judgment.rubric` and `judgment.model` exists (false when not asked). */
  judged: boolean;
}

/** One query for what the check and judge stages read before working on a candidate. */
export async function getCandidateWork(db: Db, id: number, judgment?: { rubric: string; model: string }): Promise<CandidateWork | undefined> {
  const judged = judgment
    ? sql`EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.rubric = ${judgment.rubric} AND j.judge_model = ${judgment.model})`
    : sql`false`;
  const [r] = await rows<Record<string, unknown>>(
    db,
    sql`SELECT c.id, c.request_id, c.seed, c.blob, c.sha256, c.status, r.instruction, r.category, s.id AS source_id, s.blob AS source_blob,
               (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1) AS check_passed,
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
    judged: Boolean(r.judged),
  };
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
    sql`UPDATE candidates SET status = ${to}${stamp[to]} WHERE id = ${id} AND status = ANY(${`{${from.join(',')}}`}::text[]) RETURNING id`,
  );
  return r.length > 0;
}

/** Ids of candidates in `status`, after `after`, at most `limit` (keyset pages for reconcile). */
export async function candidateIdsByStatus(db: Db, status: CandidateStatus, after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM candidates WHERE status = ${status} AND id > ${after} ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}
