/**
 * Selection benchmark: N requests × 4 judged candidates (default 250 000 × 4 = 1 000 000)
 * bulk-inserted into a fresh Postgres database with generate_series, then
 *   baseline: one `CREATE TABLE … AS SELECT` over the candidates joined with their judgments;
 *   measured: the full incremental selection (SFT picks + DPO pairs, written), batch by batch,
 *   under one judge version, one check version and thresholds applied to the raw scores;
 *   and `select --dry-run` over the same requests, before the real select (everything new) and
 *   after it with other thresholds (a threshold change previewed), each against the real select;
 *   then `select --rule scalar-v1 --all` (the scalarised pairing rule) over the same requests.
 * Prints the times, the ratios (selection ≤ 4× the baseline; dry run ≤ 1× the real select;
 * scalar-v1 against the baseline and against select-v1) and the Node process RSS sampled during the run.
 *
 *   npx tsx test/bench/select.bench.ts [--requests 250000] [--batch 5000] [--concurrency 2]
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../../db/client.ts';
import {
  dpoPairs,
  pickScalar,
  pickSft,
  runSelection,
  scalarPairs,
  type CandidateFacts,
  type ScalarCandidateFacts,
  type ScalarParams,
  type SelectionParams,
  type Verdict,
} from '../../pipeline/select/index.ts';
import { createTestDb } from '../helpers/db.ts';
import { flag } from './flags.ts';

const REQUESTS = flag('requests', 250_000);
const BATCH = flag('batch', 5000);
const CONCURRENCY = flag('concurrency', 2);
const K = 4;
const RUBRIC = 'bench-v1';
const JUDGE = { rubric: RUBRIC, model: 'judge', promptHash: 'h' };
const CHECK_VERSION = 'bench-check-v1';
const THRESHOLDS = { a: 4, b: 4 };
const OTHER_THRESHOLDS = { a: 5, b: 3, q: 2 };
const PARAMS: SelectionParams = { minMargin: 1, maxPairs: 4, maxUses: 2, loserMayFailChecks: true, reviewAcceptOverridesThresholds: true };
const SCALAR: ScalarParams = { weights: { instruction: 0.4, preservation: 0.35, quality: 0.25 }, minGap: 0.5 };

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const t = await createTestDb({ poolSize: CONCURRENCY + 1 });
  const db = t.db;
  try {
    const t0 = performance.now();
    await db.execute(sql`
      INSERT INTO sources (sha256, blob, width, height, format, bytes, origin)
      SELECT 'sha-' || g, 's/' || g, 512, 512, 'png', 1000, 'img' || g FROM generate_series(1, ${REQUESTS}) g`);
    await db.execute(sql`
      INSERT INTO requests (source_id, instruction, candidates_wanted, model, base_seed, status, settled_at)
      SELECT g, 'make it brighter', ${K}, 'm', 0, 'settled', now() FROM generate_series(1, ${REQUESTS}) g`);
    await db.execute(sql`
      INSERT INTO candidates (request_id, seed, sha256, blob, width, height, generator, latency_ms, status)
      SELECT r, s, md5(r::text || '/' || s), 'c/' || r || '/' || s, 512, 512, 'g', 100, 'judged'
      FROM generate_series(1, ${REQUESTS}) r, generate_series(0, ${K - 1}) s`);
    // Deterministic pseudo-random draws from hashes of the candidate id. 90 % of the checks pass;
    // scores are three axes 0–10 (integers: ties are common).
    await db.execute(sql`
      INSERT INTO checks (candidate_id, rule_version, face_status, face_threshold, face_count, faces, detector_version,
                          change_status, changed_fraction, largest_component_share, change, passed, latency_ms)
      SELECT id, ${CHECK_VERSION}, 'no_faces', 0.9, 0, '{}', 'd', 'pass', 0.2, 0.9, '{}', abs(hashint8(-id)) % 10 < 9, 10 FROM candidates`);
    await db.execute(sql`
      INSERT INTO judgments (candidate_id, judge_model, rubric, prompt_hash, ok, raw_scores, aggregate, scores, axis_instruction,
                             axis_preservation, axis_quality, passes_thresholds, attempts, latency_ms)
      SELECT id, ${JUDGE.model}, ${RUBRIC}, ${JUDGE.promptHash}, true, jsonb_build_object('a', a, 'b', b, 'q', q), '{}'::jsonb,
             ARRAY[a, b, q]::real[], a, b, q, a >= 4 AND b >= 4, 1, 10
      FROM (SELECT id, abs(hashint8(id)) % 11 AS a, abs(hashint8(id + 1000003)) % 11 AS b, abs(hashint8(id + 2000003)) % 11 AS q
            FROM candidates) x`);
    // A reviewer went through 1 % of the candidates.
    await db.execute(sql`
      INSERT INTO reviews (candidate_id, reviewer, verdict)
      SELECT id, 'r', CASE WHEN id % 2 = 0 THEN 'accept' ELSE 'reject' END FROM candidates WHERE abs(hashint8(id * 7)) % 100 = 0`);
    await db.execute(sql`VACUUM ANALYZE`);
    const [n] = await rows<{ c: number }>(db, sql`SELECT count(*)::int AS c FROM judgments`);
    console.log(`inserted ${REQUESTS} requests × ${K} = ${n!.c} judged candidates in ${secs(performance.now() - t0)} s`);

    // Baseline: one pass over the same candidates joined with their judgments.
    const b0 = performance.now();
    await db.execute(sql`
      CREATE TABLE bench_baseline AS
      SELECT c.id, c.request_id, c.seed, j.scores, j.passes_thresholds
      FROM candidates c JOIN judgments j ON j.candidate_id = c.id AND j.rubric = ${RUBRIC} AND j.ok`);
    const baseMs = performance.now() - b0;

    const settings = { judge: JUDGE, params: PARAMS, checkVersion: CHECK_VERSION, batchSize: BATCH, concurrency: CONCURRENCY };
    // The dry run before anything is stored: every pick and pair is new.
    const dry = await runSelection(db, { ...settings, thresholds: THRESHOLDS, dryRun: true, listLimit: 0 });

    const rss: number[] = [];
    const sample = setInterval(() => rss.push(process.memoryUsage().rss), 50);
    rss.push(process.memoryUsage().rss);
    let lastPct = -1;
    const r = await runSelection(db, {
      ...settings,
      thresholds: THRESHOLDS,
      onProgress: (done, total) => {
        const pct = Math.floor((done / Math.max(total, 1)) * 10);
        if (pct !== lastPct) process.stderr.write(`  ${done}/${total}\n`);
        lastPct = pct;
      },
    });
    clearInterval(sample);
    rss.push(process.memoryUsage().rss);

    const [chk] = await rows<{ sel: number; pairs: number }>(
      db,
      sql`SELECT (SELECT count(*) FROM selections)::int AS sel, (SELECT count(*) FROM pairs)::int AS pairs`,
    );
    const checked = await compareWithReference(db, Math.max(1, Math.floor(REQUESTS / 200)));
    // The dry run predicted exactly what the real select wrote (counts of picks and pairs).
    if (dry.diff!.total.picksGained !== r.picks || dry.diff!.total.pairsGained !== chk!.pairs) {
      throw new Error(`dry run predicted ${dry.diff!.total.picksGained} picks / ${dry.diff!.total.pairsGained} pairs, select wrote ${r.picks} / ${chk!.pairs}`);
    }
    // A threshold change previewed against the stored selection.
    const dry2 = await runSelection(db, { ...settings, thresholds: OTHER_THRESHOLDS, all: true, dryRun: true, listLimit: 0 });
    // The scalarised rule over the same requests (as `select --rule scalar-v1 --all`; it leaves the stamps alone).
    const sc = await runSelection(db, { ...settings, thresholds: THRESHOLDS, rules: ['scalar-v1'], scalar: SCALAR, all: true, stamp: false });
    const scChecked = await compareScalarWithReference(db, Math.max(1, Math.floor(REQUESTS / 200)));
    console.log(`baseline CREATE TABLE AS (candidates ⋈ judgments): ${secs(baseMs)} s`);
    console.log(
      `selection (batch ${BATCH}, ${CONCURRENCY} in flight): ${secs(r.ms)} s — ${r.requests} requests, ${r.picks} picks, ${r.pairs} pairs (rows: ${chk!.sel} selections, ${chk!.pairs} pairs)`,
    );
    console.log(`ratio selection / baseline: ${(r.ms / baseMs).toFixed(2)}× (target ≤ 4×)`);
    console.log(`select --dry-run before any selection: ${secs(dry.ms)} s — predicts ${dry.diff!.total.picksGained} picks, ${dry.diff!.total.pairsGained} pairs (what select wrote)`);
    console.log(`select --all --dry-run with other thresholds: ${secs(dry2.ms)} s — picks changed ${dry2.diff!.total.picksChanged}, pairs +${dry2.diff!.total.pairsGained} −${dry2.diff!.total.pairsLost}`);
    console.log(`ratio dry run / real select: ${(dry.ms / r.ms).toFixed(2)}× and ${(dry2.ms / r.ms).toFixed(2)}× (target ≤ 1×)`);
    console.log(`scalar-v1 selection (select --rule scalar-v1 --all): ${secs(sc.ms)} s — ${sc.requests} requests, ${sc.picks} picks, ${sc.pairs} pairs`);
    console.log(`ratio scalar-v1 / baseline: ${(sc.ms / baseMs).toFixed(2)}×; scalar-v1 / select-v1: ${(sc.ms / r.ms).toFixed(2)}×`);
    console.log(`checked ${scChecked} requests against the scalar-v1 TypeScript reference: same picks, same pairs`);
    console.log(`checked ${checked} requests (every ${Math.max(1, Math.floor(REQUESTS / 200))}th) against the TypeScript reference: same picks, same pairs`);
    console.log(`Node RSS during selection: min ${mb(Math.min(...rss))} MiB, max ${mb(Math.max(...rss))} MiB over ${rss.length} samples`);
  } finally {
    await t.cleanup();
  }
}

/** Recomputes a sample of requests with the TypeScript reference; throws on the first difference. */
async function compareWithReference(db: Db, every: number): Promise<number> {
  const facts = await rows<{ request_id: number; id: number; seed: number; scores: number[]; passes: boolean; passed: boolean; verdict: Verdict | null }>(
    db,
    sql`SELECT c.request_id, c.id, c.seed, j.scores, j.passes_thresholds AS passes, k.passed,
               (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) AS verdict
        FROM candidates c JOIN judgments j ON j.candidate_id = c.id AND j.rubric = ${RUBRIC}
        JOIN checks k ON k.candidate_id = c.id
        WHERE c.request_id % ${every} = 0 ORDER BY c.request_id, c.id`,
  );
  const byReq = new Map<number, CandidateFacts[]>();
  for (const f of facts) {
    const list = byReq.get(Number(f.request_id)) ?? [];
    list.push({ id: Number(f.id), seed: f.seed, scores: f.scores.map((v) => Math.fround(Number(v))), passesThresholds: f.passes, checkPassed: f.passed, review: f.verdict });
    byReq.set(Number(f.request_id), list);
  }
  const sel = await rows<{ request_id: number; candidate_id: number | null }>(
    db,
    sql`SELECT request_id, candidate_id FROM selections WHERE request_id % ${every} = 0 AND rule_version = 'select-v1'`,
  );
  const prs = await rows<{ request_id: number; chosen_id: number; rejected_id: number; rank: number }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id, rank FROM pairs WHERE request_id % ${every} = 0 AND rule_version = 'select-v1' ORDER BY request_id, rank`,
  );
  for (const s of sel) {
    const ref = pickSft(byReq.get(Number(s.request_id)) ?? [], PARAMS).candidateId;
    const got = s.candidate_id === null ? null : Number(s.candidate_id);
    if (ref !== got) throw new Error(`request ${s.request_id}: SQL picked ${got}, the reference ${ref}`);
    const want = dpoPairs(byReq.get(Number(s.request_id)) ?? [], PARAMS).map((p) => `${p.chosenId}>${p.rejectedId}#${p.rank}`).join(' ');
    const have = prs.filter((p) => Number(p.request_id) === Number(s.request_id)).map((p) => `${p.chosen_id}>${p.rejected_id}#${p.rank}`).join(' ');
    if (want !== have) throw new Error(`request ${s.request_id}: SQL pairs [${have}], the reference [${want}]`);
  }
  return sel.length;
}

