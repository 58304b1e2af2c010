/**
 * The `check` queue's worker: checkStage behind the shared processor wrapper.
 */
import type { Queue, Worker } from 'bullmq';
import type { JobPayloads } from '../pipeline/jobs.ts';
import { createWorker, type WorkerOptions } from '../pipeline/queues.ts';
import { checkStage } from '../pipeline/stages/check.ts';
import type { StageDeps } from '../pipeline/stages/types.ts';
import { onJobFailed, stageProcessor } from './processor.ts';

/** Starts a `check` worker on `redisUrl` under `deps.queues.prefix`. */
export function startCheckWorker(deps: StageDeps, redisUrl: string, opts: WorkerOptions): Worker<JobPayloads['check']> {
  const queue = deps.queues.queues.check as unknown as Queue;
  const worker = createWorker('check', stageProcessor(checkStage, deps, queue), redisUrl, deps.queues.prefix, opts);
  worker.on('failed', (job, err) => void onJobFailed(checkStage, deps, job, err));
  return worker;
}
