/**
 * The window between settling a request and enqueueing its selection: a worker killed there
 * leaves the request settled with no select job. The job that settled it was active, so BullMQ
 * runs it again; that retry must enqueue the selection (before, only the caller whose UPDATE made
 * the transition did, so the request waited for reconcile). Driven through the real stages:
 * generate, check and judge workers on Postgres and Redis, then the judge stage run once more as
 * the retried job.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { sleep } from '../../pipeline/sleep.ts';
import { openQueues, type QueueSet } from '../../pipeline/queues.ts';
import { judgeStage } from '../../pipeline/stages/judge.ts';
import { selectStage } from '../../pipeline/stages/select.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

describe('a worker killed between settling a request and enqueueing its selection', () => {
  let t: TestDb;
  let queues: QueueSet;
  const tmp = tempDir('settlewin');
  const prefix = freshPrefix('settlewin');
  const cfg = testConfig(`${tmp.dir}/data`);

  beforeAll(async () => {
    t = await createTestDb();
    queues = openQueues(REDIS_URL, prefix.prefix);
  });
  afterAll(async () => {
    await queues?.close();
    await prefix.cleanup();
    await t?.cleanup();
    tmp.cleanup();
  });

  it('has the retried job enqueue the selection, once, and not after the request is selected', async () => {
    const imgDir = `${tmp.dir}/img`;
    const images = await smallImages(imgDir);
    const blobs = new BlobStore(cfg.blobDir);
    const [req] = requestsOver(images, 1);
    await enqueueManifest(parseManifestLines([JSON.stringify(req)]), { db: t.db, blobs, queues, candidates: 2, model: cfg.inference.model, baseDir: imgDir, maxPixels: cfg.checks.maxImagePixels });

    // Every stage but select: the request ends settled, its select job waiting.
    const running = await startWorkers({ db: t.db, blobs, config: cfg, queues, redisUrl: REDIS_URL, which: ['generate', 'check', 'judge'] });
    const status = async () => (await rows<{ id: number; status: string }>(t.db, sql`SELECT id, status FROM requests`))[0]!;
    try {
      const deadline = Date.now() + 60_000;
      while ((await status()).status !== 'settled' && Date.now() < deadline) await sleep(100);
    } finally {
      await running.close();
    }
    const { id: requestId, status: settled } = await status();
    expect(settled).toBe('settled');
    const select = queues.queues.select;
    expect(await select.getWaitingCount()).toBe(1);

    // The kill: the UPDATE committed, the enqueue never happened.
    await select.obliterate({ force: true });
    expect(await select.getWaitingCount()).toBe(0);

    // BullMQ runs the active job again (any of the request's candidates' judge jobs).
    const [cand] = await rows<{ id: number }>(t.db, sql`SELECT id FROM candidates WHERE request_id = ${requestId} AND status = 'judged' ORDER BY id DESC LIMIT 1`);
    expect(cand, 'a judged candidate').toBeDefined();
    const deps = { ...running.deps, queues };
    expect((await judgeStage.run(deps, { candidateId: cand!.id })).outcome).toBe('skipped'); // nothing to judge again
    expect(await select.getWaitingCount()).toBe(1);
    await judgeStage.run(deps, { candidateId: cand!.id }); // a second retry: the waiting job absorbs it
    expect(await select.getWaitingCount()).toBe(1);

    // Once selected, a late retry enqueues nothing.
    expect((await selectStage.run(deps, { requestId })).outcome).toBe('done');
    await select.obliterate({ force: true });
    await judgeStage.run(deps, { candidateId: cand!.id });
    expect(await select.getWaitingCount()).toBe(0);
    expect((await status()).status).toBe('selected');
  }, 120_000);
});
