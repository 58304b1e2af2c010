/**
 * One layer owns retries: under permanent failure a real local server counts its hits. The
 * inference core gets exactly INFERENCE_MAX_ATTEMPTS calls per request, the judge exactly
 * JUDGE_MAX_ATTEMPTS per candidate (the queue does not multiply them), and a server that only
 * ever answers 429 gets RATE_LIMITED_RUNS_MAX calls per request before the job gives up.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { RATE_LIMITED_RUNS_MAX } from '../../workers/processor.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startFlakyInference } from './flaky-inference.ts';
import { REDIS_URL, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

describe('the retry budget under permanent failure', () => {
  let t: TestDb;
  const tmp = tempDir('budget');
  const imgDir = `${tmp.dir}/img`;
  let images: string[];

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 96);
  });
  afterAll(async () => {
    await t?.cleanup();
    tmp.cleanup();
  });

  const failures = (stage: string) =>
    rows<{ subject: string; attempts: number; error: string }>(t.db, sql`SELECT subject, attempts, error FROM failures WHERE stage = ${stage} AND resolved_at IS NULL ORDER BY subject`);

  it('calls the inference core INFERENCE_MAX_ATTEMPTS times per request, then records the failure', async () => {
    const server = await startFlakyInference(() => 'error500');
    try {
      const cfg = testConfig(`${tmp.dir}/d1`, { INFERENCE_URL: server.url, INFERENCE_MAX_ATTEMPTS: '3', INFERENCE_TIMEOUT_MS: '5000' });
      const requests = requestsOver(images, 3);
      await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 2, timeoutMs: 60_000 });
      expect(server.counts.error500).toBe(3 * 3);
      const f = await failures('generate');
      expect(f).toHaveLength(3);
      for (const x of f) {
        expect(x.attempts).toBe(1); // one job run: the client spent the budget
        expect(x.error).toMatch(/HTTP 500: injected failure \(after 3 attempts/);
      }
    } finally {
      await server.close();
    }
  }, 90_000);

  it('calls the judge JUDGE_MAX_ATTEMPTS times per candidate, then records the failure', async () => {
    let hits = 0;
    const judge = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'judge down' } }));
      });
    });
    await new Promise<void>((r) => judge.listen(0, '127.0.0.1', r));
    try {
      await t.db.execute(sql`TRUNCATE failures, reviews, pairs, selections, judgments, checks, candidates, requests, sources RESTART IDENTITY CASCADE`);
      const cfg = testConfig(`${tmp.dir}/d2`, { JUDGE_URL: `http://127.0.0.1:${(judge.address() as AddressInfo).port}`, JUDGE_MAX_ATTEMPTS: '2' });
      const requests = requestsOver(images, 2);
      await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 2, timeoutMs: 60_000 });
      const f = await failures('judge');
      expect(f.length).toBeGreaterThan(0);
      expect(hits).toBe(f.length * 2);
      for (const x of f) {
        expect(x.attempts).toBe(1);
        expect(x.error).toMatch(/HTTP 500/);
      }
    } finally {
      await new Promise<void>((r) => {
        judge.close(() => r());
        judge.closeAllConnections();
      });
    }
  }, 90_000);

  it('gives a request up after RATE_LIMITED_RUNS_MAX rate-limited runs', async () => {
    const server = await startFlakyInference(() => 'rate429');
    try {
      await t.db.execute(sql`TRUNCATE failures, reviews, pairs, selections, judgments, checks, candidates, requests, sources RESTART IDENTITY CASCADE`);
      const cfg = testConfig(`${tmp.dir}/d3`, { INFERENCE_URL: server.url, INFERENCE_MAX_ATTEMPTS: '4' });
      await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, 1), baseDir: imgDir, candidates: 2, timeoutMs: 60_000 });
      expect(server.counts.rate429).toBe(RATE_LIMITED_RUNS_MAX);
      const f = await failures('generate');
      expect(f).toHaveLength(1);
      expect(f[0]!.error).toMatch(new RegExp(`rate limited ${RATE_LIMITED_RUNS_MAX} times; giving up`));
    } finally {
      await server.close();
    }
  }, 90_000);
});
