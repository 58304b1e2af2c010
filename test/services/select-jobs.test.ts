/**
 * Select jobs are never silently dropped: asking for a request's selection while its select job
 * runs adds another job (a running job may have read the ledger before the change), while asking
 * again before a job started adds nothing (that job will read the change). A review makes its
 * request due for the workers' select stage and for reconcile, not only for the CLI.
 */
import { loadConfig } from '../../pipeline/config.ts';
import { Worker, type Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { reviewCandidates } from '../../db/repositories/review.repository.ts';
import { isSelectionDue, requestIdsToSelect } from '../../db/repositories/requests.repository.ts';
import { runSelection, type SelectionParams } from '../../pipeline/select/index.ts';
import { reconcile } from '../../pipeline/stages/reconcile.ts';
import { enqueueJobs, openQueues } from '../../pipeline/queues.ts';
import { createTestDb } from '../helpers/db.ts';
import { JUDGE, insertRequests } from '../select/fixtures.ts';
import { redisConnection } from '../../pipeline/redis.ts';
import { REDIS_URL, freshPrefix } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

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
      while (ran.length < 2 && Date.now() < deadline) await sleep(50);
      expect(ran).toEqual(['select-7', 'select-7-1']);
      // finished: the next request for it adds the next generation
      while ((await q.getActiveCount()) > 0) await sleep(50);
      expect(await enqueueJobs(set, 'select', [{ requestId: 7 }])).toBe(1);
      while (ran.length < 3 && Date.now() < deadline) await sleep(50);
      expect(ran).toEqual(['select-7', 'select-7-1', 'select-7-2']);
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  }, 30_000);

  it('counts a review as due for the select stage and reconcile', async () => {
    const tdb = await createTestDb({ poolSize: 2 });
    const rp = freshPrefix('reviewdue');
    const qs = openQueues(REDIS_URL, rp.prefix);
    try {
      const params: SelectionParams = { minMargin: 1, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };
      const ins = await insertRequests(tdb.db, [
        { candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [9, 9], passes: true }] }] },
        { candidates: [{ seed: 1, checks: [true], judgments: [{ ok: true, scores: [7, 7], passes: true }] }] },
      ]);
      await runSelection(tdb.db, { judge: JUDGE, params });
      const [a, b] = ins.requestIds as [number, number];
      expect(await isSelectionDue(tdb.db, a)).toBe(false);
      expect(await requestIdsToSelect(tdb.db, 0, 100)).toEqual([]);
      await reviewCandidates(tdb.db, { candidateIds: [ins.facts[1]![0]!.id], reviewer: 'ana', verdict: 'flag', note: '', judge: JUDGE });
      expect(await isSelectionDue(tdb.db, a)).toBe(false);
      expect(await isSelectionDue(tdb.db, b)).toBe(true);
      expect(await requestIdsToSelect(tdb.db, 0, 100)).toEqual([b]);
      const r = await reconcile({ db: tdb.db, queues: qs, config: loadConfig({}) });
      expect(r.enqueued.select).toBe(1);
      expect((await qs.queues.select.getWaiting()).map((j) => j.data)).toEqual([{ requestId: b }]);
    } finally {
      await qs.close();
      await rp.cleanup();
      await tdb.cleanup();
    }
  }, 30_000);
});
