/**
 * An inference core that fails 30 % of calls (HTTP 500) and times out on 10 %: the run still
 * completes or records every failure. No request is left unsettled; every request that gave
 * up has exactly one open `failures` row naming it, after the client's attempts (one job run).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { metricsRegistry } from '../../pipeline/metrics.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { startFlakyInference, type FlakyServer } from './flaky-inference.ts';
import { REDIS_URL, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

describe('a flaky inference core', () => {
  let t: TestDb;
  let flaky: FlakyServer;
  const tmp = tempDir('flaky');
  const imgDir = `${tmp.dir}/img`;
  let images: string[];
  let poison = '\u0000'; // prompts starting with this always fail

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir);
    // One instruction always fails, so the give-up path runs in every test run; the rest are random.
    flaky = await startFlakyInference((prompt) => {
      if (prompt.startsWith(poison)) return 'error500';
      const r = Math.random();
      return r < 0.3 ? 'error500' : r < 0.4 ? 'hang' : 'ok';
    });
  });
  afterAll(async () => {
    await flaky?.close();
    await t?.cleanup();
    tmp.cleanup();
  });

  it('settles every request: completed, or failed with its failure recorded', async () => {
    const cfg = testConfig(`${tmp.dir}/data`, { INFERENCE_URL: flaky.url, INFERENCE_TIMEOUT_MS: '1000', INFERENCE_MAX_ATTEMPTS: '4' });
    const requests = requestsOver(images, 50);
    poison = requests[3]!.instruction;
    const poisoned = requests.filter((r) => r.instruction === poison).length;
    expect(poisoned).toBeGreaterThan(0);
    const run = await runLocalPipeline({
      db: t.db,
      blobs: new BlobStore(cfg.blobDir),
      config: cfg,
      redisUrl: REDIS_URL,
      requests,
      baseDir: imgDir,
      candidates: 4,
      timeoutMs: 100_000,
    });
    expect(flaky.counts.error500).toBeGreaterThan(0);
    expect(flaky.counts.hang).toBeGreaterThan(0);

    const [c] = await rows<Record<string, number>>(
      t.db,
      sql`SELECT
        (SELECT count(*) FROM requests WHERE settled_at IS NULL OR status NOT IN ('selected', 'failed'))::int AS unsettled,
        (SELECT count(*) FROM requests WHERE status = 'failed')::int AS failed,
        (SELECT count(*) FROM requests r WHERE status = 'failed' AND NOT EXISTS (
           SELECT 1 FROM failures f WHERE f.stage = 'generate' AND f.subject = 'request:' || r.id AND f.request_id = r.id AND f.resolved_at IS NULL))::int AS failed_unrecorded,
        (SELECT count(*) FROM failures f WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = f.request_id AND r.status = 'failed'))::int AS recorded_not_failed,
        (SELECT count(*) FROM requests r JOIN sources s ON s.id = r.source_id WHERE r.instruction = ${poison} AND r.status <> 'failed')::int AS poisoned_not_failed,
        (SELECT count(*) FROM candidates c WHERE c.status NOT IN ('judged', 'rejected'))::int AS candidates_open,
        (SELECT count(*) FROM requests r WHERE r.status = 'selected' AND (SELECT count(*) FROM candidates c WHERE c.request_id = r.id) <> 4)::int AS selected_short`,
    );
    expect(c).toEqual({ unsettled: 0, failed: c!.failed, failed_unrecorded: 0, recorded_not_failed: 0, poisoned_not_failed: 0, candidates_open: 0, selected_short: 0 });
    expect(c!.failed).toBeGreaterThanOrEqual(poisoned);
    expect(run.funnel.failures.byStage.generate).toBe(c!.failed);

    const fails = await rows<{ attempts: number; error: string }>(t.db, sql`SELECT attempts, error FROM failures`);
    for (const f of fails) {
      expect(f.attempts).toBe(1); // the client spent its 4 calls; the queue does not multiply them
      expect(f.error).not.toMatch(/\n/);
      expect(f.error).toMatch(/HTTP 500|timed out/);
    }
    const m = await metricsRegistry.getSingleMetricAsString('vibe_inference_errors_total');
    expect(m).toMatch(/vibe_inference_errors_total\{code="REMOTE_RETRYABLE"\} [1-9]/);
  }, 150_000);
});
