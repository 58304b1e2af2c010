/**
 * Reconcile: Postgres says what is unfinished, and each unfinished subject gets its next job
 * again (deterministic ids: a job still waiting, delayed or active is not doubled; a finished
 * job with the same id is removed first so the work can run). After Redis lost everything,
 * this is what makes the run complete.
 */
import type { Config } from '../config.ts';
import type { JobPayloads, QueueName } from '../jobs.ts';
import { enqueueJobs, type QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';
import { candidateIdsByStatus, rejectedIdsToJudge } from '../../db/repositories/candidates.repository.ts';
import { requestIdsByStatus, requestIdsToSelect, settleAllDone } from '../../db/repositories/requests.repository.ts';

export interface ReconcileSummary {
  /** Jobs enqueued per queue. */
  enqueued: Record<QueueName, number>;
  /** Requests settled now (all their candidates were already terminal). */
  settled: number;
}

const PAGE = 1000; // ids per query and per enqueue call

/** Re-enqueues every unfinished subject's next stage, page by page. */
export async function reconcile(deps: { db: Db; queues: QueueSet; config: Pick<Config, 'judge'> }, opts: { signal?: AbortSignal } = {}): Promise<ReconcileSummary> {
  const judgeRejected = deps.config.judge.judgeRejected;
  const out: ReconcileSummary = { enqueued: { generate: 0, check: 0, judge: 0, select: 0 }, settled: 0 };
  const pages = async <Q extends QueueName>(q: Q, next: (after: number) => Promise<number[]>, payload: (id: number) => JobPayloads[Q]) => {
    let after = 0;
    for (;;) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const ids = await next(after);
      if (!ids.length) return;
      out.enqueued[q] += await enqueueJobs(deps.queues, q, ids.map(payload), { replaceFinished: true });
      after = ids[ids.length - 1]!;
    }
  };
  await pages('generate', (after) => requestIdsByStatus(deps.db, 'pending', after, PAGE), (requestId) => ({ requestId }));
  await pages('check', (after) => candidateIdsByStatus(deps.db, 'generated', after, PAGE), (candidateId) => ({ candidateId }));
  await pages('judge', (after) => candidateIdsByStatus(deps.db, 'checked', after, PAGE), (candidateId) => ({ candidateId }));
  // Rejected candidates whose judging has not ended (JUDGE_REJECTED).
  if (judgeRejected) await pages('judge', (after) => rejectedIdsToJudge(deps.db, after, PAGE), (candidateId) => ({ candidateId }));
  out.settled = (await settleAllDone(deps.db, { judgeRejected })).length;
  await pages('select', (after) => requestIdsToSelect(deps.db, after, PAGE), (requestId) => ({ requestId }));
  return out;
}
