/**
 * The one wrapper every queue's processor goes through: runs the stage, counts the outcome and
 * its latency, turns 429/503 into a queue rate limit (no attempt used, at most
 * RATE_LIMITED_RUNS_MAX times per job), and after the last attempt, or on an error the queue
 * does not retry (retriedByQueue: the HTTP clients already spent their attempts), records the
 * failure (stage.giveUp) and throws BullMQ's UnrecoverableError so the job ends failed.
 */
import { UnrecoverableError, Worker, type Job, type Processor, type Queue } from 'bullmq';
import { describeError, RateLimitError, retriedByQueue } from '../pipeline/errors/index.ts';
import type { JobPayloads, QueueName } from '../pipeline/jobs.ts';
import { gpuSlotsInUse, jobsTotal, stageSeconds } from '../pipeline/metrics.ts';
import type { Stage, StageDeps, StageResult } from '../pipeline/stages/types.ts';

/** Runs of one job that may end rate limited (429/503) before the job gives up. */
export const RATE_LIMITED_RUNS_MAX = 20;

/** The queue's pause after a rate limit whose server named no wait (ms). */
const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * Translates a client's RateLimitError for BullMQ: pauses the queue for the server's retry-after
 * (`queue.rateLimit(ms)`, shared by every worker of the queue) and throws
 * `Worker.RateLimitError()`, so the job goes back to waiting without using an attempt. Any other
 * error is returned untouched for the caller to rethrow.
 */
export async function throwIfRateLimited(err: unknown, limiter: { rateLimit(ms: number): Promise<unknown> }): Promise<unknown> {
  if (err instanceof RateLimitError) {
    await limiter.rateLimit(err.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS);
    throw Worker.RateLimitError();
  }
  return err;
}

/** A BullMQ processor for `stage`; `queue` is the stage's queue (its rate limit is shared by all workers). */
export function stageProcessor<Q extends QueueName>(stage: Stage<Q>, deps: StageDeps, queue: Queue): Processor<JobPayloads[Q], StageResult> {
  return async (job: Job<JobPayloads[Q], StageResult>, _token?: string, signal?: AbortSignal) => {
    const end = stageSeconds.startTimer({ stage: stage.name });
    const holdsGpuSlot = stage.name === 'generate'; // the generate queue's global concurrency is GPU_SLOTS
    if (holdsGpuSlot) gpuSlotsInUse.inc();
    try {
      const r = await stage.run(deps, job.data, signal);
      jobsTotal.inc({ queue: stage.name, outcome: r.outcome });
      return r;
    } catch (err) {
      // attemptsStarted counts every run, rate-limited ones included; attemptsMade only failed ones
      const rateLimitedRuns = (job.attemptsStarted ?? 0) - job.attemptsMade - (job.stalledCounter ?? 0);
      if (err instanceof RateLimitError && rateLimitedRuns >= RATE_LIMITED_RUNS_MAX) {
        const why = `${describeError(err)} (rate limited ${rateLimitedRuns} times; giving up)`;
        await stage.giveUp(deps, job.data, why, job.attemptsMade + 1);
        jobsTotal.inc({ queue: stage.name, outcome: 'failed' });
        throw new UnrecoverableError(why);
      }
      try {
        await throwIfRateLimited(err, queue);
      } catch (limited) {
        jobsTotal.inc({ queue: stage.name, outcome: 'rate_limited' });
        throw limited;
      }
      const attempts = job.attemptsMade + 1;
      const why = describeError(err);
      if (!retriedByQueue(err) || attempts >= (job.opts.attempts ?? 1)) {
        await stage.giveUp(deps, job.data, why, attempts);
        jobsTotal.inc({ queue: stage.name, outcome: 'failed' });
        throw new UnrecoverableError(why);
      }
      jobsTotal.inc({ queue: stage.name, outcome: 'retry' });
      throw err;
    } finally {
      end();
      if (holdsGpuSlot) gpuSlotsInUse.dec();
    }
  };
}

/**
 * For jobs BullMQ fails by itself (stalled too many times: its workers kept dying): records the
 * failure like the processor would. Wire to the worker's `failed` event.
 */
export async function onJobFailed<Q extends QueueName>(stage: Stage<Q>, deps: StageDeps, job: Job<JobPayloads[Q]> | undefined, err: Error): Promise<void> {
  if (!job || err instanceof UnrecoverableError || err.name === 'UnrecoverableError') return; // the processor recorded it
  if (!/stalled more than allowable limit/i.test(err.message)) return; // a retry is coming, or the processor recorded it
  await stage.giveUp(deps, job.data, err.message, job.attemptsMade + 1).catch(() => {});
}
