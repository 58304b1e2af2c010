/**
 * Upgrading a ledger made by migrations 0000–0002, with rows in it, to the current schema: the
 * database is migrated only that far (a copy of the migrations folder cut after 0002), filled
 * the way the pipeline of that schema filled it (its repositories where they are unchanged; its
 * judgment, selection and pair rows as it wrote them), then the remaining migrations run. Every
 * row survives, the judge and check versions are backfilled, and the new code reads the old
 * rows as current: a dry-run selection finds nothing to change and export writes the old picks.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb, rows, type DbHandle } from '../../db/client.ts';
import { moveCandidate, storeCandidatesOfRequest } from '../../db/repositories/candidates.repository.ts';
import { insertRequests, settleRequest } from '../../db/repositories/requests.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { checkVersion, hardCheckOptionsFromConfig, runHardChecks } from '../../pipeline/checks/index.ts';
import { demoRequests } from '../../cli/demo.ts';
import { probeImage } from '../../pipeline/images.ts';
import { baseSeedOf } from '../../pipeline/stages/enqueue.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { runExport } from '../../pipeline/export/index.ts';
import { variantForSeed, renderEdit } from '../../pipeline/builtin/editor.ts';
import { parseInstruction } from '../../pipeline/builtin/instruction-grammar.ts';
import { createMetricJudge } from '../../pipeline/builtin/metric-judge.ts';
import { getRubric } from '../../pipeline/judge/index.ts';
import { dpoPairs, pickSft, runSelection, selectionParamsFromConfig, selectionSettings, type CandidateFacts } from '../../pipeline/select/index.ts';
import { ADMIN_URL } from '../helpers/db.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { smallImages } from '../services/pipeline-helpers.ts';

const MIGRATIONS = path.resolve('migrations');
const R = 8; // requests
const K = 4; // candidates each

describe('migrating a filled 0002 database to the current schema', () => {
  let name: string;
  let url: string;
  let h: DbHandle;
  let work: string;
  const cfg = () => loadConfig({ DATA_DIR: path.join(work, 'data') });
  const counts = async () =>
    (await rows<Record<string, number>>(
      h.db,
      sql`SELECT (SELECT count(*) FROM sources)::int AS sources, (SELECT count(*) FROM requests)::int AS requests,
                 (SELECT count(*) FROM candidates)::int AS candidates, (SELECT count(*) FROM checks)::int AS checks,
                 (SELECT count(*) FROM judgments)::int AS judgments, (SELECT count(*) FROM selections)::int AS selections,
                 (SELECT count(*) FROM pairs)::int AS pairs`,
    ))[0]!;
  let before: Record<string, number>;
  let oldPicks: { request_id: number; candidate_id: number | null }[];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'vc-upgrade-'));
    name = `vc_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();

    // The migrations folder as it was at 0002.
    const old = path.join(work, 'migrations');
    await mkdir(path.join(old, 'meta'), { recursive: true });
    const journal = JSON.parse(await readFile(path.join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] };
    journal.entries = journal.entries.filter((e) => e.idx <= 2);
    expect(journal.entries.map((e) => e.tag)).toEqual(['0000_init', '0001_requests_reviewed_at', '0002_selection_speed']);
    for (const e of journal.entries) await copyFile(path.join(MIGRATIONS, `${e.tag}.sql`), path.join(old, `${e.tag}.sql`));
    await writeFile(path.join(old, 'meta', '_journal.json'), JSON.stringify(journal));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await drizzleMigrate(drizzle(client), { migrationsFolder: old });
    await client.end();

    h = await openDb({ databaseUrl: url, pgliteDir: '' });
    await fillAs0002();
    before = await counts();
    oldPicks = await rows(h.db, sql`SELECT request_id, candidate_id FROM selections ORDER BY request_id`);
    await migrate(h);
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    const a = new pg.Client({ connectionString: ADMIN_URL });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.end();
    await rm(work, { recursive: true, force: true });
  });

  /** What the 0002-era pipeline wrote for R requests of K built-in edits, checked, judged and selected. */
  async function fillAs0002(): Promise<void> {
    const c = cfg();
    const blobs = new BlobStore(c.blobDir);
    const imgDir = path.join(work, 'img');
    const images = await smallImages(imgDir, 192);
    const judge = createMetricJudge();
    for (const req of demoRequests(R, images)) {
      const bytes = await readFile(path.join(imgDir, req.image));
      const stored = await blobs.put(bytes, req.image.endsWith('.png') ? 'png' : 'jpg');
      const info = await probeImage(bytes, req.image, { maxPixels: c.checks.maxImagePixels });
      // 0002's sources columns (today's upsertSources also writes the perceptual hash)
      const [src] = await rows<{ id: number }>(
        h.db,
        sql`INSERT INTO sources (sha256, blob, width, height, format, bytes, origin)
            VALUES (${stored.sha256}, ${stored.key}, ${info.width}, ${info.height}, ${info.format}, ${bytes.length}, ${req.image})
            ON CONFLICT (sha256) DO UPDATE SET sha256 = EXCLUDED.sha256 RETURNING id`,
      );
      const ids = new Map([[stored.sha256, Number(src!.id)]]);
      const base = baseSeedOf(stored.sha256, req.instruction);
      const [r] = await insertRequests(h.db, [{ sourceId: ids.get(stored.sha256)!, instruction: req.instruction, category: req.category ?? '', candidatesWanted: K, model: 'vibe-builtin-cpu', baseSeed: base }]);
      const spec = parseInstruction(req.instruction)!;
      const edits = await Promise.all(Array.from({ length: K }, (_, i) => renderEdit(bytes, spec, variantForSeed(base + i))));
      const blobsOut = await Promise.all(edits.map((e) => blobs.put(e.bytes, 'jpg')));
      const cands = await storeCandidatesOfRequest(
        h.db,
        r!.id,
        edits.map((e, i) => ({ requestId: r!.id, seed: base + i, sha256: blobsOut[i]!.sha256, blob: blobsOut[i]!.key, width: e.width, height: e.height, generator: 'vibe-builtin-cpu', latencyMs: 5 })),
      );
      const facts: CandidateFacts[] = [];
      for (const [i, cand] of cands.entries()) {
        const rep = await runHardChecks(bytes, edits[i]!.bytes, hardCheckOptionsFromConfig(c.checks, req.category));
        // the columns 0002's checks table has (today's insertCheck writes later ones too), and the
        // rule version 0002's check stage stored (today's face rule is another one)
        await h.db.execute(sql`
          INSERT INTO checks (candidate_id, rule_version, face_status, face_min_iou, face_threshold, face_count, faces, detector_version,
                              change_status, changed_fraction, largest_component_share, change, passed, latency_ms)
          VALUES (${cand.id}, 'face-iou-hungarian-v1+change-map-4conn-v1', ${rep.faceCheckExempt ? 'exempt' : rep.faceCheck.status},
                  ${rep.faceCheck.minIoU}, ${rep.faceCheck.threshold}, ${rep.source.faces.length},
                  ${JSON.stringify({ source: rep.source.faces, edit: rep.edit.faces, matches: rep.faceCheck.matches })}::jsonb,
                  ${rep.faceCheck.detectorVersion}, ${rep.changeCheck.status}, ${rep.changeCheck.changedFraction},
                  ${rep.changeCheck.largestComponentShare}, ${JSON.stringify(rep.changeCheck)}::jsonb, ${rep.passed}, 1)`);
        await moveCandidate(h.db, cand.id, ['generated'], rep.passed ? 'checked' : 'rejected');
        let fact: CandidateFacts = { id: cand.id, seed: base + i, scores: null, passesThresholds: false, checkPassed: rep.passed, review: null };
        if (rep.passed) {
          // 0002 judged only candidates that passed, one row per (candidate, rubric, model).
          const j = await judge.judge({ source: bytes, edit: edits[i]!.bytes, instruction: req.instruction });
          if (!j.ok) throw new Error(j.error);
          await h.db.execute(sql`
            INSERT INTO judgments (candidate_id, judge_model, rubric, prompt_hash, ok, raw_scores, scores, axis_instruction, axis_preservation,
                                   axis_quality, aggregate, passes_thresholds, attempts, latency_ms)
            VALUES (${cand.id}, ${j.model}, ${j.rubric}, ${j.promptHash}, true, ${JSON.stringify(j.rawScores)}::jsonb, ${sql.param(j.scoreVector)}::real[],
                    ${j.axes.instruction}, ${j.axes.preservation}, ${j.axes.quality}, ${JSON.stringify(j.aggregate)}::jsonb, ${j.passesThresholds}, 1, 3)`);
          await moveCandidate(h.db, cand.id, ['checked'], 'judged');
          const [s] = await rows<{ scores: number[] }>(h.db, sql`SELECT scores FROM judgments WHERE candidate_id = ${cand.id}`);
          fact = { ...fact, scores: s!.scores.map((v) => Math.fround(Number(v))), passesThresholds: j.passesThresholds };
        }
        facts.push(fact);
      }
      expect(await settleRequest(h.db, r!.id, { judgeRejected: false })).toBe('settled');
      // 0002's selection: one row per (request, rule version, rubric), the pairs likewise.
      const params = selectionParamsFromConfig(c);
      const pick = pickSft(facts, params);
      await h.db.execute(sql`INSERT INTO selections (request_id, candidate_id, rule_version, rubric, params, score)
                             VALUES (${r!.id}, ${pick.candidateId}, 'select-v1', 'metric-v1', ${JSON.stringify(params)}::jsonb, ${pick.score})`);
      for (const p of dpoPairs(facts, params)) {
        await h.db.execute(sql`INSERT INTO pairs (request_id, chosen_id, rejected_id, rule_version, rubric, params, margins, total_margin, rank)
                               VALUES (${r!.id}, ${p.chosenId}, ${p.rejectedId}, 'select-v1', 'metric-v1', ${JSON.stringify(params)}::jsonb,
                                       ${sql.param(p.margins)}::real[], ${p.totalMargin}, ${p.rank})`);
      }
      await h.db.execute(sql`UPDATE requests SET status = 'selected', selected_at = now() WHERE id = ${r!.id}`);
    }
  }

  it('keeps every row', async () => {
    expect(before).toMatchObject({ requests: R, candidates: R * K, checks: R * K });
    expect(before.judgments).toBeGreaterThan(0);
    expect(before.pairs).toBeGreaterThan(0);
    expect(await counts()).toEqual(before);
    expect(await rows(h.db, sql`SELECT request_id, candidate_id FROM selections ORDER BY request_id`)).toEqual(oldPicks);
  });

  it('names the judge version of old selections and pairs, and the full check version of old checks', async () => {
    const metric = getRubric('metric-v1').promptHash;
    const v = await rows<{ t: string; judge_model: string; prompt_hash: string }>(
      h.db,
      sql`SELECT DISTINCT 'selections' AS t, judge_model, prompt_hash FROM selections UNION SELECT DISTINCT 'pairs', judge_model, prompt_hash FROM pairs ORDER BY 1`,
    );
    expect(v).toEqual([
      { t: 'pairs', judge_model: 'builtin-metric-v1', prompt_hash: metric },
      { t: 'selections', judge_model: 'builtin-metric-v1', prompt_hash: metric },
    ]);
    const cv = await rows<{ rule_version: string }>(h.db, sql`SELECT DISTINCT rule_version FROM checks`);
    const [d] = await rows<{ detector_version: string }>(h.db, sql`SELECT DISTINCT detector_version FROM checks`);
    expect(cv.map((x) => x.rule_version)).toEqual([
      `face-iou-hungarian-v1(detector=${d!.detector_version},iou=0.9)+change-map-4conn-v1(px=40,noChange=0.0005,minRegion=0.001)`,
    ]);
    // today's face rule (registration, uncertain sources) and the artifact rule are a newer check version: recheck applies it
    expect(cv[0]!.rule_version).not.toBe(checkVersion(hardCheckOptionsFromConfig(cfg().checks)));
    expect(await rows(h.db, sql`SELECT count(*)::int AS n FROM judgments WHERE superseded_at IS NOT NULL`)).toEqual([{ n: 0 }]);
  });

  it('reads the old rows under their own versions: a dry-run selection changes nothing, and export writes the old picks under their judge version', async () => {
    const [old] = await rows<{ rule_version: string }>(h.db, sql`SELECT DISTINCT rule_version FROM checks`);
    const s = { ...selectionSettings(cfg()), checkVersion: old!.rule_version };
    const dry = await runSelection(h.db, { ...s, all: true, dryRun: true });
    expect(dry.requests).toBe(R);
    expect(dry.diff!.total).toEqual({ picksChanged: 0, picksGained: 0, picksLost: 0, pairsGained: 0, pairsLost: 0 });
    const out = path.join(work, 'export');
    const e = await runExport(h.db, new BlobStore(cfg().blobDir), {
      kind: 'sft', outDir: out, shardSamples: 100, valFraction: 0, format: 'webdataset', rubric: s.judge.rubric, judgeModel: s.judge.model, promptHash: s.judge.promptHash,
    });
    expect(e.samples).toBe(oldPicks.filter((p) => p.candidate_id !== null).length);
    const recs = (await readTarsWithPython(e.shards.map((x) => path.join(out, x.url)))).flatMap((x) => x.members).flatMap((m) => (m.json ? [m.json as Record<string, unknown>] : []));
    expect(recs.map((r) => [r.request_id, r.judge_model, r.judge_prompt_hash])).toEqual(
      oldPicks.filter((p) => p.candidate_id !== null).map((p) => [Number(p.request_id), 'builtin-metric-v1', s.judge.promptHash]),
    );
  });
});
