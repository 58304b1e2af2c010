/**
 * A campaign that changes its versions, through the real pipeline (Postgres, Redis, the built-in
 * inference core, a VLM stand-in that is a real HTTP server): judge model A, unscorable replies
 * retried, `rejudge` with model B (selection and export read only B), a threshold change
 * previewed by `select --dry-run` and applied by `select --all` (checked against a brute-force
 * reference over the raw scores), a face-threshold change applied by `recheck`, face-failed
 * candidates judged as rejected sides, and a reviewer's accept rescuing one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { getFunnel } from '../../db/repositories/funnel.repository.ts';
import { reviewCandidates } from '../../db/repositories/review.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import { getRubric } from '../../pipeline/judge/index.ts';
import { openQueues } from '../../pipeline/queues.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { dpoPairs, pickSft, runSelection, selectionSettings, type CandidateFacts, type SelectionSettings, type Verdict } from '../../pipeline/select/index.ts';
import { retryFailed } from '../../pipeline/stages/retry-failed.ts';
import { rejudge } from '../../pipeline/stages/rework.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { runCli } from './cli-run.ts';
import { startFakeVlm, type FakeVlm } from './fake-vlm.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

const N = 10; // requests
const K = 4; // candidates each

interface Stored {
  picks: Map<number, number | null>;
  /** `request:chosen>rejected` of the selected pairs (rank > 0). */
  pairs: Set<string>;
}

