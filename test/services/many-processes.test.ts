/**
 * Many processes, one truth. At once, on one Postgres and one Redis:
 * - two workers (each its own connections and pool) run every stage;
 * - a `vibe-curate select --all` loop runs as child processes;
 * - reviewers post verdicts through the dashboard API (single and bulk);
 * - an export runs, a page of two requests at a time.
 * At the end, with no CLI run after the last review, every request's selection and pairs equal
 * the brute-force reference for the ledger as it stands (the reviews reached the selection by
 * the select jobs the dashboard enqueued), and the export holds exactly the samples of the
 * ledger at the snapshot its manifest records. Then one more review, with nothing else running,
 * changes the selection within seconds.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../../dashboards/server.ts';
import { openDb, rows, type DbHandle } from '../../db/client.ts';
import { isSelectionDue, runProgress } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { runExport } from '../../pipeline/export/index.ts';
import type { Manifest } from '../../pipeline/export/manifest.ts';
import { QUEUE_NAMES } from '../../pipeline/jobs.ts';
import { configuredRubricId } from '../../pipeline/judge/index.ts';
import { parseManifestLines } from '../../pipeline/manifest.ts';
import { openQueues, queueDepths } from '../../pipeline/queues.ts';
import { SELECTION_RULE_VERSION, selectionParamsFromConfig } from '../../pipeline/select/index.ts';
import { enqueueManifest } from '../../pipeline/stages/enqueue.ts';
import { startWorkers } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { matchesReference } from '../select/reference.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

describe('workers, select, export and reviewers at once', () => {
  let t: TestDb;
  const handles: DbHandle[] = [];
  const tmp = tempDir('many');
  const p = freshPrefix('many');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  let images: string[];

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 96);
  });
  afterAll(async () => {
    for (const h of handles) await h.close();
    await t?.cleanup();
    await p.cleanup();
    tmp.cleanup();
  });

  it('ends with the reference selection and a snapshot-consistent export', async () => {
    const cfg = testConfig(dataDir, { QUEUE_PREFIX: p.prefix });
    const blobs = new BlobStore(cfg.blobDir);
    const rubric = configuredRubricId(cfg.judge);
    const params = selectionParamsFromConfig(cfg);
    const N = 16;

    // two workers: separate pools and Redis connections, as two processes have
    const workers = [];
    const queueSets = [];
    for (let i = 0; i < 2; i++) {
      const h = await openDb({ databaseUrl: t.url, pgliteDir: '', poolSize: 4 });
      handles.push(h);
      const q = openQueues(REDIS_URL, p.prefix);
      queueSets.push(q);
      workers.push(await startWorkers({ db: h.db, blobs, config: cfg, queues: q, redisUrl: REDIS_URL, which: QUEUE_NAMES, concurrency: 2 }));
    }
    const dashDb = await openDb({ databaseUrl: t.url, pgliteDir: '', poolSize: 2 });
    handles.push(dashDb);
    const app = createDashboardApp({ db: dashDb.db, blobs, config: cfg, redisUrl: REDIS_URL, queuePrefix: p.prefix, queueSampleMs: 60_000 });
    let stop = false;
    const errors: string[] = [];

    try {
      await enqueueManifest(parseManifestLines(requestsOver(images, N).map((r) => JSON.stringify(r))), {
        db: t.db,
        blobs,
        queues: queueSets[0]!,
        candidates: 4,
        model: cfg.inference.model,
        baseDir: imgDir,
        maxPixels: cfg.checks.maxImagePixels,
      });

      // the `select --all` loop, as an operator would run it by hand
      const env = { DATABASE_URL: t.url, REDIS_URL, DATA_DIR: dataDir, QUEUE_PREFIX: p.prefix };
      let selectRuns = 0;
      const selectLoop = (async () => {
        while (!stop) {
          const r = await runCli(['select', '--all', '--json'], env, 120_000);
          if (r.code !== 0) errors.push(`select: ${r.stderr}`);
          selectRuns++;
        }
      })();

      // reviewers: a verdict on a random judged candidate every 150 ms, and a bulk action
      let reviews = 0;
      const post = async (url: string, body: unknown) => {
        const res = await app.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-reviewer': 'ana' }, body: JSON.stringify(body) });
        const json = (await res.json()) as Record<string, unknown>;
        if (res.status >= 300) errors.push(`${url}: ${res.status} ${JSON.stringify(json)}`);
        return json;
      };
      const reviewLoop = (async () => {
        const verdicts = ['accept', 'reject', 'flag'] as const;
        let k = 0;
        while (!stop) {
          const judged = await rows<{ id: number }>(t.db, sql`SELECT id FROM candidates WHERE status = 'judged' ORDER BY random() LIMIT 1`);
          if (judged[0]) {
            const r = await post('/api/reviews', { candidateId: Number(judged[0].id), verdict: verdicts[k++ % 3] });
            expect(r.selection).toMatchObject({ enqueued: expect.any(Number) });
            reviews++;
          }
          if (k === 6) {
            const b = await post('/api/reviews/bulk', { filter: { quality_min: 8 }, verdict: 'accept', confirm: true });
            expect(b).toMatchObject({ applied: expect.any(Number) });
          }
          await sleep(150);
        }
      })();

      // the export starts once some requests are selected, and runs while everything else does
      for (let prog = await runProgress(t.db); prog.selected < 4; prog = await runProgress(t.db)) await sleep(100);
      const out = path.join(tmp.dir, 'export-sft');
      const reader = new pg.Client({ connectionString: t.url });
      await reader.connect();
      let expected: string[] | undefined;
      let highWater: Record<string, number> | undefined;
      const exported = await runExport(t.db, blobs, {
        kind: 'sft',
        outDir: out,
        shardSamples: 3,
        valFraction: 0,
        format: 'webdataset',
        rubric,
        pageSize: 2,
        sampleDelayMs: 40,
        onSnapshot: async (snap) => {
          // an independent reader on the export's snapshot: what the export must hold
          await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          await reader.query(`SET TRANSACTION SNAPSHOT '${snap.exportedId}'`);
          const r = await reader.query<{ sha256: string }>(
            `SELECT c.sha256 FROM selections s JOIN candidates c ON c.id = s.candidate_id
             WHERE s.rubric = $1 AND s.rule_version = $2
               AND (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) IS DISTINCT FROM 'reject'
             ORDER BY 1`,
            [rubric, SELECTION_RULE_VERSION],
          );
          expected = r.rows.map((x) => x.sha256);
          const hw = await reader.query<Record<string, string>>(
            `SELECT ${['requests', 'candidates', 'checks', 'judgments', 'selections', 'pairs', 'reviews'].map((tb) => `(SELECT coalesce(max(id), 0) FROM ${tb}) AS ${tb}`).join(', ')}`,
          );
          highWater = Object.fromEntries(Object.entries(hw.rows[0]!).map(([k, v]) => [k, Number(v)]));
          await reader.query('COMMIT');
        },
      });
      await reader.end();

      // the pipeline finishes; the loops go on a little, then stop
      for (let prog = await runProgress(t.db), deadline = Date.now() + 150_000; prog.finished < N; prog = await runProgress(t.db)) {
        if (Date.now() > deadline) throw new Error(`pipeline did not finish: ${JSON.stringify(prog)}`);
        await sleep(200);
      }
      await sleep(1500);
      stop = true;
      await Promise.all([selectLoop, reviewLoop]);
      expect(errors).toEqual([]);
      expect(selectRuns).toBeGreaterThanOrEqual(1);
      expect(reviews).toBeGreaterThanOrEqual(3);

      // no CLI after the last review: the workers' select jobs apply it within seconds
      const ids = (await rows<{ id: number }>(t.db, sql`SELECT id FROM requests ORDER BY id`)).map((r) => Number(r.id));
      for (const deadline = Date.now() + 30_000; ; ) {
        const depths = await queueDepths(queueSets[0]!);
        const busy = depths.select.waiting + depths.select.active + depths.select.delayed + depths.select.prioritized;
        const due = (await Promise.all(ids.map((id) => isSelectionDue(t.db, id)))).filter(Boolean).length;
        if (busy === 0 && due === 0) break;
        if (Date.now() > deadline) throw new Error(`selection did not settle: ${busy} select jobs, ${due} requests due`);
        await sleep(200);
      }
      for (const id of ids) {
        expect(await matchesReference(t.db, id, rubric, params), `request ${id}`).toMatchObject({ ok: true });
      }

      // one more review with nothing else running: the fleet alone applies it within seconds
      const [picked] = await rows<{ request_id: number; candidate_id: number }>(
        t.db,
        sql`SELECT request_id, candidate_id FROM selections WHERE rubric = ${rubric} AND candidate_id IS NOT NULL ORDER BY request_id LIMIT 1`,
      );
      expect(picked).toBeDefined();
      const posted = await post('/api/reviews', { candidateId: Number(picked!.candidate_id), verdict: 'reject', note: 'last' });
      expect(posted.selection).toEqual({ enqueued: 1 });
      const t0 = Date.now();
      for (;;) {
        const [now] = await rows<{ candidate_id: number | null }>(t.db, sql`SELECT candidate_id FROM selections WHERE request_id = ${picked!.request_id} AND rubric = ${rubric}`);
        if (now?.candidate_id == null || Number(now.candidate_id) !== Number(picked!.candidate_id)) break;
        if (Date.now() - t0 > 10_000) throw new Error('the review did not reach the selection within 10 s');
        await sleep(100);
      }
      expect(await matchesReference(t.db, Number(picked!.request_id), rubric, params)).toMatchObject({ ok: true });

      // the export: exactly the ledger at its snapshot
      const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest.snapshot.high_water).toEqual(highWater);
      const shards = await readTarsWithPython(exported.shards.map((s) => path.join(out, s.url)));
      const edits = shards.flatMap((s) => s.members.filter((m) => m.json).map((m) => String(m.json!.edit_sha256))).sort();
      expect(edits).toEqual(expected);
      expect(edits.length).toBeGreaterThan(0);
    } finally {
      stop = true;
      for (const w of workers) await w.close();
      for (const q of queueSets) await q.close();
      await app.dispose();
    }
  }, 300_000);
});
