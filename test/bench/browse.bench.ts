/**
 * Benchmark: the dashboard's browse endpoint (GET /api/candidates, through hono, zod and the
 * repository) with filters, over BENCH_CANDIDATES candidates (default 1 000 000) bulk-inserted
 * with generate_series into a fresh database, with a check, a judgment (85 %), a selection per
 * request and reviews on 1 %. Prints the p95 latency of page 1 and of page 1000 (keyset cursor)
 * and their ratio (target: page 1000 within 1.5× page 1), plus an OFFSET query of the same depth
 * as the honest baseline of what keyset pagination avoids.
 *
 * Run: npx tsx test/bench/browse.bench.ts   (BENCH_CANDIDATES=200000 for a quicker run)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { createDashboardApp } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { createTestDb } from '../helpers/db.ts';

const CANDIDATES = Number(process.env.BENCH_CANDIDATES ?? 1_000_000);
const K = 4;
const REQUESTS = Math.ceil(CANDIDATES / K);
const PAGE = 50;
const DEPTH = 1000; // the page compared with page 1
const RUNS = 100;
const RUBRIC = 'viescore-v1';

const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!;
};
const ms = (n: number) => `${n.toFixed(2)} ms`;

const tdb = await createTestDb({ poolSize: 4 });
const dir = await mkdtemp(path.join(os.tmpdir(), 'vc-bench-'));
try {
  const t0 = performance.now();
  const db = tdb.db;
  // pseudo-random but deterministic fraction in [0, 1) of an integer expression
  const rnd = (expr: string, salt: number) => sql.raw(`((((${expr}) * 2654435761::bigint + ${salt}) % 1000003) / 1000003.0)`);
  await db.execute(sql`INSERT INTO sources (sha256, blob, width, height, format, bytes, origin)
    SELECT md5(i::text) || md5((-i)::text), 'aa/' || md5(i::text) || md5((-i)::text) || '.png', 512, 512, 'png', 1000, 'bench-' || i
    FROM generate_series(1, 1000) i`);
  await db.execute(sql`INSERT INTO requests (source_id, instruction, category, candidates_wanted, model, base_seed, status, settled_at, selected_at)
    SELECT 1 + (i % 1000),
           (ARRAY['make the sky purple', 'turn it black and white', 'add a red border', 'brighten the photo', 'blur the background'])[1 + i % 5] || ' #' || i,
           (ARRAY['color', 'tone', 'style', 'geometry', 'detail'])[1 + (i / 7) % 5], ${K}, 'bench', 0, 'selected', now(), now()
    FROM generate_series(1, ${REQUESTS}::int) i`);
  await db.execute(sql`INSERT INTO candidates (request_id, seed, sha256, blob, width, height, generator, latency_ms, status, checked_at, judged_at)
    SELECT r.id, s, md5(r.id::text || '-' || s), 'bb/' || md5(r.id::text || '-' || s) || md5(s::text) || '.png', 512, 512, 'bench', 100,
           CASE WHEN ${rnd('r.id * 4 + s', 1)} < 0.15 THEN 'rejected' ELSE 'judged' END, now(), now()
    FROM requests r CROSS JOIN generate_series(0, ${K - 1}) s ORDER BY r.id, s`);
  await db.execute(sql`INSERT INTO checks (candidate_id, rule_version, face_status, face_min_iou, face_threshold, face_count, faces, detector_version,
                                           change_status, changed_fraction, largest_component_share, change, passed, latency_ms)
    SELECT c.id, 'checks-v1',
           CASE WHEN c.status = 'rejected' THEN 'fail' WHEN ${rnd('c.id', 2)} < 0.5 THEN 'no_faces' ELSE 'pass' END,
           CASE WHEN ${rnd('c.id', 2)} < 0.5 AND c.status <> 'rejected' THEN NULL ELSE 0.5 + 0.5 * ${rnd('c.id', 3)} END,
           0.9, 1, '{}'::jsonb, 'bench', 'pass', 0.2, 0.9, '{}'::jsonb, c.status <> 'rejected', 10
    FROM candidates c`);
  await db.execute(sql`INSERT INTO judgments (candidate_id, judge_model, rubric, prompt_hash, ok, scores, axis_instruction, axis_preservation, axis_quality,
                                              passes_thresholds, attempts, latency_ms)
    SELECT c.id, 'bench', ${RUBRIC}, 'x', true, ARRAY[10 * ${rnd('c.id', 4)}, 10 * ${rnd('c.id', 5)}]::real[],
           10 * ${rnd('c.id', 4)}, 10 * ${rnd('c.id', 5)}, 10 * ${rnd('c.id', 6)}, ${rnd('c.id', 4)} > 0.3, 1, 20
    FROM candidates c WHERE c.status = 'judged'`);
  await db.execute(sql`INSERT INTO selections (request_id, candidate_id, rule_version, rubric, params, score)
    SELECT DISTINCT ON (request_id) request_id, id, 'sel-v1', ${RUBRIC}, '{}'::jsonb, 5
    FROM candidates WHERE status = 'judged' ORDER BY request_id, id`);
  await db.execute(sql`INSERT INTO reviews (candidate_id, reviewer, verdict, note)
    SELECT c.id, 'bench', (ARRAY['accept', 'reject', 'flag'])[1 + c.id % 3], '' FROM candidates c WHERE ${rnd('c.id', 7)} < 0.01`);
  await db.execute(sql`ANALYZE`);
  console.log(`load statements done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const [count] = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM candidates`);
  console.log(`loaded ${count!.n} candidates (${REQUESTS} requests) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const cfg = loadConfig({ DATA_DIR: dir });
  const app = createDashboardApp({ db, blobs: new BlobStore(cfg.blobDir), config: cfg, rubric: RUBRIC });
  const filters = [
    ['judged, checks passed, quality ≥ 4, not reviewed', 'status=judged&passed=true&quality_min=4&reviewed=no'],
    ['instruction ILIKE "%the%", face IoU ≥ 0.6', 'q=the&iou_min=0.6'],
  ] as const;

  const fetchPage = async (query: string, cursor: number | null) => {
    const t = performance.now();
    const res = await app.request(`/api/candidates?${query}&limit=${PAGE}${cursor === null ? '' : `&cursor=${cursor}`}`);
    const body = (await res.json()) as { rows: { id: number }[]; nextCursor: number | null };
    if (res.status !== 200 || body.rows.length !== PAGE) throw new Error(`browse: status ${res.status}, ${body.rows?.length} rows`);
    return { ms: performance.now() - t, next: body.nextCursor };
  };

  for (const [label, query] of filters) {
    // walk to page 1000 once to learn its cursor
    let cursor: number | null = null;
    const tw = performance.now();
    for (let i = 1; i < DEPTH; i++) cursor = (await fetchPage(query, cursor)).next;
    const walk = performance.now() - tw;
    const first: number[] = [];
    const deep: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      first.push((await fetchPage(query, null)).ms);
      deep.push((await fetchPage(query, cursor)).ms);
    }
    // the honest baseline: the same depth with OFFSET (what the keyset cursor avoids)
    const offsetMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await rows(
        db,
        sql`SELECT c.id FROM candidates c
            JOIN LATERAL (SELECT k.passed, k.face_min_iou FROM checks k WHERE k.candidate_id = c.id ORDER BY k.id DESC LIMIT 1) ck ON true
            WHERE c.status = 'judged' AND ck.passed ORDER BY c.id DESC OFFSET ${(DEPTH - 1) * PAGE} LIMIT ${PAGE}`,
      );
      offsetMs.push(performance.now() - t);
    }
    const a = p95(first);
    const b = p95(deep);
    console.log(`\nfilter: ${label}`);
    console.log(`  walked pages 1..${DEPTH - 1} in ${(walk / 1000).toFixed(1)} s (cursor id ${cursor})`);
    console.log(`  p95 page 1:    ${ms(a)}  (median ${ms(first.sort((x, y) => x - y)[RUNS >> 1]!)})`);
    console.log(`  p95 page ${DEPTH}: ${ms(b)}  (median ${ms(deep.sort((x, y) => x - y)[RUNS >> 1]!)})`);
    console.log(`  ratio page ${DEPTH} / page 1: ${(b / a).toFixed(2)}× (target ≤ 1.5×) ${b / a <= 1.5 ? 'OK' : 'MISSED'}`);
    console.log(`  baseline: OFFSET ${(DEPTH - 1) * PAGE} with one of these filters, p95 ${ms(p95(offsetMs))} = ${(p95(offsetMs) / b).toFixed(1)}× the keyset page ${DEPTH}`);
  }
  await app.dispose();
} finally {
  await tdb.cleanup();
  await rm(dir, { recursive: true, force: true });
}
