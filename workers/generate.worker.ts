/**
 * The `generate` queue's worker: generateStage behind the shared processor wrapper.
 */
import type { Queue, Worker } from 'bullmq';
import type { JobPayloads } from '../pipeline/jobs.ts';
import { createWorker, type WorkerOptions } from '../pipeline/queues.ts';
import { generateStage } from '../pipeline/stages/generate.ts';
import type { StageDeps } from '../pipeline/stages/types.ts';
import { onJobFailed, stageProcessor } from './processor.ts';

/** Starts a `generate` worker on `redisUrl` under `deps.queues.prefix`. */
export function startGenerateWorker(deps: StageDeps, redisUrl: string, opts: WorkerOptions): Worker<JobPayloads['generate']> {
  const queue = deps.queues.queues.generate as unknown as Queue;
  const worker = createWorker('generate', stageProcessor(generateStage, deps, queue), redisUrl, deps.queues.prefix, opts);
  worker.on('failed', (job, err) => void onJobFailed(generateStage, deps, job, err));
  return worker;
}
