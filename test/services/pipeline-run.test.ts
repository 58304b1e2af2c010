/**
 * The pipeline end to end on real Postgres and Redis: 50 requests × 4 candidates through
 * generate → check → judge → select in one process; every candidate checked, judged or
 * rejected, every request selected; a re-run adds nothing; `status --json` prints the funnel.
 */
import { selectionSettings } from '../../pipeline/select/index.ts';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { getFunnel } from '../../db/repositories/funnel.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { metricsRegistry } from '../../pipeline/metrics.ts';
import { runLocalPipeline, type LocalPipelineSummary } from '../../cli/run-local.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, snapshot, tempDir, testConfig, type LedgerSnapshot } from './pipeline-helpers.ts';

describe('pipeline run: 50 requests × 4 candidates', () => {
  let t: TestDb;
  const tmp = tempDir('run');
  const imgDir = `${tmp.dir}/img`;
  const cfg = testConfig(`${tmp.dir}/data`);
  let images: string[];
  let first: LocalPipelineSummary;
  let firstSnap: LedgerSnapshot;

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir);
    first = await runLocalPipeline({
      db: t.db,
      blobs: new BlobStore(cfg.blobDir),
      config: cfg,
      redisUrl: REDIS_URL,
      requests: requestsOver(images, 50),
      baseDir: imgDir,
      candidates: 4,
      timeoutMs: 90_000,
    });
    firstSnap = await snapshot(t.db);
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
    tmp.cleanup();
  });

  it('checks every candidate, judges every one that passed, rejects the rest, and selects every request', async () => {
    expect(first.enqueue).toMatchObject({ added: 50, present: 0, rejected: 0 });
    const [c] = await rows<Record<string, number>>(
      t.db,
      sql`SELECT
        (SELECT count(*) FROM candidates)::int AS candidates,
        (SELECT count(*) FROM candidates c WHERE NOT EXISTS (SELECT 1 FROM checks k WHERE k.candidate_id = c.id))::int AS unchecked,
        (SELECT count(*) FROM candidates c JOIN checks k ON k.candidate_id = c.id WHERE k.passed AND c.status <> 'judged')::int AS passed_not_judged,
        (SELECT count(*) FROM candidates c JOIN checks k ON k.candidate_id = c.id WHERE k.passed AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id))::int AS passed_without_judgment,
        (SELECT count(*) FROM candidates c JOIN checks k ON k.candidate_id = c.id WHERE NOT k.passed AND c.status <> 'rejected')::int AS failed_not_rejected,
        (SELECT count(*) FROM requests WHERE status <> 'selected' OR settled_at IS NULL OR selected_at IS NULL)::int AS unselected,
        (SELECT count(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM selections s WHERE s.request_id = r.id))::int AS without_selection,
        (SELECT count(DISTINCT (request_id, seed))::int FROM candidates) AS distinct_seeds,
        (SELECT count(*) FROM failures)::int AS failures`,
    );
    expect(c).toEqual({
      candidates: 200,
      unchecked: 0,
      passed_not_judged: 0,
      passed_without_judgment: 0,
      failed_not_rejected: 0,
      unselected: 0,
      without_selection: 0,
      distinct_seeds: 200,
      failures: 0,
    });
    const f = first.funnel;
    expect(f.requests).toMatchObject({ total: 50, selected: 50, settled: 50, failed: 0 });
    expect(f.checks.passed + f.checks.failed).toBe(200);
    // JUDGE_REJECTED (default true): the candidates that failed a check are judged too.
    expect(f.judgments.judged).toBe(f.checks.passed + f.checks.failed);
    expect(f.judgments.onRejected).toBe(f.checks.failed);
    // The built-in core's defects make both outcomes happen: the checks really decide.
    expect(f.checks.passed).toBeGreaterThan(0);
    expect(f.checks.failed).toBeGreaterThan(0);
    expect(f.selection.sftPicks).toBeGreaterThan(0);
    expect(f.selection.dpoPairs).toBeGreaterThan(0);
  });

  it('names the generator by model and keeps the answering server beside it (no random port in the samples)', async () => {
    const r = await rows<{ generator: string; server: string }>(
      t.db,
      sql`SELECT DISTINCT generator, generator_meta->>'server' AS server FROM candidates`,
    );
    expect(r.map((x) => x.generator)).toEqual([cfg.inference.model]);
    expect(r.every((x) => /^http:\/\/127\.0\.0\.1:\d+$/.test(x.server))).toBe(true);
  });

  it('counts every job in the Prometheus registry', async () => {
    const text = await metricsRegistry.metrics();
    const count = (q: string) =>
      [...text.matchAll(new RegExp(`^vibe_jobs_total\\{queue="${q}",outcome="(done|skipped)"\\} (\\d+)`, 'gm'))].reduce((a, m) => a + Number(m[2]), 0);
    expect(count('generate')).toBeGreaterThanOrEqual(50);
    expect(count('check')).toBeGreaterThanOrEqual(200);
    expect(count('judge')).toBeGreaterThanOrEqual(first.funnel.checks.passed);
    expect(text).toMatch(/^vibe_stage_duration_seconds_count\{stage="check"\} \d+/m);
  });

  it('a second run of the same requests generates, checks and judges nothing new', async () => {
    const maxIds = async () => (await rows<Record<string, number>>(t.db, sql`SELECT (SELECT max(id) FROM candidates)::int AS c, (SELECT max(id) FROM checks)::int AS k, (SELECT max(id) FROM judgments)::int AS j`))[0];
    const before = await maxIds();
    const again = await runLocalPipeline({
      db: t.db,
      blobs: new BlobStore(cfg.blobDir),
      config: cfg,
      redisUrl: REDIS_URL,
      requests: requestsOver(images, 50),
      baseDir: imgDir,
      candidates: 4,
      timeoutMs: 60_000,
    });
    expect(again.enqueue).toMatchObject({ added: 0, present: 50, rejected: 0 });
    expect(await maxIds()).toEqual(before);
    expect(await snapshot(t.db)).toEqual(firstSnap);
  }, 90_000);

  it('status --json prints the funnel and the queue depths', async () => {
    const p = freshPrefix('status');
    try {
      const r = await runCli(['status', '--json'], { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: `${tmp.dir}/data` });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { funnel: unknown; queues: Record<string, { waiting: number; active: number; delayed: number; failed: number }>; prefix: string };
      expect(out.funnel).toEqual(await getFunnel(t.db, selectionSettings(cfg)));
      expect(out.prefix).toBe(p.prefix);
      expect(Object.keys(out.queues).sort()).toEqual(['check', 'generate', 'judge', 'select']);
      expect(out.queues.generate).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
      const human = await runCli(['status'], { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: `${tmp.dir}/data` });
      expect(human.stdout).toMatch(/^requests\s+50\s/m);
      expect(human.stdout).toMatch(/^candidates generated\s+200\b/m);
      expect(human.stdout).toMatch(/^generate\s+0\s+0\s+0\s+0/m);
    } finally {
      await p.cleanup();
    }
  });
});
