/**
 * Settling: a request is settled once every candidate is judged, rejected by a hard check (and,
 * with JUDGE_REJECTED, judged too) or failed for good; the caller whose UPDATE made the transition
 * enqueues `select`, and so does any later caller while that selection has not happened: a
 * process killed between the UPDATE and the enqueue leaves a job to be retried, and the retry
 * finds the request settled and enqueues what the first attempt could not.
 */
import { enqueueJobs } from '../queues.ts';
import { settleRequest } from '../../db/repositories/requests.repository.ts';
import type { StageDeps } from './types.ts';

/** Settles `requestId` when all its candidates are terminal, and enqueues its selection while it is due. Returns whether it settled now. */
export async function settleIfDone(deps: Pick<StageDeps, 'db' | 'queues' | 'config'>, requestId: number): Promise<boolean> {
  const settled = await settleRequest(deps.db, requestId, { judgeRejected: deps.config.judge.judgeRejected });
  if (!settled) return false;
  // A previous selection of this request (before a retry-failed) may have left a finished job with
  // this id; a select job waiting already absorbs this one.
  await enqueueJobs(deps.queues, 'select', [{ requestId }], { replaceFinished: true });
  return settled === 'settled';
}
