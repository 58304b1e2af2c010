/**
 * Edit requests and their lifecycle: pending → generated → settled → selected, or failed
 * (generation gave up). "Settled" means no more stage work will happen for the request: every
 * candidate is judged, rejected by a hard check, or failed for good. Every transition is one
 * conditional UPDATE, so concurrent workers and retried jobs move a request at most once.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

export interface NewRequest {
  sourceId: number;
  instruction: string;
  category: string;
  candidatesWanted: number;
  model: string;
  baseSeed: number;
}

export interface InsertedRequest {
  id: number;
  status: string;
  /** False when (source, instruction, model) was already there. */
  created: boolean;
}

/** Candidate states after which nothing more happens to a candidate. */
export const TERMINAL_CANDIDATE_STATES = ['judged', 'rejected', 'failed'] as const;

/**
 * Inserts requests (unique per source, instruction, model); returns one entry per input, in
 * input order, saying whether it was created now. Duplicates within `list` count once.
 */
export async function insertRequests(db: Db, list: readonly NewRequest[]): Promise<InsertedRequest[]> {
  if (!list.length) return [];
  const keyOf = (r: { sourceId: number; instruction: string; model: string }) => `${r.sourceId}\u0000${r.model}\u0000${r.instruction}`;
  const unique = [...new Map(list.map((r) => [keyOf(r), r])).values()];
  // One statement over unnest()ed arrays, each bound as one parameter: six whatever the batch size.
  const inserted = (
    await rows<{ id: number; source_id: number; instruction: string; model: string; status: string }>(
      db,
      sql`INSERT INTO requests (source_id, instruction, category, candidates_wanted, model, base_seed)
          SELECT * FROM unnest(${sql.param(unique.map((r) => r.sourceId))}::bigint[], ${sql.param(unique.map((r) => r.instruction))}::text[],
                               ${sql.param(unique.map((r) => r.category))}::text[], ${sql.param(unique.map((r) => r.candidatesWanted))}::int[],
                               ${sql.param(unique.map((r) => r.model))}::text[], ${sql.param(unique.map((r) => r.baseSeed))}::int[])
          ON CONFLICT DO NOTHING
          RETURNING id, source_id, instruction, model, status`,
    )
  ).map((r) => ({ id: Number(r.id), sourceId: Number(r.source_id), instruction: r.instruction, model: r.model, status: r.status }));
  const byKey = new Map<string, InsertedRequest>();
  for (const r of inserted) byKey.set(keyOf(r), { id: r.id, status: r.status, created: true });
  const missing = unique.filter((r) => !byKey.has(keyOf(r)));
  if (missing.length) {
    const found = await rows<{ id: number; source_id: number; instruction: string; model: string; status: string }>(
      db,
      sql`SELECT r.id, r.source_id, r.instruction, r.model, r.status
          FROM requests r
          JOIN unnest(${sql.param(missing.map((m) => m.sourceId))}::bigint[], ${sql.param(missing.map((m) => m.instruction))}::text[], ${sql.param(missing.map((m) => m.model))}::text[])
            AS k(source_id, instruction, model)
            ON r.source_id = k.source_id AND r.instruction = k.instruction AND r.model = k.model`,
    );
    for (const r of found) byKey.set(keyOf({ sourceId: Number(r.source_id), instruction: r.instruction, model: r.model }), { id: Number(r.id), status: r.status, created: false });
  }
  const seen = new Set<string>();
  return list.map((r) => {
    const k = keyOf(r);
    const hit = byKey.get(k)!;
    const first = !seen.has(k);
    seen.add(k);
    return first ? hit : { ...hit, created: false };
  });
}

export interface RequestForGenerate {
  id: number;
  status: string;
  instruction: string;
  category: string;
  candidatesWanted: number;
  model: string;
  baseSeed: number;
  sourceBlob: string;
  sourceSha256: string;
  candidates: number;
}

