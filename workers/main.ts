/**
 * Starts the chosen queues' workers in this process with shared stage dependencies: the
 * inference client (the built-in core in-process when no INFERENCE_URL is set), the judge, the
 * database, the blob store and the queues follow-up jobs go to. `generate` is capped globally
 * (all workers on this Redis together) at GPU_SLOTS.
 */
import type { Worker } from 'bullmq';
import type { BlobStore } from '../pipeline/blobs.ts';
import type { Config } from '../pipeline/config.ts';
import { createInferenceClient } from '../pipeline/inference/inference.client.ts';
import { startInferenceServer } from '../pipeline/builtin/inference-server.ts';
import type { QueueName } from '../pipeline/jobs.ts';
import type { QueueSet } from '../pipeline/queues.ts';
import type { StageDeps } from '../pipeline/stages/types.ts';
import type { Db } from '../db/client.ts';
import { createJudge, createJudges } from './judges.ts';
import { startCheckWorker } from './check.worker.ts';
import { startGenerateWorker } from './generate.worker.ts';
import { startJudgeWorker } from './judge.worker.ts';
import { startSelectWorker } from './select.worker.ts';
import { markOnMainThread } from '../pipeline/checks/gc.ts';

export interface RunningWorkers {
  deps: StageDeps;
  workers: Worker[];
  /** URL of the in-process inference core, when one was started. */
  builtinInferenceUrl?: string;
  /** Closes the workers (active jobs finish first), then the in-process inference core. */
  close(): Promise<void>;
}

export interface StartWorkersOptions {
  db: Db;
  blobs: BlobStore;
  config: Config;
  queues: QueueSet;
  redisUrl: string;
  which: readonly QueueName[];
  /** Overrides every queue's concurrency (else generate: GPU_SLOTS, check: CHECK_CONCURRENCY, judge: 2 × JUDGE_CONCURRENCY, select: 2). */
  concurrency?: number;
  onError?: (queue: QueueName, err: Error) => void;
}

/** Builds the stage dependencies the chosen queues need. */
export async function buildStageDeps(o: Omit<StartWorkersOptions, 'redisUrl' | 'concurrency' | 'onError'>): Promise<{ deps: StageDeps; builtinUrl?: string; close(): Promise<void> }> {
  const deps: StageDeps = { db: o.db, blobs: o.blobs, config: o.config, queues: o.queues };
  let closeServer = async () => {};
  let builtinUrl: string | undefined;
  if (o.which.includes('generate')) {
    let urls = o.config.inference.urls;
    if (!urls.length) {
      const srv = await startInferenceServer({ port: 0, apiKey: o.config.inference.apiKey, maxPixels: o.config.checks.maxImagePixels });
      closeServer = () => srv.close();
      builtinUrl = srv.url;
      urls = [srv.url];
    }
    const i = o.config.inference;
    deps.inference = createInferenceClient({ urls, model: i.model, timeoutMs: i.timeoutMs, maxAttempts: i.maxAttempts, apiKey: i.apiKey });
  }
  if (o.which.includes('judge') || o.which.includes('select')) {
    if (o.config.judge.judges) {
      deps.judges = createJudges(o.config.judge);
      deps.judge = deps.judges[0];
    } else deps.judge = createJudge(o.config.judge);
  }
  return { deps, builtinUrl, close: closeServer };
}

/** Starts one worker per chosen queue. */
export async function startWorkers(o: StartWorkersOptions): Promise<RunningWorkers> {
  const built = await buildStageDeps(o);
  const { deps } = built;
  const c = o.config;
  const lockMs = c.queue.lockMs;
  const conc = (q: QueueName, def: number) => ({ concurrency: o.concurrency ?? def, lockMs, onError: (e: Error) => o.onError?.(q, e) });
  const workers: Worker[] = [];
  for (const q of o.which) {
    switch (q) {
      case 'generate':
        await o.queues.queues.generate.setGlobalConcurrency(c.inference.gpuSlots);
        workers.push(startGenerateWorker(deps, o.redisUrl, conc(q, c.inference.gpuSlots)) as unknown as Worker);
        break;
      case 'check':
        markOnMainThread(); // the checks' decoded images set off a collection every check or two
        workers.push(startCheckWorker(deps, o.redisUrl, conc(q, c.checks.concurrency)) as unknown as Worker);
        break;
      case 'judge':
        // Twice JUDGE_CONCURRENCY jobs: while JUDGE_CONCURRENCY requests wait on the VLM (the judge
        // client's own limit), the others read blobs, resize and write their rows, so the VLM is
        // never left idle by the per-job work around each call.
        // With JUDGES_FILE a job waits on every judge: the largest judge's limit sets the pace.
        workers.push(startJudgeWorker(deps, o.redisUrl, conc(q, Math.max(c.judge.concurrency, ...(c.judge.judges ?? []).map((j) => j.concurrency ?? c.judge.concurrency)) * 2)) as unknown as Worker);
        break;
      case 'select':
        workers.push(startSelectWorker(deps, o.redisUrl, conc(q, 2)) as unknown as Worker);
        break;
      default: {
        const never: never = q;
        throw new Error(`unknown queue ${String(never)}`);
      }
    }
  }
  return {
    deps,
    workers,
    builtinInferenceUrl: built.builtinUrl,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await built.close();
    },
  };
}
