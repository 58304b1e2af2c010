/**
 * Losing Redis: halfway through a 50 × 4 run every key of the run's queue prefix is deleted
 * (what a Redis restart without persistence does); the run stalls; `vibe-curate reconcile`
 * re-enqueues from Postgres and the run completes with the same rows as a clean run.
 */
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgress } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { QUEUE_NAMES } from '../../pipeline/jobs.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { deletePrefixKeys, openQueues, queueDepths } from '../../pipeline/queues.ts';
import { redisConnection } from '../../pipeline/redis.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { reconcile } from '../../pipeline/stages/reconcile.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, snapshot, tempDir, testConfig } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

describe('Redis loses every job halfway', () => {
  let ref: TestDb;
  let lossy: TestDb;
  const tmp = tempDir('loss');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  const cfg = testConfig(dataDir);
  const blobs = new BlobStore(cfg.blobDir);
  const prefixes: ReturnType<typeof freshPrefix>[] = [];
  let images: string[];

  beforeAll(async () => {
    [ref, lossy] = await Promise.all([createTestDb(), createTestDb()]);
    images = await smallImages(imgDir);
  });
  afterAll(async () => {
    await Promise.all([ref?.cleanup(), lossy?.cleanup()]);
    for (const p of prefixes) await p.cleanup();
    tmp.cleanup();
  });

  const enqueueAll = (db: TestDb, queues: ReturnType<typeof openQueues>, n: number) =>
    enqueueManifest(parseManifestLines(requestsOver(images, n).map((r) => JSON.stringify(r))), {
      db: db.db,
      blobs,
      queues,
      candidates: 4,
      model: cfg.inference.model,
      baseDir: imgDir,
      maxPixels: cfg.checks.maxImagePixels,
    });

  it('completes after reconcile with the rows of a clean run', async () => {
    await runLocalPipeline({ db: ref.db, blobs, config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, 50), baseDir: imgDir, candidates: 4, timeoutMs: 90_000 });
    const expected = await snapshot(ref.db);

    const p = freshPrefix('loss');
    prefixes.push(p);
    const queues = openQueues(REDIS_URL, p.prefix);
    const running = await startWorkers({ db: lossy.db, blobs, config: cfg, queues, redisUrl: REDIS_URL, which: QUEUE_NAMES });
    try {
      await enqueueAll(lossy, queues, 50);
      let prog = await runProgress(lossy.db);
      while (prog.checked < 50) {
        await sleep(50);
        prog = await runProgress(lossy.db);
      }
      await deletePrefixKeys(queues.connection, p.prefix); // Redis lost everything

      // The jobs in flight finish; then nothing is left to do although Postgres says otherwise.
      let idleSince = Date.now();
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && Date.now() - idleSince < 1500; ) {
        await sleep(100);
        const d = await queueDepths(queues);
        if (QUEUE_NAMES.some((q) => d[q].waiting + d[q].active + d[q].delayed + d[q].prioritized > 0)) idleSince = Date.now();
      }
      const stalled = await runProgress(lossy.db);
      expect(stalled.finished).toBeLessThan(50);

      const r = await runCli(['reconcile', '--json'], { DATABASE_URL: lossy.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: dataDir });
      expect(r.code, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout) as { enqueued: Record<string, number>; settled: number };
      const total = Object.values(summary.enqueued).reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(0);

      prog = await runProgress(lossy.db);
      for (const deadline = Date.now() + 90_000; prog.finished < 50 && Date.now() < deadline; ) {
        await sleep(250);
        prog = await runProgress(lossy.db);
      }
      expect(prog.finished).toBe(50);
    } finally {
      await running.close();
      await queues.close();
    }
    expect(await snapshot(lossy.db)).toEqual(expected);
  }, 200_000);

  it('reconcile run twice does not double a waiting job, and replaces a failed one', async () => {
    const db = await createTestDb();
    const p = freshPrefix('recon');
    prefixes.push(p);
    const queues = openQueues(REDIS_URL, p.prefix);
    try {
      await enqueueAll(db, queues, 5);
      await deletePrefixKeys(queues.connection, p.prefix);
      const first = await reconcile({ db: db.db, queues, config: cfg });
      expect(first.enqueued.generate).toBe(5);
      await reconcile({ db: db.db, queues, config: cfg });
      expect((await queueDepths(queues)).generate.waiting).toBe(5);

      // A failed job keeps its id in Redis and would make BullMQ ignore the add: reconcile removes it first.
      const w = new Worker('generate', null, { connection: redisConnection(REDIS_URL), prefix: p.prefix, autorun: false });
      try {
        const job = await w.getNextJob('test-token');
        await job!.moveToFailed(new UnrecoverableError('simulated'), 'test-token', false);
      } finally {
        await w.close();
      }
      expect(await queueDepths(queues)).toMatchObject({ generate: { waiting: 4, failed: 1 } });
      const again = await reconcile({ db: db.db, queues, config: cfg });
      expect(again.enqueued.generate).toBe(5);
      expect(await queueDepths(queues)).toMatchObject({ generate: { waiting: 5, failed: 0 } });
    } finally {
      await queues.close();
      await db.cleanup();
    }
  });
});
