/**
 * retry-failed: marks open failures resolved and replays their subjects: the request or
 * candidate goes back to the state before the stage that failed (its request unsettled), and
 * that stage's job is enqueued again (a finished job with the same id removed first). For the
 * judge stage it also asks again for the current judge version's unscorable (ok = false)
 * judgments: each is kept as history (superseded) and its candidate judged anew.
 */
import type { JudgeVersion } from '../judge/index.ts';
import type { QueueName } from '../jobs.ts';
import { enqueueJobs, type QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';
import { moveCandidate, reopenForJudging } from '../../db/repositories/candidates.repository.ts';
import { openFailures, resolveFailure } from '../../db/repositories/failures.repository.ts';
import { supersedeFailedJudgments } from '../../db/repositories/judgments.repository.ts';
import { reopenFailedRequest, unsettleRequest } from '../../db/repositories/requests.repository.ts';

export interface RetrySummary {
  /** Failures marked resolved. */
  resolved: number;
  /** Jobs enqueued again, per queue. */
  enqueued: Record<QueueName, number>;
  /** Failures left open: stages that cannot be replayed from here (enqueue, export). */
  skipped: number;
  /** Unscorable judgments of the current judge version asked again (kept as history). */
  unscorable: number;
}

/** Replays open failures (of one stage, or all). */
export async function retryFailed(
  deps: { db: Db; queues: QueueSet },
  opts: {
    stage?: string;
    /** The judge version(s) whose unscorable judgments are asked again (stage judge or all); JUDGES_FILE: one per judge. */
    judge?: JudgeVersion | readonly JudgeVersion[];
  } = {},
): Promise<RetrySummary> {
  const out: RetrySummary = { resolved: 0, enqueued: { generate: 0, check: 0, judge: 0, select: 0 }, skipped: 0, unscorable: 0 };
  if (opts.judge && (opts.stage === undefined || opts.stage === 'judge')) {
    const versions = Array.isArray(opts.judge) ? opts.judge : [opts.judge as JudgeVersion];
    const ids = [...new Set((await Promise.all(versions.map((v) => supersedeFailedJudgments(deps.db, v)))).flat())].sort((a, b) => a - b);
    const moved = await reopenForJudging(deps.db, ids);
    out.unscorable = ids.length;
    out.enqueued.judge += await enqueueJobs(deps.queues, 'judge', moved.map((candidateId) => ({ candidateId })), { replaceFinished: true });
  }
  for (const f of await openFailures(deps.db, { stage: opts.stage })) {
    switch (f.stage) {
      case 'generate':
        if (f.requestId !== undefined) await reopenFailedRequest(deps.db, f.requestId);
        break;
      case 'check':
        if (f.candidateId !== undefined) await moveCandidate(deps.db, f.candidateId, ['failed'], 'generated');
        if (f.requestId !== undefined) await unsettleRequest(deps.db, f.requestId);
        break;
      case 'judge':
        if (f.candidateId !== undefined) await moveCandidate(deps.db, f.candidateId, ['failed'], 'checked');
        if (f.requestId !== undefined) await unsettleRequest(deps.db, f.requestId);
        break;
      case 'select':
        break;
      default:
        out.skipped++;
        continue;
    }
    if (!(await resolveFailure(deps.db, f.id))) continue;
    out.resolved++;
    const q = f.stage;
    if (q === 'generate' || q === 'select') {
      if (f.requestId !== undefined) out.enqueued[q] += await enqueueJobs(deps.queues, q, [{ requestId: f.requestId }], { replaceFinished: true });
    } else if (f.candidateId !== undefined) {
      out.enqueued[q] += await enqueueJobs(deps.queues, q, [{ candidateId: f.candidateId }], { replaceFinished: true });
    }
  }
  return out;
}
