/**
 * Benchmark: requests per second through generate → check → judge → select on the built-in
 * inference core and judge (queues, Postgres, blob store, all of it), against the sum of the
 * same stages' bare costs measured in the same run: the inference client, runHardChecks and
 * the judge called directly with the workers' concurrency, and selection's SQL over the same
 * requests. Overhead = pipeline / Σ bare − 1 (target ≤ 25 %). Three rounds by default, alternating;
 * on a loaded machine the median of the rounds' own ratios (each pair run back to back) is the
 * steadier figure.
 * Run: npx tsx test/bench/pipeline.bench.ts [REQUESTS] [ROUNDS]
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { BlobStore, sha256Hex } from '../../pipeline/blobs.ts';
import { runHardChecks } from '../../pipeline/checks/index.ts';
import { createInferenceClient } from '../../pipeline/inference/inference.client.ts';
import { startInferenceServer } from '../../pipeline/builtin/inference-server.ts';
import { createJudge } from '../../workers/judges.ts';
import { runSelection, selectionSettings } from '../../pipeline/select/index.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { baseSeedOf } from '../../pipeline/stages/enqueue.ts';
import { createTestDb } from '../helpers/db.ts';
import { REDIS_URL, requestsOver, smallImages, tempDir, testConfig } from '../services/pipeline-helpers.ts';

const N = Number(process.argv[2] ?? 32);
const K = 4;
const ROUNDS = Number(process.argv[3] ?? 3);

async function pool<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function main() {
  const tmp = tempDir('bench-pipeline');
  const imgDir = path.join(tmp.dir, 'img');
  const images = await smallImages(imgDir, 192);
  const requests = requestsOver(images, N);
  const cfg = testConfig(path.join(tmp.dir, 'data'));
  const srv = await startInferenceServer({ port: 0 });
  const inference = createInferenceClient({ urls: [srv.url], model: cfg.inference.model, timeoutMs: 60_000, maxAttempts: 1 });
  const judge = createJudge(cfg.judge);
  const checkOpts = { faceIoUThreshold: cfg.checks.faceIoUThreshold, changePixelThreshold: cfg.checks.changePixelThreshold, maxImagePixels: cfg.checks.maxImagePixels };
  const sources = new Map(images.map((f) => [f, readFileSync(path.join(imgDir, f))]));

  // Warm-up: face model loaded, JIT warm, on both sides alike.
  {
    const r = requests[0]!;
    const e = await inference.edit({ image: sources.get(r.image)!, prompt: r.instruction, n: 1, seed: 1 });
    await runHardChecks(sources.get(r.image)!, e.images[0]!.bytes, checkOpts);
    await judge.judge({ source: sources.get(r.image)!, edit: e.images[0]!.bytes, instruction: r.instruction });
  }

  const bare = async () => {
    const t0 = performance.now();
    const edits = await pool(requests, cfg.inference.gpuSlots, async (r) => {
      // The seeds the pipeline uses for this request, so both sides check and judge the same edits.
      const seed = baseSeedOf(sha256Hex(sources.get(r.image)!), r.instruction);
      const res = await inference.edit({ image: sources.get(r.image)!, prompt: r.instruction, n: K, seed });
      return res.images.map((im) => ({ r, bytes: im.bytes }));
    });
    const t1 = performance.now();
    const cands = edits.flat();
    const checked = await pool(cands, cfg.checks.concurrency, async (c) => ({ c, passed: (await runHardChecks(sources.get(c.r.image)!, c.bytes, checkOpts)).passed }));
    const t2 = performance.now();
    const passed = checked.filter((x) => x.passed);
    await pool(passed, cfg.judge.concurrency, (x) => judge.judge({ source: sources.get(x.c.r.image)!, edit: x.c.bytes, instruction: x.c.r.instruction, category: x.c.r.category }));
    const t3 = performance.now();
    return { generate: t1 - t0, check: t2 - t1, judge: t3 - t2, candidates: cands.length, passed: passed.length };
  };

  const pipeline = async (db: Awaited<ReturnType<typeof createTestDb>>) => {
    try {
      const t0 = performance.now();
      const run = await runLocalPipeline({ db: db.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: K });
      const ms = performance.now() - t0;
      if (run.progress.selected !== N) throw new Error(`pipeline selected ${run.progress.selected} of ${N}`);
      // Selection's bare cost: the same statement over the same requests, straight on the database.
      const s0 = performance.now();
      await runSelection(db.db, { ...selectionSettings(cfg), requestIds: run.enqueue.requestIds });
      return { ms, select: performance.now() - s0, passed: run.funnel.checks.passed };
    } finally {
      await db.cleanup();
    }
  };

  let sumBare = 0;
  let sumPipe = 0;
  let minBare = Infinity;
  let minPipe = Infinity;
  let cpuBare = 0;
  let cpuPipe = 0;
  const ratios: number[] = [];
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000; // ms of this process's CPU
  };
  for (let round = 1; round <= ROUNDS; round++) {
    const c0 = cpu();
    const b = await bare();
    const db = await createTestDb();
    const c1 = cpu();
    const p = await pipeline(db);
    cpuBare += c1 - c0;
    cpuPipe += cpu() - c1;
    const bareMs = b.generate + b.check + b.judge + p.select;
    sumBare += bareMs;
    sumPipe += p.ms;
    minBare = Math.min(minBare, bareMs);
    minPipe = Math.min(minPipe, p.ms);
    ratios.push(p.ms / bareMs);
    console.log(
      `round ${round}: bare generate ${(b.generate / 1000).toFixed(2)} s + check ${(b.check / 1000).toFixed(2)} s (${b.candidates} candidates) + judge ${(b.judge / 1000).toFixed(2)} s (${b.passed} passed) + select ${(p.select / 1000).toFixed(2)} s = ${(bareMs / 1000).toFixed(2)} s; pipeline ${(p.ms / 1000).toFixed(2)} s (${p.passed} passed)`,
    );
  }
  console.log(`pipeline: ${((ROUNDS * N) / (sumPipe / 1000)).toFixed(2)} requests/s (${N} requests × ${K} candidates, 192 px, ${ROUNDS} rounds)`);
  console.log(`bare stages: ${((ROUNDS * N) / (sumBare / 1000)).toFixed(2)} requests/s`);
  console.log(`overhead (queues, Postgres, blobs, enqueue): ${((sumPipe / sumBare - 1) * 100).toFixed(1)} % over all rounds, ${((minPipe / minBare - 1) * 100).toFixed(1)} % best round vs best round (target ≤ 25 %)`);
  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
  console.log(`overhead, median of the rounds' own ratios: ${((median - 1) * 100).toFixed(1)} % (rounds: ${ratios.map((r) => `${((r - 1) * 100).toFixed(0)} %`).join(', ')})`);
  console.log(`this process's CPU: bare ${(cpuBare / 1000).toFixed(1)} s, pipeline ${(cpuPipe / 1000).toFixed(1)} s (${((cpuPipe / cpuBare - 1) * 100).toFixed(1)} % more; Postgres and Redis CPU not included; test-database cleanup included)`);
  await srv.close();
  tmp.cleanup();
}

await main();