/** What the generate stage needs about one request, with its source and how many candidates exist. */
export async function getRequestForGenerate(db: Db, id: number): Promise<RequestForGenerate | undefined> {
  const [r] = await rows<Record<string, unknown>>(
    db,
    sql`SELECT r.id, r.status, r.instruction, r.category, r.candidates_wanted, r.model, r.base_seed,
               s.blob AS source_blob, s.sha256 AS source_sha256,
               (SELECT count(*) FROM candidates c WHERE c.request_id = r.id)::int AS candidates
        FROM requests r JOIN sources s ON s.id = r.source_id WHERE r.id = ${id}`,
  );
  if (!r) return undefined;
  return {
    id: Number(r.id),
    status: String(r.status),
    instruction: String(r.instruction),
    category: String(r.category),
    candidatesWanted: Number(r.candidates_wanted),
    model: String(r.model),
    baseSeed: Number(r.base_seed),
    sourceBlob: String(r.source_blob),
    sourceSha256: String(r.source_sha256),
    candidates: Number(r.candidates),
  };
}

/** pending → generated (its candidates exist). */
export async function markRequestGenerated(db: Db, id: number): Promise<void> {
  await db.execute(sql`UPDATE requests SET status = 'generated', generated_at = coalesce(generated_at, now()) WHERE id = ${id} AND status = 'pending'`);
}

/** pending → failed: generation gave up for good. The request is settled (nothing more will happen). */
export async function markRequestFailed(db: Db, id: number): Promise<boolean> {
  const r = await rows<{ id: number }>(db, sql`UPDATE requests SET status = 'failed', settled_at = now() WHERE id = ${id} AND status = 'pending' RETURNING id`);
  return r.length > 0;
}

/**
 * generated → settled when every candidate is judged, rejected or failed (a rejected one, when
 * JUDGE_REJECTED, once judged too). Returns true for the one caller that made the transition
 * (that caller enqueues select).
 */
export async function settleRequest(db: Db, id: number, opts: SettleOptions = {}): Promise<'settled' | 'due' | false> {
  // The outer SELECT reads the snapshot before the UPDATE: `due` is an earlier settle whose
  // selection has not happened (its caller may have died before enqueueing it).
  const [r] = await rows<{ settled: boolean; due: boolean }>(
    db,
    sql`WITH s AS (
          UPDATE requests r SET status = 'settled', settled_at = now()
          WHERE r.id = ${id} AND r.status = 'generated'
            AND EXISTS (SELECT 1 FROM candidates c WHERE c.request_id = r.id)
            AND NOT EXISTS (SELECT 1 FROM candidates c WHERE c.request_id = r.id AND NOT ${terminal(opts)})
          RETURNING r.id)
        SELECT EXISTS (SELECT 1 FROM s) AS settled,
               EXISTS (SELECT 1 FROM requests r WHERE r.id = ${id} AND r.status = 'settled' AND (r.selected_at IS NULL OR r.settled_at > r.selected_at)) AS due`,
  );
  return r?.settled ? 'settled' : r?.due ? 'due' : false;
}

export interface SettleOptions {
  /** JUDGE_REJECTED: a rejected candidate is terminal only once its judging is over (judged_at set). Default true. */
  judgeRejected?: boolean;
}

/** Whether candidate `c` is terminal: judged, failed, or rejected (and, when rejected ones are judged, judged). */
const terminal = (opts: SettleOptions) =>
  sql`(c.status IN ('judged', 'failed') OR (c.status = 'rejected' AND (c.judged_at IS NOT NULL OR NOT ${opts.judgeRejected ?? true}::boolean)))`;

/** Settles every generated request whose candidates are all terminal (one statement); returns their ids. */
export async function settleAllDone(db: Db, opts: SettleOptions = {}): Promise<number[]> {
  const r = await rows<{ id: number }>(
    db,
    sql`UPDATE requests r SET status = 'settled', settled_at = now()
        WHERE r.status = 'generated'
          AND EXISTS (SELECT 1 FROM candidates c WHERE c.request_id = r.id)
          AND NOT EXISTS (SELECT 1 FROM candidates c WHERE c.request_id = r.id AND NOT ${terminal(opts)})
        RETURNING r.id`,
  );
  return r.map((x) => Number(x.id)).sort((a, b) => a - b);
}

/** failed → pending (retry-failed of a generate failure). */
export async function reopenFailedRequest(db: Db, id: number): Promise<boolean> {
  const r = await rows<{ id: number }>(db, sql`UPDATE requests SET status = 'pending', settled_at = NULL WHERE id = ${id} AND status = 'failed' RETURNING id`);
  return r.length > 0;
}

/** settled/selected → generated: one of its candidates goes back to work (retry-failed). */
export async function unsettleRequest(db: Db, id: number): Promise<void> {
  await db.execute(sql`UPDATE requests SET status = 'generated', settled_at = NULL WHERE id = ${id} AND status IN ('settled', 'selected')`);
}

