/**
 * Failure semantics: 429 from the inference core pauses the queue without using attempts; a
 * final refusal (400) fails the request at once with its failure recorded, and `retry-failed`
 * replays it once the fault is gone; a candidate whose check cannot run is failed for good,
 * its request still settles and is selected, and `retry-failed --stage check` finishes it.
 */
import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { openFailures } from '../../db/repositories/failures.repository.ts';
import { runProgress } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { metricsRegistry } from '../../pipeline/metrics.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { openQueues } from '../../pipeline/queues.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { startFlakyInference } from './flaky-inference.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

async function waitFinished(db: TestDb, n: number, ms = 60_000) {
  let p = await runProgress(db.db);
  for (const deadline = Date.now() + ms; p.finished < n && Date.now() < deadline; ) {
    await sleep(200);
    p = await runProgress(db.db);
  }
  return p;
}

describe('failures', () => {
  const tmp = tempDir('fail');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  const prefixes: ReturnType<typeof freshPrefix>[] = [];
  const dbs: TestDb[] = [];
  let images: string[];

  beforeAll(async () => {
    images = await smallImages(imgDir);
  });
  afterAll(async () => {
    for (const d of dbs) await d.cleanup();
    for (const p of prefixes) await p.cleanup();
    tmp.cleanup();
  });
  const newDb = async () => {
    const d = await createTestDb();
    dbs.push(d);
    return d;
  };

  it('429 rate-limits the queue without using attempts', async () => {
    const t = await newDb();
    // Ten 429s in a row, with one inference attempt per job: were they attempts, jobs would fail (4 allowed).
    const flaky = await startFlakyInference((_, call) => (call < 10 ? 'rate429' : 'ok'));
    try {
      const cfg = testConfig(dataDir, { INFERENCE_URL: flaky.url, INFERENCE_MAX_ATTEMPTS: '1' });
      const run = await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, 3), baseDir: imgDir, candidates: 2, timeoutMs: 60_000 });
      expect(flaky.counts.rate429).toBe(10);
      expect(run.progress).toMatchObject({ requests: 3, selected: 3, failedRequests: 0 });
      expect(await openFailures(t.db)).toEqual([]);
      expect(await metricsRegistry.getSingleMetricAsString('vibe_jobs_total')).toMatch(/queue="generate",outcome="rate_limited"\} (10|[1-9]\d)/);
    } finally {
      await flaky.close();
    }
  }, 90_000);

  it('a final refusal fails the request at once; retry-failed replays it when the fault is gone', async () => {
    const t = await newDb();
    const requests = requestsOver(images, 4);
    let refuse = true;
    const flaky = await startFlakyInference((prompt) => (refuse && prompt === requests[1]!.instruction ? 'refuse400' : 'ok'));
    const p = freshPrefix('refuse');
    prefixes.push(p);
    try {
      const cfg = testConfig(dataDir, { INFERENCE_URL: flaky.url });
      const run = await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 2, prefix: p.prefix, timeoutMs: 60_000 });
      expect(run.progress).toMatchObject({ requests: 4, selected: 3, failedRequests: 1, finished: 4 });
      const fails = await openFailures(t.db);
      expect(fails).toHaveLength(1);
      expect(fails[0]).toMatchObject({ stage: 'generate', attempts: 1 });
      expect(fails[0]!.subject).toBe(`request:${fails[0]!.requestId}`);
      expect(fails[0]!.error).toMatch(/HTTP 400: injected refusal/);
      expect(flaky.counts.refuse400).toBe(1); // final: not retried

      refuse = false;
      const env = { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: dataDir, INFERENCE_URL: flaky.url };
      const r = await runCli(['retry-failed', '--stage', 'generate', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ resolved: 1, enqueued: { generate: 1 } });
      const queues = openQueues(REDIS_URL, p.prefix);
      const w = await startWorkers({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, queues, redisUrl: REDIS_URL, which: ['generate', 'check', 'judge', 'select'] });
      try {
        expect(await waitFinished(t, 4)).toMatchObject({ selected: 4, failedRequests: 0 });
      } finally {
        await w.close();
        await queues.close();
      }
      expect(await openFailures(t.db)).toEqual([]);
      const [resolved] = await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM failures WHERE resolved_at IS NOT NULL`);
      expect(resolved!.n).toBe(1);
      const bad = await runCli(['retry-failed', '--stage', 'nope'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^vibe-curate: --stage: expected one of generate, check, judge, select, got 'nope'/);
    } finally {
      await flaky.close();
    }
  }, 120_000);

  it('a candidate whose check cannot run fails alone; its request settles; retry-failed --stage check finishes it', async () => {
    const t = await newDb();
    const p = freshPrefix('check');
    prefixes.push(p);
    const cfg = testConfig(dataDir);
    const blobs = new BlobStore(cfg.blobDir);
    const queues = openQueues(REDIS_URL, p.prefix);
    const requests = requestsOver(images, 2);
    try {
      await enqueueManifest(parseManifestLines(requests.map((r) => JSON.stringify(r))), { db: t.db, blobs, queues, candidates: 3, model: cfg.inference.model, baseDir: imgDir, maxPixels: cfg.checks.maxImagePixels });
      const gen = await startWorkers({ db: t.db, blobs, config: cfg, queues, redisUrl: REDIS_URL, which: ['generate'] });
      for (let i = 0; i < 300 && (await runProgress(t.db)).candidates < 6; i++) await sleep(100);
      await gen.close();
      const [victim] = await rows<{ id: number; blob: string; request_id: number }>(t.db, sql`SELECT id, blob, request_id FROM candidates ORDER BY id LIMIT 1`);
      const bytes = readFileSync(blobs.path(victim!.blob));
      rmSync(blobs.path(victim!.blob)); // the edit's bytes are gone: its check cannot run

      const rest = await startWorkers({ db: t.db, blobs, config: cfg, queues, redisUrl: REDIS_URL, which: ['check', 'judge', 'select'] });
      try {
        expect(await waitFinished(t, 2)).toMatchObject({ selected: 2 });
        const [c] = await rows<{ status: string }>(t.db, sql`SELECT status FROM candidates WHERE id = ${victim!.id}`);
        expect(c!.status).toBe('failed');
        const fails = await openFailures(t.db);
        expect(fails).toHaveLength(1);
        expect(fails[0]).toMatchObject({ stage: 'check', subject: `candidate:${victim!.id}`, candidateId: victim!.id, requestId: victim!.request_id, attempts: 1 });
        expect(fails[0]!.error).toMatch(/blob missing/);

        writeFileSync(blobs.path(victim!.blob), bytes);
        const r = await runCli(['retry-failed', '--stage', 'check'], { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: dataDir });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^retry-failed: 1 failure\(s\) resolved; enqueued generate 0, check 1, judge 0, select 0/);
        let status = 'failed';
        for (let i = 0; i < 300 && !['judged', 'rejected'].includes(status); i++) {
          await sleep(100);
          status = (await rows<{ status: string }>(t.db, sql`SELECT status FROM candidates WHERE id = ${victim!.id}`))[0]!.status;
        }
        expect(['judged', 'rejected']).toContain(status);
        expect(await waitFinished(t, 2)).toMatchObject({ selected: 2 });
        const [req] = await rows<{ status: string; fresh: boolean }>(t.db, sql`SELECT status, selected_at >= settled_at AS fresh FROM requests WHERE id = ${victim!.request_id}`);
        expect(req).toEqual({ status: 'selected', fresh: true }); // settled again and selected again
      } finally {
        await rest.close();
      }
    } finally {
      await queues.close();
    }
  }, 120_000);
});
