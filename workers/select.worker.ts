/**
 * The `select` queue's worker: selectStage behind the shared processor wrapper.
 */
import type { Queue, Worker } from 'bullmq';
import type { JobPayloads } from '../pipeline/jobs.ts';
import { createWorker, type WorkerOptions } from '../pipeline/queues.ts';
import { selectStage } from '../pipeline/stages/select.ts';
import type { StageDeps } from '../pipeline/stages/types.ts';
import { onJobFailed, stageProcessor } from './processor.ts';

/** Starts a `select` worker on `redisUrl` under `deps.queues.prefix`. */
export function startSelectWorker(deps: StageDeps, redisUrl: string, opts: WorkerOptions): Worker<JobPayloads['select']> {
  const queue = deps.queues.queues.select as unknown as Queue;
  const worker = createWorker('select', stageProcessor(selectStage, deps, queue), redisUrl, deps.queues.prefix, opts);
  worker.on('failed', (job, err) => void onJobFailed(selectStage, deps, job, err));
  return worker;
}
