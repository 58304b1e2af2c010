/**
 * Re-running a stage under a new version without regenerating: `recheck` enqueues a check for
 * every candidate with no check of the current check version, `rejudge` a judgment for every
 * candidate the current judge version should judge and has not. Both page through the ledger
 * (so a second run resumes: it finds only what is still missing), send the candidates back
 * (their requests unsettle, so their selection is not exported meanwhile), and enqueue the
 * stage; when the last candidate of a request is done, the request settles and is selected again.
 */
import type { Config } from '../config.ts';
import type { JudgeVersion } from '../judge/index.ts';
import { enqueueJobs, type QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';
import {
  candidatesWithoutCheck,
  candidatesWithoutJudgment,
  countPastStage,
  reopenForChecking,
  reopenForJudging,
} from '../../db/repositories/candidates.repository.ts';

export interface ReworkSummary {
  /** Candidates sent back and enqueued. */
  enqueued: number;
  /** Their ids (what progress is measured on). */
  candidateIds: number[];
}

const PAGE = 1000; // candidates per query and per enqueue call

async function rework(
  deps: { db: Db; queues: QueueSet },
  next: (after: number) => Promise<number[]>,
  reopen: (ids: number[]) => Promise<number[]>,
  queue: 'check' | 'judge',
  signal?: AbortSignal,
): Promise<ReworkSummary> {
  const out: ReworkSummary = { enqueued: 0, candidateIds: [] };
  let after = 0;
  for (;;) {
    signal?.throwIfAborted();
    const ids = await next(after);
    if (!ids.length) return out;
    after = ids[ids.length - 1]!;
    const moved = await reopen(ids);
    // A finished job of the same id (the earlier version's) is replaced so the work runs again.
    out.enqueued += await enqueueJobs(deps.queues, queue, moved.map((candidateId) => ({ candidateId })), { replaceFinished: true });
    out.candidateIds.push(...moved);
  }
}

/** Enqueues a check of `checkVersion` for every candidate without one (failed candidates excepted). */
export function recheck(deps: { db: Db; queues: QueueSet }, checkVersion: string, opts: { signal?: AbortSignal } = {}): Promise<ReworkSummary> {
  return rework(deps, (after) => candidatesWithoutCheck(deps.db, checkVersion, after, PAGE), (ids) => reopenForChecking(deps.db, ids), 'check', opts.signal);
}

/**
 * Enqueues a judgment by `judge` for every candidate that passed its checks (or, with
 * JUDGE_REJECTED, failed them) and has no current judgment of that version; with several
 * versions (JUDGES_FILE), every candidate that lacks any one of them (the judge stage then asks
 * only the judges it lacks).
 */
export function rejudge(
  deps: { db: Db; queues: QueueSet; config: Pick<Config, 'judge'> },
  judge: JudgeVersion | readonly JudgeVersion[],
  opts: { signal?: AbortSignal } = {},
): Promise<ReworkSummary> {
  return rework(
    deps,
    (after) => candidatesWithoutJudgment(deps.db, judge, deps.config.judge.judgeRejected, after, PAGE),
    (ids) => reopenForJudging(deps.db, ids),
    'judge',
    opts.signal,
  );
}

/** How many of `ids` are past the stage (checked / judged, or failed for good): the progress of a recheck or rejudge. */
export async function reworkDone(db: Db, ids: readonly number[], stage: 'check' | 'judge'): Promise<number> {
  let done = 0;
  for (let i = 0; i < ids.length; i += 10_000) done += await countPastStage(db, ids.slice(i, i + 10_000), stage);
  return done;
}
