/**
 * A fleet of `vibe-curate worker` processes with no person around: Redis has lost every job of
 * the run; with RECONCILE_EVERY=0 nothing moves, while two workers with RECONCILE_EVERY=2s
 * recover the jobs by themselves (one worker reconciles per period) and finish the run. Each
 * worker serves /metrics on its METRICS_PORT: job counters by stage and outcome, stage latencies,
 * inference calls, GPU slots, with a label that tells the two processes apart.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgress } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { deletePrefixKeys, openQueues } from '../../pipeline/queues.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { spawnCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Sum of a metric's samples whose labels contain every `match` (the whole exposition text). */
function sum(text: string, metric: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    if (!Object.entries(match).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('a worker fleet with no person around', () => {
  let t: TestDb;
  const tmp = tempDir('fleet');
  const p = freshPrefix('fleet');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  let images: string[];

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 96);
  });
  afterAll(async () => {
    await t?.cleanup();
    await p.cleanup();
    tmp.cleanup();
  });

  it('recovers lost jobs by itself and serves metrics from every worker', async () => {
    const cfg = testConfig(dataDir);
    const queues = openQueues(REDIS_URL, p.prefix);
    const N = 6;
    try {
      await enqueueManifest(parseManifestLines(requestsOver(images, N).map((r) => JSON.stringify(r))), {
        db: t.db,
        blobs: new BlobStore(cfg.blobDir),
        queues,
        candidates: 2,
        model: cfg.inference.model,
        baseDir: imgDir,
        maxPixels: cfg.checks.maxImagePixels,
      });
      await deletePrefixKeys(queues.connection, p.prefix); // Redis lost every job
    } finally {
      await queues.close();
    }
    const env = { DATABASE_URL: t.url, REDIS_URL, DATA_DIR: dataDir, QUEUE_PREFIX: p.prefix, QUEUE_LOCK_MS: '5000' };

    // RECONCILE_EVERY=0: nobody recovers the jobs
    const idle = spawnCli(['worker'], { ...env, RECONCILE_EVERY: '0', METRICS_PORT: '0' });
    try {
      for (const deadline = Date.now() + 60_000; !/SIGTERM or SIGINT to stop/.test(idle.stderr()); ) {
        if (Date.now() > deadline || idle.child.exitCode !== null) throw new Error(`worker did not start: ${idle.stderr()}`);
        await sleep(100);
      }
      await sleep(3000);
      expect((await runProgress(t.db)).generated).toBe(0);
    } finally {
      idle.child.kill('SIGTERM');
      expect(await idle.exited).toBe(0);
    }

    // two workers reconciling every 2 s: the run completes by itself
    const ports = [await freePort(), await freePort()];
    const fleet = ports.map((port) => spawnCli(['worker'], { ...env, RECONCILE_EVERY: '2s', METRICS_PORT: String(port) }));
    const t0 = Date.now();
    try {
      let prog = await runProgress(t.db);
      for (const deadline = Date.now() + 120_000; prog.finished < N && Date.now() < deadline; ) {
        await sleep(250);
        prog = await runProgress(t.db);
      }
      expect(prog).toMatchObject({ requests: N, finished: N });
      await sleep(1000); // the last job's counters are in after its completion
      const texts = await Promise.all(ports.map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()));
      const elapsedMs = Date.now() - t0;

      const labels = texts.map((txt) => /process="([^"]+)"/.exec(txt)?.[1]);
      expect(labels[0]).toMatch(/:\d+$/);
      expect(labels[1]).toMatch(/:\d+$/);
      expect(labels[0]).not.toBe(labels[1]);
      const total = (metric: string, match: Record<string, string> = {}) => texts.reduce((a, txt) => a + sum(txt, metric, match), 0);
      expect(total('vibe_jobs_total', { queue: 'generate', outcome: 'done' })).toBe(N);
      expect(total('vibe_jobs_total', { queue: 'check', outcome: 'done' })).toBe(2 * N);
      // a settle and a reconcile may both ask for a request's selection: a second run is allowed
      expect(total('vibe_jobs_total', { queue: 'select', outcome: 'done' })).toBeGreaterThanOrEqual(N);
      expect(total('vibe_stage_duration_seconds_count', { stage: 'judge' })).toBeGreaterThanOrEqual(1);
      expect(total('vibe_inference_calls_total', { outcome: 'ok' })).toBe(N);
      for (const txt of texts) {
        expect(sum(txt, 'vibe_gpu_slots')).toBe(4);
        expect(txt).toMatch(/^vibe_gpu_slots_in_use\{process="[^"]+"\} 0$/m);
      }
      // one reconcile per period across the fleet, not one per worker
      const runs = total('vibe_reconcile_runs_total', { outcome: 'done' });
      expect(runs).toBeGreaterThanOrEqual(1);
      expect(runs).toBeLessThanOrEqual(Math.floor(elapsedMs / 2000) + 1);
    } finally {
      for (const w of fleet) w.child.kill('SIGTERM');
      for (const w of fleet) expect(await w.exited).toBe(0);
    }
  }, 240_000);
});