/** The same for scalar-v1's rows (thresholds as stored in passes_thresholds, which THRESHOLDS equal). */
async function compareScalarWithReference(db: Db, every: number): Promise<number> {
  const facts = await rows<{ request_id: number; id: number; seed: number; scores: number[]; ai: number; ap: number; aq: number; passes: boolean; passed: boolean; verdict: Verdict | null }>(
    db,
    sql`SELECT c.request_id, c.id, c.seed, j.scores, j.axis_instruction AS ai, j.axis_preservation AS ap, j.axis_quality AS aq,
               j.passes_thresholds AS passes, k.passed,
               (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) AS verdict
        FROM candidates c JOIN judgments j ON j.candidate_id = c.id AND j.rubric = ${RUBRIC}
        JOIN checks k ON k.candidate_id = c.id
        WHERE c.request_id % ${every} = 0 ORDER BY c.request_id, c.id`,
  );
  const byReq = new Map<number, ScalarCandidateFacts[]>();
  const f32 = (v: number) => Math.fround(Number(v));
  for (const f of facts) {
    const list = byReq.get(Number(f.request_id)) ?? [];
    list.push({
      id: Number(f.id),
      seed: f.seed,
      scores: f.scores.map(f32),
      axes: { instruction: f32(f.ai), preservation: f32(f.ap), quality: f32(f.aq) },
      passesThresholds: f.passes,
      checkPassed: f.passed,
      review: f.verdict,
    });
    byReq.set(Number(f.request_id), list);
  }
  const sel = await rows<{ request_id: number; candidate_id: number | null }>(
    db,
    sql`SELECT request_id, candidate_id FROM selections WHERE request_id % ${every} = 0 AND rule_version = 'scalar-v1'`,
  );
  const prs = await rows<{ request_id: number; chosen_id: number; rejected_id: number; rank: number }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id, rank FROM pairs WHERE request_id % ${every} = 0 AND rule_version = 'scalar-v1' ORDER BY request_id, rank`,
  );
  for (const s of sel) {
    const cands = byReq.get(Number(s.request_id)) ?? [];
    const ref = pickScalar(cands, PARAMS, SCALAR).candidateId;
    const got = s.candidate_id === null ? null : Number(s.candidate_id);
    if (ref !== got) throw new Error(`scalar-v1 request ${s.request_id}: SQL picked ${got}, the reference ${ref}`);
    const want = scalarPairs(cands, PARAMS, SCALAR).map((p) => `${p.chosenId}>${p.rejectedId}#${p.rank}`).join(' ');
    const have = prs.filter((p) => Number(p.request_id) === Number(s.request_id)).map((p) => `${p.chosen_id}>${p.rejected_id}#${p.rank}`).join(' ');
    if (want !== have) throw new Error(`scalar-v1 request ${s.request_id}: SQL pairs [${have}], the reference [${want}]`);
  }
  return sel.length;
}

await main();
