/**
 * Benchmark: `enqueue` of 100 000 manifest lines (a few source images reused, every line its own
 * instruction) — parse, sources, requests in Postgres, generate jobs in BullMQ — against raw
 * BullMQ `addBulk` of the same 100 000 jobs in batches of 500. Target: ≤ 2×.
 * Run: npx tsx test/bench/pipeline-enqueue.bench.ts [LINES]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { BlobStore } from '../../pipeline/blobs.ts';
import { jobId } from '../../pipeline/jobs.ts';
import { readManifest } from '../../pipeline/manifest.ts';
import { ADD_BULK_BATCH, DEFAULT_JOB_OPTIONS, deletePrefixKeys, openQueues } from '../../pipeline/queues.ts';
import { redisConnection } from '../../pipeline/redis.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { createTestDb } from '../helpers/db.ts';
import { REDIS_URL, freshPrefix, smallImages, tempDir } from '../services/pipeline-helpers.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

const LINES = Number(process.argv[2] ?? 100_000);

async function main() {
  const tmp = tempDir('bench-enqueue');
  const images = await smallImages(path.join(tmp.dir, 'img'));
  const file = path.join(tmp.dir, 'manifest.jsonl');
  const out: string[] = [];
  for (let i = 0; i < LINES; i++) out.push(JSON.stringify({ image: `img/${images[i % images.length]}`, instruction: `Blur the whole picture, take ${i}`, category: 'detail' }));
  writeFileSync(file, `${out.join('\n')}\n`);

  // Raw BullMQ: the same jobs (ids, payloads and job options as the pipeline stores them), addBulk in batches.
  const rawPrefix = freshPrefix('bench-raw');
  const conn = redisConnection(REDIS_URL);
  const raw = new Queue('generate', { connection: conn, prefix: rawPrefix.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  const r0 = performance.now();
  for (let i = 0; i < LINES; i += ADD_BULK_BATCH) {
    const jobs = [];
    for (let k = i; k < Math.min(LINES, i + ADD_BULK_BATCH); k++) jobs.push({ name: 'generate', data: { requestId: k + 1 }, opts: { jobId: jobId('generate', { requestId: k + 1 }) } });
    await raw.addBulk(jobs);
  }
  const rawMs = performance.now() - r0;
  await raw.close();
  await deletePrefixKeys(conn, rawPrefix.prefix);

  // The enqueue stage, streaming the manifest file.
  const db = await createTestDb();
  const p = freshPrefix('bench-enq');
  const queues = openQueues(REDIS_URL, p.prefix);
  const e0 = performance.now();
  const s = await enqueueManifest(readManifest(file), {
    db: db.db,
    blobs: new BlobStore(path.join(tmp.dir, 'blobs')),
    queues,
    candidates: 4,
    model: 'vibe-builtin-cpu',
    baseDir: tmp.dir,
    maxPixels: DEFAULT_MAX_PIXELS,
  });
  const enqMs = performance.now() - e0;
  if (s.added !== LINES || s.enqueued !== LINES) throw new Error(`expected ${LINES} added and enqueued, got ${JSON.stringify({ ...s, requestIds: s.requestIds.length })}`);
  const depth = await queues.queues.generate.getWaitingCount();
  await queues.close();
  await deletePrefixKeys(conn, p.prefix);
  conn.disconnect();
  await db.cleanup();
  tmp.cleanup();

  console.log(`enqueue ${LINES} lines: ${(enqMs / 1000).toFixed(2)} s (${Math.round(LINES / (enqMs / 1000))} lines/s; ${depth} jobs waiting)`);
  console.log(`raw BullMQ addBulk of ${LINES} jobs: ${(rawMs / 1000).toFixed(2)} s (${Math.round(LINES / (rawMs / 1000))} jobs/s)`);
  console.log(`ratio enqueue / raw addBulk: ${(enqMs / rawMs).toFixed(2)}× (target ≤ 2×)`);
}

await main();
