/**
 * Crash safety: the same 50 × 4 run, once cleanly in-process and once by a worker PROCESS
 * (`vibe-curate worker`) killed with SIGKILL three times at random moments and restarted. Both
 * end with exactly the same ledger rows: no candidate, check or judgment lost or doubled.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { runProgress } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { startInferenceServer } from '../../pipeline/builtin/inference-server.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { openQueues } from '../../pipeline/queues.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { spawnCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, snapshot, tempDir, testConfig } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

describe('a worker process killed with SIGKILL three times', () => {
  let ref: TestDb;
  let crash: TestDb;
  const tmp = tempDir('crash');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  const cfg = testConfig(dataDir);
  const prefix = freshPrefix('crash');
  let images: string[];

  beforeAll(async () => {
    [ref, crash] = await Promise.all([createTestDb(), createTestDb()]);
    images = await smallImages(imgDir);
  });
  afterAll(async () => {
    await Promise.all([ref?.cleanup(), crash?.cleanup()]);
    await prefix.cleanup();
    tmp.cleanup();
  });

  it('ends with exactly the rows of a clean run', async () => {
    const requests = requestsOver(images, 50);
    const blobs = new BlobStore(cfg.blobDir);
    await runLocalPipeline({ db: ref.db, blobs, config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 4, timeoutMs: 90_000 });
    const expected = await snapshot(ref.db);

    const srv = await startInferenceServer({ port: 0 });
    const queues = openQueues(REDIS_URL, prefix.prefix);
    const workerEnv = {
      DATABASE_URL: crash.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix.prefix,
      INFERENCE_URL: srv.url,
      DATA_DIR: dataDir,
      QUEUE_LOCK_MS: '2000', // a killed worker's jobs are picked up again after ~2 s
      METRICS_PORT: '0', // no fixed port: other tests may run workers at the same time
      // The fleet's own recovery, on a test's time scale (production: 10m). Under the full suite a
      // kill has left one request of 50 without a queued job; reconcile is what brings it back.
      RECONCILE_EVERY: '15s',
    };
    try {
      const lines = requests.map((r) => JSON.stringify(r));
      const enq = await enqueueManifest(parseManifestLines(lines), {
        db: crash.db,
        blobs,
        queues,
        candidates: 4,
        model: cfg.inference.model,
        baseDir: imgDir,
        maxPixels: cfg.checks.maxImagePixels,
      });
      expect(enq.added).toBe(50);

      const work = async () => {
        const p = await runProgress(crash.db);
        return p.candidates + p.checked + p.judged + p.finished;
      };
      const kills: string[] = [];
      for (let k = 0; k < 3; k++) {
        const w = spawnCli(['worker'], workerEnv);
        const start = await work();
        const deadline = Date.now() + 45_000;
        while ((await work()) === start && Date.now() < deadline) await sleep(50); // the worker is up and busy
        const delay = Math.floor(Math.random() * 1500);
        await sleep(delay);
        const at = await runProgress(crash.db);
        w.child.kill('SIGKILL');
        expect(await w.exited).toBe(-1);
        kills.push(`kill ${k + 1} after +${delay} ms: ${at.candidates} candidates, ${at.checked} checked, ${at.judged} judged, ${at.finished} finished`);
        expect(at.finished, kills.join('; ')).toBeLessThan(50); // each kill lands mid-run
      }

      const last = spawnCli(['worker'], workerEnv);
      const deadline = Date.now() + 240_000; // 4 min: the full suite's other files load both cores meanwhile
      let p = await runProgress(crash.db);
      while (p.finished < 50 && Date.now() < deadline) {
        await sleep(250);
        p = await runProgress(crash.db);
      }
      // what an unfinished request is waiting for, to tell a lost job from a slow one
      const stuck = p.finished < 50
        ? JSON.stringify({
            requests: await rows(crash.db, sql`SELECT r.id, r.status, r.settled_at, r.selected_at, r.reviewed_at,
                                                 (SELECT json_agg(json_build_object('id', c.id, 'status', c.status)) FROM candidates c WHERE c.request_id = r.id) AS candidates
                                               FROM requests r WHERE r.status NOT IN ('selected', 'failed')`),
            queues: Object.fromEntries(await Promise.all(Object.entries(queues.queues).map(async ([n, q]) => [n, await q.getJobCounts()]))),
          })
        : '';
      expect(p.finished, `${kills.join('; ')}; worker stderr: ${last.stderr()}; unfinished: ${stuck}`).toBe(50);
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0); // closes cleanly on SIGTERM
      expect(last.stderr()).toMatch(/SIGTERM, finishing active jobs/);

      const got = await snapshot(crash.db);
      expect(got.candidates).toHaveLength(200);
      expect(got).toEqual(expected);
      const [f] = await rows<{ n: number }>(crash.db, sql`SELECT count(*)::int AS n FROM failures`);
      expect(f!.n).toBe(0);
    } finally {
      await queues.close();
      await srv.close();
    }
  }, 480_000);
});