/** Ids of requests in `status`, after `after`, at most `limit` (keyset pages for reconcile). */
export async function requestIdsByStatus(db: Db, status: 'pending' | 'generated', after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM requests WHERE status = ${status} AND id > ${after} ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}

/** Requests whose selection is due (settled, or settled again or reviewed since their last selection) and not failed at select. */
export async function requestIdsToSelect(db: Db, after: number, limit: number): Promise<number[]> {
  const r = await rows<{ id: number }>(
    db,
    sql`SELECT r.id FROM requests r
        WHERE r.status IN ('settled', 'selected') AND (r.selected_at IS NULL OR r.settled_at > r.selected_at OR r.reviewed_at > r.selected_at) AND r.id > ${after}
          AND NOT EXISTS (SELECT 1 FROM failures f WHERE f.stage = 'select' AND f.request_id = r.id AND f.resolved_at IS NULL)
        ORDER BY r.id LIMIT ${limit}`,
  );
  return r.map((x) => Number(x.id));
}

/** Whether one request's selection is due (the conditions of requestIdsToSelect, by primary key). */
export async function isSelectionDue(db: Db, id: number): Promise<boolean> {
  const r = await rows<{ id: number }>(
    db,
    sql`SELECT r.id FROM requests r
        WHERE r.id = ${id} AND r.status IN ('settled', 'selected') AND (r.selected_at IS NULL OR r.settled_at > r.selected_at OR r.reviewed_at > r.selected_at)
          AND NOT EXISTS (SELECT 1 FROM failures f WHERE f.stage = 'select' AND f.request_id = r.id AND f.resolved_at IS NULL)`,
  );
  return r.length > 0;
}

export interface RunProgress {
  requests: number;
  /** Requests past generation (generated, settled, selected or failed). */
  generated: number;
  candidates: number;
  /** Candidates with a check outcome (checked, judged, rejected) or failed. */
  checked: number;
  /** Candidates that passed the checks. */
  toJudge: number;
  /** Of those, judged or failed. */
  judged: number;
  settled: number;
  selected: number;
  failedRequests: number;
  /** Requests with nothing left to do: selected, failed, or failed for good at select. */
  finished: number;
}

/** Progress of a set of requests (all when `ids` is omitted): what run-local and demo show. */
export async function runProgress(db: Db, ids?: readonly number[]): Promise<RunProgress> {
  const filter = ids ? sql`r.id = ANY(${sql.param(ids)}::bigint[])` : sql`true`;
  const [r] = await rows<Record<string, number>>(
    db,
    sql`WITH r AS (SELECT * FROM requests r WHERE ${filter}),
        c AS (SELECT c.* FROM candidates c JOIN r ON r.id = c.request_id)
        SELECT
          (SELECT count(*) FROM r)::int AS requests,
          (SELECT count(*) FROM r WHERE status <> 'pending')::int AS generated,
          (SELECT count(*) FROM c)::int AS candidates,
          (SELECT count(*) FROM c WHERE status <> 'generated')::int AS checked,
          (SELECT count(*) FROM c WHERE status IN ('checked', 'judged') OR (status = 'failed' AND checked_at IS NOT NULL))::int AS to_judge,
          (SELECT count(*) FROM c WHERE status = 'judged' OR (status = 'failed' AND checked_at IS NOT NULL))::int AS judged,
          (SELECT count(*) FROM r WHERE settled_at IS NOT NULL)::int AS settled,
          (SELECT count(*) FROM r WHERE status = 'selected')::int AS selected,
          (SELECT count(*) FROM r WHERE status = 'failed')::int AS failed_requests,
          (SELECT count(*) FROM r WHERE status IN ('selected', 'failed')
             OR EXISTS (SELECT 1 FROM failures f WHERE f.stage = 'select' AND f.request_id = r.id AND f.resolved_at IS NULL))::int AS finished`,
  );
  const n = (k: string) => Number(r?.[k] ?? 0);
  return {
    requests: n('requests'),
    generated: n('generated'),
    candidates: n('candidates'),
    checked: n('checked'),
    toJudge: n('to_judge'),
    judged: n('judged'),
    settled: n('settled'),
    selected: n('selected'),
    failedRequests: n('failed_requests'),
    finished: n('finished'),
  };
}
