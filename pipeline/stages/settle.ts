/**
 * Settling: a request is settled once every candidate is judged, rejected by a hard check (and,
 * with JUDGE_REJECTED, judged too) or failed for good; the one caller whose UPDATE made the
 * transition enqueues `select`.
 */
import { enqueueJobs } from '../queues.ts';
import { settleRequest } from '../../db/repositories/requests.repository.ts';
import type { StageDeps } from './types.ts';

/** Settles `requestId` when all its candidates are terminal, and enqueues its selection. Returns whether it settled now. */
export async function settleIfDone(deps: Pick<StageDeps, 'db' | 'queues' | 'config'>, requestId: number): Promise<boolean> {
  if (!(await settleRequest(deps.db, requestId, { judgeRejected: deps.config.judge.judgeRejected }))) return false;
  // A previous selection of this request (before a retry-failed) may have left a finished job with this id.
  await enqueueJobs(deps.queues, 'select', [{ requestId }], { replaceFinished: true });
  return true;
}
