/**
 * Failures: a stage that gave up on a subject (bad input, or retries exhausted). At most one
 * open failure per (stage, subject); `retry-failed` resolves them and replays the work.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

export type FailureStage = 'enqueue' | 'generate' | 'check' | 'judge' | 'select' | 'export';

export interface NewFailure {
  stage: FailureStage;
  /** `request:12`, `candidate:42`. */
  subject: string;
  requestId?: number;
  candidateId?: number;
  attempts: number;
  /** One line. */
  error: string;
}

export interface FailureRow extends NewFailure {
  id: number;
  createdAt: Date;
}

/**
 * Records an open failure; a second record of the same open (stage, subject) is a no-op. A
 * request or candidate id that does not exist is stored as null (the subject still names it).
 */
export async function recordFailure(db: Db, f: NewFailure): Promise<boolean> {
  const r = await rows<{ id: number }>(
    db,
    sql`INSERT INTO failures (stage, subject, request_id, candidate_id, attempts, error)
        VALUES (${f.stage}, ${f.subject},
                (SELECT id FROM requests WHERE id = ${f.requestId ?? null}), (SELECT id FROM candidates WHERE id = ${f.candidateId ?? null}), ${f.attempts}, ${f.error.replace(/\s*\n\s*/g, ' ').slice(0, 2000)})
        ON CONFLICT (stage, subject) WHERE resolved_at IS NULL DO NOTHING
        RETURNING id`,
  );
  return r.length > 0;
}

/** Open failures, oldest first, optionally of one stage. */
export async function openFailures(db: Db, opts: { stage?: string; limit?: number } = {}): Promise<FailureRow[]> {
  const r = await rows<Record<string, unknown>>(
    db,
    sql`SELECT id, stage, subject, request_id, candidate_id, attempts, error, created_at FROM failures
        WHERE resolved_at IS NULL AND (${opts.stage ?? null}::text IS NULL OR stage = ${opts.stage ?? null})
        ORDER BY id LIMIT ${opts.limit ?? 100_000}`,
  );
  return r.map((x) => ({
    id: Number(x.id),
    stage: x.stage as FailureStage,
    subject: String(x.subject),
    requestId: x.request_id == null ? undefined : Number(x.request_id),
    candidateId: x.candidate_id == null ? undefined : Number(x.candidate_id),
    attempts: Number(x.attempts),
    error: String(x.error),
    createdAt: x.created_at instanceof Date ? x.created_at : new Date(String(x.created_at)),
  }));
}

/** Marks one failure resolved; returns whether it was open. */
export async function resolveFailure(db: Db, id: number): Promise<boolean> {
  const r = await rows<{ id: number }>(db, sql`UPDATE failures SET resolved_at = now() WHERE id = ${id} AND resolved_at IS NULL RETURNING id`);
  return r.length > 0;
}
