/**
 * The `judge` queue's worker: judgeStage behind the shared processor wrapper.
 */
import type { Queue, Worker } from 'bullmq';
import type { JobPayloads } from '../pipeline/jobs.ts';
import { createWorker, type WorkerOptions } from '../pipeline/queues.ts';
import { judgeStage } from '../pipeline/stages/judge.ts';
import type { StageDeps } from '../pipeline/stages/types.ts';
import { onJobFailed, stageProcessor } from './processor.ts';

/** Starts a `judge` worker on `redisUrl` under `deps.queues.prefix`. */
export function startJudgeWorker(deps: StageDeps, redisUrl: string, opts: WorkerOptions): Worker<JobPayloads['judge']> {
  const queue = deps.queues.queues.judge as unknown as Queue;
  const worker = createWorker('judge', stageProcessor(judgeStage, deps, queue), redisUrl, deps.queues.prefix, opts);
  worker.on('failed', (job, err) => void onJobFailed(judgeStage, deps, job, err));
  return worker;
}
