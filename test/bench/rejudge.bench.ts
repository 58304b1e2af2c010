/**
 * Rejudge benchmark: N candidates (default 10 000: 2 500 requests × 4) already judged by model A
 * are judged again by model B through `rejudge` and the real judge workers, against a local VLM
 * stand-in (a real HTTP server) that answers after 50 ms. The judge stage is I/O bound, so its
 * ceiling is JUDGE_CONCURRENCY / latency calls per second; the bench prints the calls per second
 * reached, the ratio to that ceiling (target ≥ 0.85), and as a measured baseline the same client
 * calling the stand-in directly at the same concurrency (no queue, no database). The stand-in
 * (test/services/fake-vlm.ts) runs in its own process, as a remote VLM would.
 *
 *   npx tsx test/bench/rejudge.bench.ts [--candidates 10000] [--latency 50] [--concurrency 8]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { rows } from '../../db/client.ts';
import { countPastStage } from '../../db/repositories/candidates.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { judgeVersion } from '../../pipeline/judge/index.ts';
import { createJudge } from '../../workers/judges.ts';
import { deletePrefixKeys, openQueues } from '../../pipeline/queues.ts';
import { rejudge } from '../../pipeline/stages/rework.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb } from '../helpers/db.ts';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { sleep } from '../../pipeline/sleep.ts';
import { flag } from './flags.ts';

const N = flag('candidates', 10_000);
const LATENCY = flag('latency', 50); // ms per VLM reply
const CONCURRENCY = flag('concurrency', 8); // JUDGE_CONCURRENCY
const K = 4;
const REQUESTS = Math.ceil(N / K);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BASELINE_CALLS = Math.min(N, 2000);

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'vc-rejudge-bench-'));
  const t = await createTestDb({ poolSize: 12 });
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/services/fake-vlm.ts'), String(LATENCY)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const vlm = {
    url: line.toString().trim(),
    count: async (model: string) => ((await (await fetch(`${line.toString().trim()}/calls`)).json()) as Record<string, number>)[model] ?? 0,
    close: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
  const prefix = `vibe-bench-rejudge-${process.pid}`;
  const queues = openQueues(REDIS_URL, prefix);
  try {
    const env = { DATA_DIR: work, JUDGE_URL: vlm.url, JUDGE_RUBRIC: 'viescore-v1', JUDGE_CONCURRENCY: String(CONCURRENCY), JUDGE_IMAGE_LONG_SIDE: '64', QUEUE_LOCK_MS: '30000' };
    const cfgA = loadConfig({ ...env, JUDGE_MODEL: 'judge-a' });
    const cfgB = loadConfig({ ...env, JUDGE_MODEL: 'judge-b' });
    const blobs = new BlobStore(cfgA.blobDir);
    const src = await blobs.put(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#557799' } }).png().toBuffer(), 'png');
    const edit = await blobs.put(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#775599' } }).jpeg().toBuffer(), 'jpg');
    const a = judgeVersion(cfgA.judge);
    // The ledger after a finished campaign judged by model A: selected requests, judged candidates.
    await t.db.execute(sql`INSERT INTO sources (sha256, blob, width, height, format, bytes, origin) VALUES (${src.sha256}, ${src.key}, 64, 64, 'png', 100, 'src.png')`);
    await t.db.execute(sql`
      INSERT INTO requests (source_id, instruction, candidates_wanted, model, base_seed, status, settled_at, selected_at)
      SELECT 1, 'make it warmer #' || g, ${K}, 'm', 0, 'selected', now(), now() FROM generate_series(1, ${REQUESTS}) g`);
    await t.db.execute(sql`
      INSERT INTO candidates (request_id, seed, sha256, blob, width, height, generator, latency_ms, status, checked_at, judged_at)
      SELECT r, s, ${edit.sha256}, ${edit.key}, 64, 64, 'g', 100, 'judged', now(), now()
      FROM generate_series(1, ${REQUESTS}) r, generate_series(0, ${K - 1}) s WHERE (r - 1) * ${K} + s < ${N}`);
    await t.db.execute(sql`
      INSERT INTO judgments (candidate_id, judge_model, rubric, prompt_hash, ok, raw_scores, scores, axis_instruction, axis_preservation, axis_quality,
                             aggregate, passes_thresholds, attempts, latency_ms)
      SELECT id, ${a.model}, ${a.rubric}, ${a.promptHash}, true, '{"editing_success":7,"over_editing":7,"naturalness":7,"artifacts":7}',
             ARRAY[7, 7, 7, 7]::real[], 7, 7, 7, '{"SC":7,"PQ":7,"O":7}', true, 1, 50 FROM candidates`);
    await t.db.execute(sql`VACUUM ANALYZE`);

    // Baseline: the same client, straight to the stand-in, CONCURRENCY calls in flight.
    const client = createJudge(cfgB.judge);
    const [s, e] = await Promise.all([blobs.get(src.key), blobs.get(edit.key)]);
    const b0 = performance.now();
    await pLimit(CONCURRENCY).map(Array.from({ length: BASELINE_CALLS }), () => client.judge({ source: s, edit: e, instruction: 'make it warmer' }));
    const baseRate = BASELINE_CALLS / ((performance.now() - b0) / 1000);
    const before = await vlm.count('judge-b');

    const running = await startWorkers({ db: t.db, blobs, config: cfgB, queues, redisUrl: REDIS_URL, which: ['judge', 'select'] });
    try {
      const t0 = performance.now();
      const r = await rejudge({ db: t.db, queues, config: cfgB }, judgeVersion(cfgB.judge));
      const enqueuedMs = performance.now() - t0;
      let done = 0;
      let lastPrint = 0;
      while (done < r.candidateIds.length) {
        await sleep(100);
        done = await countPastStage(t.db, r.candidateIds, 'judge');
        if (performance.now() - lastPrint > 5000) {
          lastPrint = performance.now();
          process.stderr.write(`  ${done}/${r.candidateIds.length} judged\n`);
        }
      }
      const judgedMs = performance.now() - t0;
      const calls = (await vlm.count('judge-b')) - before;
      for (;;) {
        const [x] = await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM selections WHERE judge_model = 'judge-b'`);
        if (Number(x!.n) >= REQUESTS) break;
        await sleep(100);
      }
      const selectedMs = performance.now() - t0;
      const ideal = CONCURRENCY / (LATENCY / 1000);
      const rate = calls / (judgedMs / 1000);
      console.log(`rejudge: ${r.enqueued} candidates enqueued in ${(enqueuedMs / 1000).toFixed(2)} s; ${calls} judge calls in ${(judgedMs / 1000).toFixed(1)} s; all ${REQUESTS} requests selected again after ${(selectedMs / 1000).toFixed(1)} s`);
      console.log(`ceiling JUDGE_CONCURRENCY / latency = ${CONCURRENCY} / ${LATENCY} ms = ${ideal.toFixed(1)} calls/s`);
      console.log(`baseline, the bare client at concurrency ${CONCURRENCY}: ${baseRate.toFixed(1)} calls/s (${(baseRate / ideal).toFixed(3)} of the ceiling)`);
      console.log(`rejudge through queue + workers + Postgres: ${rate.toFixed(1)} calls/s — ratio to the ceiling ${(rate / ideal).toFixed(3)} (target ≥ 0.85), to the bare client ${(rate / baseRate).toFixed(3)}`);
    } finally {
      await running.close();
    }
  } finally {
    await deletePrefixKeys(queues.connection, prefix).catch(() => 0);
    await queues.close();
    await vlm.close();
    await t.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
