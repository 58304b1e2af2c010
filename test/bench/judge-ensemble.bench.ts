/**
 * Judge-ensemble benchmark: how fast candidates are judged with two judges (JUDGES_FILE: a
 * viescore-v1 judge and an imgedit-v1 judge) compared with one, both measured in this run on the
 * same ledger through `rejudge` and the real judge workers. Each judge is a VLM stand-in (a real
 * HTTP server in its own process, as a remote VLM would be) answering after `--latency` ms, with
 * the same per-judge concurrency. The two judges' calls for one candidate run in parallel, so the
 * ensemble should judge candidates at nearly the single judge's rate: the bench prints the ratio
 * (target ≥ 0.90).
 *
 * Baseline: judge A alone (JUDGE_URL) judges N candidates. Ensemble: judges B and C (JUDGES_FILE)
 * judge the same N candidates, which have no judgment of theirs yet. Rate = candidates whose
 * judging ended per second, from the rejudge call to the last one. Four rounds, each under new
 * model names (so each does all the work), in the order single, ensemble, ensemble, single;
 * each side's rate is the mean of its two rounds.
 *
 *   npx tsx test/bench/judge-ensemble.bench.ts [--candidates 2000] [--latency 50] [--concurrency 8]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { rows } from '../../db/client.ts';
import { countPastStage } from '../../db/repositories/candidates.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig, type Config } from '../../pipeline/config.ts';
import { configuredJudgeVersions } from '../../pipeline/judge/index.ts';
import { deletePrefixKeys, openQueues } from '../../pipeline/queues.ts';
import { rejudge } from '../../pipeline/stages/rework.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { sleep } from '../../pipeline/sleep.ts';
import { flag } from './flags.ts';

const N = flag('candidates', 2000);
const LATENCY = flag('latency', 50); // ms per VLM reply
const CONCURRENCY = flag('concurrency', 8); // per judge
const K = 4;
const REQUESTS = Math.ceil(N / K);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A constant-score stand-in for `rubric` in its own process. */
async function standIn(rubric: string): Promise<{ url: string; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/services/fake-vlm.ts'), String(LATENCY), rubric], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    url: line.toString().trim(),
    close: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Rejudges every candidate under `cfg`'s judge(s) with fresh workers; returns candidates judged per second. */
async function judgeAll(t: TestDb, blobs: BlobStore, cfg: Config, label: string): Promise<number> {
  const prefix = `vibe-bench-ensemble-${label}-${process.pid}`;
  const queues = openQueues(REDIS_URL, prefix);
  const running = await startWorkers({ db: t.db, blobs, config: cfg, queues, redisUrl: REDIS_URL, which: ['judge'] });
  try {
    const t0 = performance.now();
    const r = await rejudge({ db: t.db, queues, config: cfg }, configuredJudgeVersions(cfg.judge));
    if (r.candidateIds.length !== N) throw new Error(`${label}: ${r.candidateIds.length} candidates enqueued, expected ${N}`);
    let done = 0;
    while (done < N) {
      await sleep(50);
      done = await countPastStage(t.db, r.candidateIds, 'judge');
    }
    const s = (performance.now() - t0) / 1000;
    // Every judge scored every candidate (nothing skipped makes the rate look better).
    for (const v of configuredJudgeVersions(cfg.judge)) {
      const [x] = await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM judgments WHERE ok AND judge_model = ${v.model} AND rubric = ${v.rubric}`);
      if (Number(x!.n) !== N) throw new Error(`${label}: ${x!.n} ok judgments by ${v.model}, expected ${N}`);
    }
    return N / s;
  } finally {
    await running.close();
    await deletePrefixKeys(queues.connection, prefix).catch(() => 0);
    await queues.close();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'vc-ensemble-bench-'));
  const t = await createTestDb({ poolSize: 12 });
  const [a, b, c] = await Promise.all([standIn('viescore-v1'), standIn('viescore-v1'), standIn('imgedit-v1')]);
  try {
    const base = { DATA_DIR: work, JUDGE_CONCURRENCY: String(CONCURRENCY), JUDGE_IMAGE_LONG_SIDE: '64', QUEUE_LOCK_MS: '30000' };
    // Each round judges with models of its own (a new judge version), so every round does the full work.
    const single = (round: number) => loadConfig({ ...base, JUDGE_URL: a.url, JUDGE_MODEL: `judge-a${round}`, JUDGE_RUBRIC: 'viescore-v1' });
    const ensemble = async (round: number) => {
      const judgesFile = path.join(work, `judges-${round}.json`);
      await writeFile(
        judgesFile,
        JSON.stringify([
          { url: b.url, model: `judge-b${round}`, rubric: 'viescore-v1', concurrency: CONCURRENCY },
          { url: c.url, model: `judge-c${round}`, rubric: 'imgedit-v1', concurrency: CONCURRENCY },
        ]),
      );
      return loadConfig({ ...base, JUDGES_FILE: judgesFile });
    };
    const blobs = new BlobStore(single(0).blobDir);
    const src = await blobs.put(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#557799' } }).png().toBuffer(), 'png');
    const edit = await blobs.put(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#775599' } }).jpeg().toBuffer(), 'jpg');
    // A settled campaign whose candidates passed their checks and have no judgment of the measured judges.
    await t.db.execute(sql`INSERT INTO sources (sha256, blob, width, height, format, bytes, origin) VALUES (${src.sha256}, ${src.key}, 64, 64, 'png', 100, 'src.png')`);
    await t.db.execute(sql`
      INSERT INTO requests (source_id, instruction, category, candidates_wanted, model, base_seed, status, settled_at, selected_at)
      SELECT 1, 'make it warmer #' || g, 'color', ${K}, 'm', 0, 'selected', now(), now() FROM generate_series(1, ${REQUESTS}) g`);
    await t.db.execute(sql`
      INSERT INTO candidates (request_id, seed, sha256, blob, width, height, generator, latency_ms, status, checked_at, judged_at)
      SELECT r, s, ${edit.sha256}, ${edit.key}, 64, 64, 'g', 100, 'judged', now(), now()
      FROM generate_series(1, ${REQUESTS}) r, generate_series(0, ${K - 1}) s WHERE (r - 1) * ${K} + s < ${N}`);
    await t.db.execute(sql`VACUUM ANALYZE`);

    // Rounds in the order single, ensemble, ensemble, single, so warm-up and drift weigh on both alike.
    const s1 = await judgeAll(t, blobs, single(1), 'single1');
    const e1 = await judgeAll(t, blobs, await ensemble(1), 'ensemble1');
    const e2 = await judgeAll(t, blobs, await ensemble(2), 'ensemble2');
    const s2 = await judgeAll(t, blobs, single(2), 'single2');
    console.log(`rounds (candidates/s): single ${s1.toFixed(1)}, ensemble ${e1.toFixed(1)}, ensemble ${e2.toFixed(1)}, single ${s2.toFixed(1)}`);
    const singleRate = (s1 + s2) / 2;
    const ensembleRate = (e1 + e2) / 2;
    const ideal = CONCURRENCY / (LATENCY / 1000);
    console.log(`${N} candidates, ${LATENCY} ms per VLM reply, concurrency ${CONCURRENCY} per judge (ceiling ${ideal.toFixed(1)} candidates/s)`);
    console.log(`baseline, one judge (viescore-v1), mean of 2 rounds: ${singleRate.toFixed(1)} candidates/s`);
    console.log(`ensemble, two judges (viescore-v1 + imgedit-v1, 2 calls per candidate), mean of 2 rounds: ${ensembleRate.toFixed(1)} candidates/s`);
    console.log(`ratio ensemble / single = ${(ensembleRate / singleRate).toFixed(3)} (target ≥ 0.90)`);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
    await t.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