/** The selection stored for one judge version (and the rule version select-v1). */
async function stored(db: TestDb['db'], s: SelectionSettings): Promise<Stored> {
  const v = s.judge;
  const picks = await rows<{ request_id: number; candidate_id: number | null }>(
    db,
    sql`SELECT request_id, candidate_id FROM selections WHERE rubric = ${v.rubric} AND judge_model = ${v.model} AND prompt_hash = ${v.promptHash}`,
  );
  const pairs = await rows<{ request_id: number; chosen_id: number; rejected_id: number }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id FROM pairs
        WHERE rubric = ${v.rubric} AND judge_model = ${v.model} AND prompt_hash = ${v.promptHash} AND rank > 0`,
  );
  return {
    picks: new Map(picks.map((p) => [Number(p.request_id), p.candidate_id === null ? null : Number(p.candidate_id)])),
    pairs: new Set(pairs.map((p) => `${p.request_id}:${p.chosen_id}>${p.rejected_id}`)),
  };
}

/**
 * The brute-force reference: per request, the facts of each candidate under the settings (the
 * judge version's judgment, thresholds applied by the rubric itself to the raw scores, the check
 * of the check version, the newest review), then the TypeScript pick and pairs.
 */
async function reference(db: TestDb['db'], s: SelectionSettings): Promise<Stored> {
  const v = s.judge;
  const rubric = getRubric(v.rubric, s.thresholds);
  const found = await rows<{ request_id: number; id: number; seed: number; raw: Record<string, number> | null; scores: number[] | null; passed: boolean | null; verdict: Verdict | null }>(
    db,
    sql`SELECT c.request_id, c.id, c.seed, j.raw_scores AS raw, j.scores,
               (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${s.checkVersion}) AS passed,
               (SELECT r.verdict FROM reviews r WHERE r.candidate_id = c.id ORDER BY r.id DESC LIMIT 1) AS verdict
        FROM candidates c JOIN requests rq ON rq.id = c.request_id
        LEFT JOIN judgments j ON j.candidate_id = c.id AND j.ok AND j.superseded_at IS NULL
             AND j.rubric = ${v.rubric} AND j.judge_model = ${v.model} AND j.prompt_hash = ${v.promptHash}
        WHERE rq.status IN ('settled', 'selected') ORDER BY c.request_id, c.id`,
  );
  const byReq = new Map<number, CandidateFacts[]>();
  for (const f of found) {
    const list = byReq.get(Number(f.request_id)) ?? [];
    list.push({
      id: Number(f.id),
      seed: f.seed,
      scores: f.scores ? f.scores.map((x) => Math.fround(Number(x))) : null,
      passesThresholds: f.raw ? rubric.score(f.raw).passesThresholds : false,
      checkPassed: f.passed === true,
      review: f.verdict,
    });
    byReq.set(Number(f.request_id), list);
  }
  const out: Stored = { picks: new Map(), pairs: new Set() };
  for (const [rid, facts] of byReq) {
    out.picks.set(rid, pickSft(facts, s.params).candidateId);
    for (const p of dpoPairs(facts, s.params)) out.pairs.add(`${rid}:${p.chosenId}>${p.rejectedId}`);
  }
  return out;
}

describe('campaign versions through the real pipeline', () => {
  let t: TestDb;
  let vlm: FakeVlm;
  const tmp = tempDir('versions');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  let images: string[];
  const garbled = new Set<string>();
  const env = (extra: Record<string, string> = {}) => ({ JUDGE_URL: vlm.url, JUDGE_MODEL: 'judge-a', JUDGE_RUBRIC: 'viescore-v1', JUDGE_MAX_ATTEMPTS: '1', ...extra });
  const cfgOf = (extra: Record<string, string> = {}): Config => testConfig(dataDir, env(extra));
  const cliEnv = (extra: Record<string, string> = {}) => ({ DATABASE_URL: t.url, REDIS_URL, DATA_DIR: dataDir, ...env(extra) });
  /** Runs the workers (config `cfg`) on queue `prefix` until every request is selected. */
  const work = (cfg: Config, prefix?: string) =>
    runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, N), baseDir: imgDir, candidates: K, prefix, timeoutMs: 120_000 });
  /** Runs `start` against a fresh queue prefix, then the workers on it. */
  const reworkThenRun = async (cfg: Config, start: (queues: ReturnType<typeof openQueues>) => Promise<unknown>) => {
    const p = freshPrefix('rework');
    const queues = openQueues(REDIS_URL, p.prefix);
    try {
      await start(queues);
      return await work(cfg, p.prefix);
    } finally {
      await queues.close();
      await p.cleanup();
    }
  };

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 192);
    // The first two edits model A sees get a reply that is not a score.
    vlm = await startFakeVlm({ garble: (c) => c.model === 'judge-a' && (garbled.has(c.editHash) ? false : garbled.size < 2 && Boolean(garbled.add(c.editHash))) });
    await work(cfgOf());
  }, 180_000);
  afterAll(async () => {
    await vlm?.close();
    await t?.cleanup();
    tmp.cleanup();
  });

  it('judges the candidates that failed a hard check too, and a face-failed one is a rejected side of a pair', async () => {
    const a = selectionSettings(cfgOf());
    const [c] = await rows<Record<string, number>>(
      t.db,
      sql`SELECT
        (SELECT count(*) FROM candidates WHERE status = 'rejected')::int AS rejected,
        (SELECT count(DISTINCT j.candidate_id) FROM judgments j JOIN candidates c ON c.id = j.candidate_id WHERE c.status = 'rejected')::int AS rejected_judged,
        (SELECT count(*) FROM candidates c JOIN checks k ON k.candidate_id = c.id WHERE k.face_status = 'fail')::int AS face_failed,
        (SELECT count(*) FROM pairs p JOIN checks k ON k.candidate_id = p.rejected_id WHERE k.face_status = 'fail' AND p.rank > 0)::int AS face_failed_losers,
        (SELECT count(*) FROM selections s JOIN checks k ON k.candidate_id = s.candidate_id WHERE NOT k.passed)::int AS rejected_picks,
        (SELECT count(*) FROM pairs p JOIN checks k ON k.candidate_id = p.chosen_id WHERE NOT k.passed)::int AS rejected_winners`,
    );
    expect(c!.rejected).toBeGreaterThan(0);
    expect(c!.rejected_judged).toBe(c!.rejected);
    expect(c!.face_failed).toBeGreaterThan(0);
    expect(c!.face_failed_losers).toBeGreaterThan(0);
    expect(c!.rejected_picks).toBe(0);
    expect(c!.rejected_winners).toBe(0);
    // status counts the judge calls spent on them
    const f = await getFunnel(t.db, a);
    expect(f.judgments.onRejected).toBe(c!.rejected);
    const s = await runCli(['status', '--json'], cliEnv({ QUEUE_PREFIX: freshPrefix('st').prefix }));
    expect((JSON.parse(s.stdout) as { funnel: typeof f }).funnel.judgments.onRejected).toBe(c!.rejected);
  });

  it('retry-failed --stage judge asks again for the unscorable judgments and keeps the failed replies as history', async () => {
    const a = selectionSettings(cfgOf());
    const failed = await rows<{ candidate_id: number }>(t.db, sql`SELECT candidate_id FROM judgments WHERE NOT ok AND superseded_at IS NULL ORDER BY candidate_id`);
    expect(failed).toHaveLength(2);
    await reworkThenRun(cfgOf(), (queues) => retryFailed({ db: t.db, queues }, { stage: 'judge', judge: a.judge }));
    const after = await rows<{ candidate_id: number; ok: boolean; superseded: boolean; raw_reply: string }>(
      t.db,
      sql`SELECT candidate_id, ok, superseded_at IS NOT NULL AS superseded, raw_reply FROM judgments
          WHERE candidate_id = ANY(${sql.param(failed.map((f) => f.candidate_id))}::bigint[]) ORDER BY candidate_id, id`,
    );
    expect(after.map((r) => [Number(r.candidate_id), r.ok, r.superseded])).toEqual(
      failed.flatMap((f) => [[Number(f.candidate_id), false, true], [Number(f.candidate_id), true, false]]),
    );
    expect(after.filter((r) => !r.ok).every((r) => r.raw_reply === 'I cannot rate this edit.')).toBe(true);
  }, 180_000);

  it('rejudge with model B: judged again without regenerating; while it runs nothing of those requests is exported; then selection and export read only B', async () => {
    const a = selectionSettings(cfgOf());
    const cfgB = cfgOf({ JUDGE_MODEL: 'judge-b' });
    const b = selectionSettings(cfgB);
    const before = await rows<{ c: number; k: number }>(t.db, sql`SELECT (SELECT max(id) FROM candidates)::int AS c, (SELECT count(*) FROM checks)::int AS k`);
    const aPicks = (await stored(t.db, a)).picks;

    // Enqueued but not worked yet: every request is unsettled, so export has nothing stale to write.
    const p = freshPrefix('rejudge');
    const queues = openQueues(REDIS_URL, p.prefix);
    try {
      const r = await rejudge({ db: t.db, queues, config: cfgB }, b.judge);
      expect(r.enqueued).toBe(N * K - Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM candidates WHERE status = 'failed'`))[0]!.n));
      const stale = await runCli(['export', '--kind', 'sft', '--out', `${tmp.dir}/stale`, '--json'], cliEnv());
      expect(JSON.parse(stale.stdout)).toMatchObject({ samples: 0 });
      await work(cfgB, p.prefix);
    } finally {
      await queues.close();
      await p.cleanup();
    }

    const after = await rows<{ c: number; k: number }>(t.db, sql`SELECT (SELECT max(id) FROM candidates)::int AS c, (SELECT count(*) FROM checks)::int AS k`);
    expect(after).toEqual(before); // nothing generated or checked again
    expect(vlm.count('judge-b')).toBe(N * K);
    const bStored = await stored(t.db, b);
    expect(bStored).toEqual(await reference(t.db, b));
    expect([...bStored.picks].some(([rid, c]) => aPicks.get(rid) !== c)).toBe(true); // the two judges disagree somewhere

    const out = `${tmp.dir}/export-b`;
    const e = await runCli(['export', '--kind', 'sft', '--out', out, '--json'], cliEnv({ JUDGE_MODEL: 'judge-b' }));
    expect(e.stderr).toBe('');
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { judge: unknown; shardlist: { url: string }[] };
    expect(manifest.judge).toEqual({ rubric: 'viescore-v1', model: 'judge-b', prompt_hash: b.judge.promptHash });
    const records = (await readTarsWithPython(manifest.shardlist.map((s) => path.join(out, s.url)))).flatMap((s) => s.members).flatMap((m) => (m.json ? [m.json as Record<string, unknown>] : []))
      .sort((x, y) => Number(x.request_id) - Number(y.request_id));
    const bAxes = new Map(
      (await rows<{ candidate_id: number; a: number; p: number; q: number }>(
        t.db,
        sql`SELECT candidate_id, axis_instruction AS a, axis_preservation AS p, axis_quality AS q FROM judgments WHERE judge_model = 'judge-b' AND ok`,
      )).map((r) => [Number(r.candidate_id), [r.a, r.p, r.q]]),
    );
    const picked = await rows<{ request_id: number; seed: number; id: number }>(
      t.db,
      sql`SELECT s.request_id, c.seed, c.id FROM selections s JOIN candidates c ON c.id = s.candidate_id WHERE s.judge_model = 'judge-b' ORDER BY s.request_id`,
    );
    expect(records.map((r) => [r.request_id, r.seed])).toEqual(picked.map((p) => [Number(p.request_id), p.seed]));
    for (const [i, r] of records.entries()) {
      expect(r).toMatchObject({ judge_model: 'judge-b', judge_prompt_hash: b.judge.promptHash });
      const axes = r.axes as Record<string, number>;
      expect([axes.instruction, axes.preservation, axes.quality]).toEqual(bAxes.get(Number(picked[i]!.id)));
    }
    // --judge-model reads another version explicitly: model A's selection is still there (history).
    const outA = `${tmp.dir}/export-a`;
    await runCli(['export', '--kind', 'sft', '--out', outA, '--json', '--judge-model', 'judge-a'], cliEnv({ JUDGE_MODEL: 'judge-b' }));
    const manifestA = JSON.parse(await readFile(path.join(outA, 'manifest.json'), 'utf8')) as { judge: { model: string }; totals: { samples: number } };
    expect(manifestA.judge.model).toBe('judge-a');
    expect(manifestA.totals.samples).toBe([...aPicks.values()].filter((x) => x !== null).length);
    const st = await runCli(['status', '--json', '--judge-model', 'judge-a'], cliEnv({ JUDGE_MODEL: 'judge-b', QUEUE_PREFIX: freshPrefix('st').prefix }));
    expect((JSON.parse(st.stdout) as { funnel: { judge: { model: string } } }).funnel.judge.model).toBe('judge-a');
  }, 240_000);

  it('select --dry-run after a threshold change predicts exactly what the following select --all writes', async () => {
    const extra = { JUDGE_MODEL: 'judge-b', JUDGE_THRESHOLDS: 'SC=5,PQ=7', DPO_MIN_MARGIN: '2' };
    const s = selectionSettings(cfgOf(extra));
    const before = await stored(t.db, s);
    const dry = await runCli(['select', '--all', '--dry-run', '--json', '--list', '100000'], cliEnv(extra));
    expect(dry.stderr).toBe('');
    const d = (JSON.parse(dry.stdout) as { diff: { picks: { requestId: number; before: number | null; after: number | null }[]; pairsGained: { requestId: number; chosenId: number; rejectedId: number }[]; pairsLost: { requestId: number; chosenId: number; rejectedId: number }[]; truncated: boolean } }).diff;
    expect(await stored(t.db, s)).toEqual(before); // nothing written
    // --list 1: at most one change of each kind listed, and the list says it was cut.
    const short = JSON.parse((await runCli(['select', '--all', '--dry-run', '--json', '--list', '1'], cliEnv(extra))).stdout) as { diff: { picks: unknown[]; pairsLost: unknown[]; truncated: boolean } };
    expect(short.diff.picks.length).toBeLessThanOrEqual(1);
    expect(short.diff.pairsLost.length).toBeLessThanOrEqual(1);
    expect(short.diff.truncated).toBe(d.picks.length > 1 || d.pairsLost.length > 1 || d.pairsGained.length > 1);

    const real = await runCli(['select', '--all', '--json'], cliEnv(extra));
    expect(JSON.parse(real.stdout)).toMatchObject({ thresholds: { SC: 5, PQ: 7 }, params: { minMargin: 2 } });
    const after = await stored(t.db, s);
    const pickChanges = [...after.picks].filter(([rid, c]) => (before.picks.get(rid) ?? null) !== c).map(([rid, c]) => ({ requestId: rid, before: before.picks.get(rid) ?? null, after: c }));
    const key = (p: { requestId: number; chosenId: number; rejectedId: number }) => `${p.requestId}:${p.chosenId}>${p.rejectedId}`;
    expect(d.truncated).toBe(false);
    expect(d.picks.map(({ requestId, before: b, after: a }) => ({ requestId, before: b, after: a }))).toEqual(pickChanges.sort((x, y) => x.requestId - y.requestId));
    expect(new Set(d.pairsGained.map(key))).toEqual(new Set([...after.pairs].filter((k) => !before.pairs.has(k))));
    expect(new Set(d.pairsLost.map(key))).toEqual(new Set([...before.pairs].filter((k) => !after.pairs.has(k))));
    expect(pickChanges.length + d.pairsGained.length + d.pairsLost.length).toBeGreaterThan(0); // the change did something

    // …and what select --all wrote is what the rules compute from the raw scores under the new thresholds.
    expect(after).toEqual(await reference(t.db, s));
    const params = await rows<{ params: { thresholds: Record<string, number> } }>(t.db, sql`SELECT DISTINCT params FROM selections WHERE judge_model = 'judge-b'`);
    expect(params.map((p) => p.params.thresholds)).toEqual([{ SC: 5, PQ: 7 }]);
  }, 120_000);

  it('after a FACE_IOU_THRESHOLD change, recheck makes statuses and picks follow the new check version', async () => {
    const extra = { JUDGE_MODEL: 'judge-b', JUDGE_THRESHOLDS: 'SC=5,PQ=7', DPO_MIN_MARGIN: '2', FACE_IOU_THRESHOLD: '0.3' };
    const cfg = cfgOf(extra);
    const s = selectionSettings(cfg);
    const old = selectionSettings(cfgOf({ ...extra, FACE_IOU_THRESHOLD: '0.9' }));
    expect(s.checkVersion).not.toBe(old.checkVersion);
    const failedCount = Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM candidates WHERE status = 'failed'`))[0]!.n);
    const judgmentsBefore = Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM judgments`))[0]!.n);
    // `vibe-curate recheck` enqueues on the configured queues; the workers then run on them.
    const p = freshPrefix('recheck');
    try {
      const r = await runCli(['recheck', '--json'], cliEnv({ ...extra, QUEUE_PREFIX: p.prefix }));
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ version: s.checkVersion, enqueued: N * K - failedCount });
      await work(cfg, p.prefix);
    } finally {
      await p.cleanup();
    }
    // Everything has a check of the new version now: a third run finds nothing.
    const p3 = freshPrefix('recheck3');
    try {
      const third = await runCli(['recheck', '--json'], cliEnv({ ...extra, QUEUE_PREFIX: p3.prefix }));
      expect(JSON.parse(third.stdout)).toMatchObject({ enqueued: 0 });
    } finally {
      await p3.cleanup();
    }

    const c = await rows<{ id: number; status: string; passed: boolean | null; was: boolean | null }>(
      t.db,
      sql`SELECT c.id, c.status,
                 (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${s.checkVersion}) AS passed,
                 (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${old.checkVersion}) AS was
          FROM candidates c WHERE c.status <> 'failed'`,
    );
    expect(c.every((x) => x.passed !== null)).toBe(true);
    expect(c.every((x) => (x.status === 'rejected') === !x.passed)).toBe(true);
    expect(c.filter((x) => x.was === false && x.passed).length).toBeGreaterThan(0); // a looser face rule accepts some it rejected
    // Already judged by the current judge version: no judge call was needed.
    expect(Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM judgments`))[0]!.n)).toBe(judgmentsBefore);
    const now = await stored(t.db, s);
    expect(now).toEqual(await reference(t.db, s));
    const rejected = new Set(c.filter((x) => !x.passed).map((x) => Number(x.id)));
    expect([...now.picks.values()].some((id) => id !== null && rejected.has(id))).toBe(false);
  }, 180_000);

  it("a reviewer's accept makes a face-failed candidate pickable", async () => {
    // under the 0.9 check version (the first run's), where a moved face fails
    const extra = { JUDGE_MODEL: 'judge-b', JUDGE_THRESHOLDS: 'SC=5,PQ=7', DPO_MIN_MARGIN: '2', FACE_IOU_THRESHOLD: '0.9' };
    const s = selectionSettings(cfgOf(extra));
    const [f] = await rows<{ id: number; request_id: number }>(
      t.db,
      sql`SELECT c.id, c.request_id FROM candidates c JOIN checks k ON k.candidate_id = c.id AND k.rule_version = ${s.checkVersion}
          WHERE k.face_status = 'fail' AND EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id AND j.judge_model = 'judge-b' AND j.ok)
          ORDER BY c.id LIMIT 1`,
    );
    expect(f).toBeDefined();
    const others = (await rows<{ id: number }>(t.db, sql`SELECT id FROM candidates WHERE request_id = ${f!.request_id} AND id <> ${f!.id}`)).map((r) => Number(r.id));
    const review = (ids: number[], verdict: Verdict) => reviewCandidates(t.db, { candidateIds: ids, reviewer: 'ana', verdict, note: '', judge: s.judge });
    const pick = async () => {
      await runSelection(t.db, { ...s, requestIds: [Number(f!.request_id)] });
      return (await stored(t.db, s)).picks.get(Number(f!.request_id));
    };
    await review(others, 'reject');
    expect(await pick()).toBeNull(); // the face-failed one does not qualify by itself
    await review([Number(f!.id)], 'accept');
    expect(await pick()).toBe(Number(f!.id));
  });
});

describe('JUDGE_REJECTED=false', () => {
  it('saves the judge calls on candidates that failed a hard check', async () => {
    const t = await createTestDb();
    const tmp = tempDir('nojudge');
    const vlm = await startFakeVlm();
    try {
      const images = await smallImages(`${tmp.dir}/img`, 192);
      const cfg = testConfig(`${tmp.dir}/data`, { JUDGE_URL: vlm.url, JUDGE_MODEL: 'judge-a', JUDGE_REJECTED: 'false' });
      const run = await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, 4), baseDir: `${tmp.dir}/img`, candidates: K, timeoutMs: 120_000 });
      expect(run.progress.selected).toBe(4);
      const [c] = await rows<{ rejected: number; judged_rejected: number; passed: number }>(
        t.db,
        sql`SELECT (SELECT count(*) FROM candidates WHERE status = 'rejected')::int AS rejected,
                   (SELECT count(*) FROM judgments j JOIN candidates c ON c.id = j.candidate_id WHERE c.status = 'rejected')::int AS judged_rejected,
                   (SELECT count(*) FROM candidates WHERE status = 'judged')::int AS passed`,
      );
      expect(c!.rejected).toBeGreaterThan(0);
      expect(c!.judged_rejected).toBe(0);
      expect(vlm.count()).toBe(c!.passed);
      expect(run.funnel.judgments.onRejected).toBe(0);
    } finally {
      await vlm.close();
      await t.cleanup();
      tmp.cleanup();
    }
  }, 180_000);
});
