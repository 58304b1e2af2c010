/**
 * BullMQ plumbing: one queue per stage under one key prefix, default job options (bounded
 * retries with exponential backoff, bounded history), worker factories, and `enqueueJobs`,
 * which adds jobs with deterministic ids so that duplicates are no-ops.
 */
import { Queue, Worker, type JobsOptions, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobId, QUEUE_NAMES, type JobPayloads, type QueueName } from './jobs.ts';
import { redisConnection } from './redis.ts';

/** Default options of every job: retries with backoff, and a bounded history in Redis. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 1000 }, // 1 s, 2 s, 4 s
  // Bounded by count only: an age bound makes every completion scan the set by time.
  removeOnComplete: { count: 2000 }, // newest 2000 completed jobs kept
  removeOnFail: { count: 10_000 }, // newest 10 000 failed jobs kept (Postgres keeps every failure anyway)
};

/** Jobs per `addBulk` call: one Redis round trip per batch. */
export const ADD_BULK_BATCH = 500;

export type StageQueues = { [Q in QueueName]: Queue<JobPayloads[Q]> };

export interface QueueSet {
  prefix: string;
  queues: StageQueues;
  /** The shared connection of the queues (not of workers). */
  connection: Redis;
  close(): Promise<void>;
}

/** Opens the four stage queues on one shared connection. */
export function openQueues(redisUrl: string, prefix: string): QueueSet {
  const connection = redisConnection(redisUrl);
  connection.on('error', () => {}); // ioredis reconnects by itself; commands surface errors
  const make = <Q extends QueueName>(name: Q) =>
    new Queue<JobPayloads[Q]>(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  const queues = {
    generate: make('generate'),
    check: make('check'),
    judge: make('judge'),
    select: make('select'),
  } as StageQueues;
  for (const q of Object.values(queues)) q.on('error', () => {});
  return {
    prefix,
    queues,
    connection,
    async close() {
      await Promise.all(Object.values(queues).map((q) => q.close()));
      connection.disconnect();
    },
  };
}

export interface WorkerOptions {
  concurrency: number;
  /** Job lock (ms): a killed worker's active jobs go back to waiting after about this long. */
  lockMs: number;
  /** How many times a job may stall (its worker died) before it fails; default 8. */
  maxStalledCount?: number;
  /** Connection and internal errors (the worker keeps going); default: ignored. */
  onError?: (err: Error) => void;
}

/**
 * A worker on `name` with its own connection. Stalled jobs (their worker was killed) are
 * checked every lockMs/2 and retried, up to maxStalledCount times.
 */
export function createWorker<Q extends QueueName>(
  name: Q,
  processor: Processor<JobPayloads[Q]>,
  redisUrl: string,
  prefix: string,
  opts: WorkerOptions,
): Worker<JobPayloads[Q]> {
  const connection = redisConnection(redisUrl);
  connection.on('error', () => {});
  const worker = new Worker<JobPayloads[Q]>(name, processor, {
    connection,
    prefix,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    stalledInterval: Math.max(1000, Math.floor(opts.lockMs / 2)),
    maxStalledCount: opts.maxStalledCount ?? 8,
    autorun: true,
  });
  worker.on('error', (err) => opts.onError?.(err)); // an 'error' event without a listener would throw
  worker.on('closed', () => connection.disconnect());
  return worker;
}

/**
 * Adds one job per payload with its deterministic id, `ADD_BULK_BATCH` per round trip. A job
 * whose id is already waiting, active or delayed is left alone (BullMQ ignores the duplicate);
 * select jobs follow enqueueSelect's rule instead (never dropped behind a running one).
 * With `replaceFinished`, a completed or failed job of the same id is removed first so the
 * work runs again (reconcile, retry-failed, a request settled again).
 */
export async function enqueueJobs<Q extends QueueName>(
  set: QueueSet,
  name: Q,
  payloads: readonly JobPayloads[Q][],
  opts: { replaceFinished?: boolean } = {},
): Promise<number> {
  if (name === 'select') return enqueueSelect(set, payloads as readonly JobPayloads['select'][]);
  const queue = set.queues[name] as Queue<JobPayloads[Q]>;
  let added = 0;
  for (let i = 0; i < payloads.length; i += ADD_BULK_BATCH) {
    const batch = payloads.slice(i, i + ADD_BULK_BATCH);
    if (opts.replaceFinished) await removeFinished(set, name, batch.map((p) => jobId(name, p)));
    // Queue<T>.add/addBulk's name parameter is typed from the data type; the queue name is the job name.
    const q = queue as unknown as Queue;
    if (batch.length === 1) {
      // One follow-up job (most stage jobs add one): a plain add, without addBulk's MULTI/EXEC.
      await q.add(name, batch[0], { jobId: jobId(name, batch[0]!) });
    } else {
      await q.addBulk(batch.map((data) => ({ name, data, opts: { jobId: jobId(name, data) } })) as never);
    }
    added += batch.length;
  }
  return added;
}

/**
 * Select jobs are never dropped. BullMQ ignores an add whose id exists, and a select job that is
 * already running may have read the ledger before the change that asks for selection now (a
 * review, a settle). So a select job is deduplicated only against a job of the same request that
 * has not started yet (it will read the change); when the request's job is running or finished,
 * a new job is added under the next generation id, `select-R-G` (the first one is `select-R`).
 * Generations live in one Redis hash per prefix. Two callers racing may both add one: selection
 * is idempotent and locks its requests, so the second run changes nothing.
 */
async function enqueueSelect(set: QueueSet, payloads: readonly JobPayloads['select'][]): Promise<number> {
  const genKey = `${set.prefix}:select:generation`;
  const queue = set.queues.select as unknown as Queue;
  const idOf = (requestId: number, gen: number) => (gen === 0 ? jobId('select', { requestId }) : `select-${requestId}-${gen}`);
  let added = 0;
  for (let i = 0; i < payloads.length; i += ADD_BULK_BATCH) {
    const batch = [...new Map(payloads.slice(i, i + ADD_BULK_BATCH).map((p) => [p.requestId, p])).values()];
    const gens = ((await set.connection.hmget(genKey, ...batch.map((p) => String(p.requestId)))) ?? []).map((g) => Number(g ?? 0));
    const pipe = set.connection.pipeline();
    batch.forEach((p, k) => pipe.hmget(`${set.prefix}:select:${idOf(p.requestId, gens[k]!)}`, 'processedOn', 'finishedOn', 'data'));
    const states = (await pipe.exec()) ?? [];
    const jobs: { name: string; data: JobPayloads['select']; opts: JobsOptions }[] = [];
    for (let k = 0; k < batch.length; k++) {
      const p = batch[k]!;
      const [processedOn, , data] = (states[k]?.[1] as (string | null)[] | undefined) ?? [null, null, null];
      if (data != null && processedOn == null) continue; // not started yet: it will read the change
      // no job under this generation: add it; else it started or finished: the next generation
      const gen = data == null ? gens[k]! : await set.connection.hincrby(genKey, String(p.requestId), 1);
      jobs.push({ name: 'select', data: p, opts: { jobId: idOf(p.requestId, gen) } });
    }
    if (jobs.length === 1) await queue.add(jobs[0]!.name, jobs[0]!.data, jobs[0]!.opts);
    else if (jobs.length) await queue.addBulk(jobs);
    added += jobs.length;
  }
  return added;
}

/** Removes completed or failed jobs among `ids` (one pipeline of state lookups, then removes). */
async function removeFinished(set: QueueSet, name: QueueName, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const queue = set.queues[name] as unknown as Queue;
  const pipe = set.connection.pipeline();
  for (const id of ids) pipe.hget(`${set.prefix}:${name}:${id}`, 'finishedOn');
  const res = (await pipe.exec()) ?? [];
  const finished = ids.filter((_, i) => res[i]?.[1] != null);
  for (const id of finished) {
    await queue.remove(id).catch(() => 0); // a job locked by a worker is not removed: it is live
  }
}

/** Waiting, active, delayed, failed and completed counts per queue. */
export type QueueDepths = Record<QueueName, { waiting: number; active: number; delayed: number; failed: number; completed: number; prioritized: number }>;

/** Current job counts of every stage queue. */
export async function queueDepths(set: QueueSet): Promise<QueueDepths> {
  const out = {} as QueueDepths;
  for (const name of QUEUE_NAMES) {
    const c = await (set.queues[name] as unknown as Queue).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    out[name] = {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
      prioritized: c.prioritized ?? 0,
    };
  }
  return out;
}

/** Deletes every key under `prefix` (tests; `demo` never calls it). SCAN-based, never KEYS. */
export async function deletePrefixKeys(connection: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await connection.del(...keys);
  } while (cursor !== '0');
  return n;
}
