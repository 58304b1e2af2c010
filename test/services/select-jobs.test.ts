/**
 * Select jobs are never silently dropped: asking for a request's selection while its select job
 * runs adds another job (a running job may have read the ledger before the change), while asking
 * again before a job started adds nothing (that job will read the change).
 */
import { Worker, type Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { enqueueJobs, openQueues } from '../../pipeline/queues.ts';
import { redisConnection } from '../../pipeline/redis.ts';
import { REDIS_URL, freshPrefix } from './pipeline-helpers.ts';

describe('select jobs', () => {
  const p = freshPrefix('selectjobs');
  const set = openQueues(REDIS_URL, p.prefix);
  afterAll(async () => {
    await set.close();
    await p.cleanup();
  });

  it('adds a job behind a running one, dedupes against a waiting one, and runs both', async () => {
    const q = set.queues.select;
    expect(await enqueueJobs(set, 'select', [{ requestId: 7 }])).toBe(1);
    expect(await enqueueJobs(set, 'select', [{ requestId: 7 }])).toBe(0); // the first has not started
    expect(await q.getWaitingCount()).toBe(1);

    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ran: string[] = [];
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    const connection = redisConnection(REDIS_URL);
    const worker = new Worker(
      'select',
      async (job: Job) => {
        ran.push(job.id!);
        if (ran.length === 1) {
          started();
          await gate; // the first job is running while the request changes
        }
      },
      { connection, prefix: p.prefix, concurrency: 1 },
    );
    try {
      await firstStarted;
      // a review lands now: the running job may have read the ledger before it
      expect(await enqueueJobs(set, 'select', [{ requestId: 7 }])).toBe(1);
      expect(await enqueueJobs(set, 'select', [{ requestId: 7 }, { requestId: 7 }])).toBe(0); // waiting already
      expect(await q.getWaitingCount()).toBe(1);
      release();
      const deadline = Date.now() + 10_000;
      while (ran.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(ran).toEqual(['select-7', 'select-7-1']);
      // finished: the next request for it adds the next generation
      while ((await q.getActiveCount()) > 0) await new Promise((r) => setTimeout(r, 50));
      expect(await enqueueJobs(set, 'select', [{ requestId: 7 }])).toBe(1);
      while (ran.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(ran).toEqual(['select-7', 'select-7-1', 'select-7-2']);
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  }, 30_000);
});
