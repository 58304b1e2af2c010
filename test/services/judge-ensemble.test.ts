/**
 * Two judges that must agree, through the real pipeline (Postgres, Redis, the built-in inference
 * core, two VLM stand-ins that are real HTTP servers: one answering viescore-v1, one imgedit-v1):
 * JUDGES_FILE judges every candidate by both, select-ensemble-v1 equals a brute-force reference
 * over the stored judgments, the exported pairs dominate under both judges, a candidate missing
 * one judge's judgment stays out until retry-failed asks that judge again, and `inspect --judge`
 * shows both judges.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import { configuredJudgeVersions, ensembleKey, getRubric } from '../../pipeline/judge/index.ts';
import { editTypeOf } from '../../pipeline/judge/rubrics/imgedit-v1.ts';
import { openQueues } from '../../pipeline/queues.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { dominance, ensembleSelect, geometricMean, ensembleSettings, type EnsembleCandidate, type EnsembleSettings, type Verdict } from '../../pipeline/select/index.ts';
import { retryFailed } from '../../pipeline/stages/retry-failed.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { runCli } from './cli-run.ts';
import { startFakeVlm, type FakeVlm } from './fake-vlm.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

const N = 8; // requests
const K = 4; // candidates each

interface Stored {
  picks: Map<number, number | null>;
  pairs: Set<string>;
}

/** The stored select-ensemble-v1 rows of the configured ensemble. */
async function stored(db: TestDb['db'], s: EnsembleSettings): Promise<Stored> {
  const key = ensembleKey(s.judges);
  const picks = await rows<{ request_id: number; candidate_id: number | null }>(
    db,
    sql`SELECT request_id, candidate_id FROM selections WHERE rule_version = 'select-ensemble-v1' AND rubric = ${key.rubric}
          AND judge_model = ${key.model} AND prompt_hash = ${key.promptHash}`,
  );
  const pairs = await rows<{ request_id: number; chosen_id: number; rejected_id: number }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id FROM pairs WHERE rule_version = 'select-ensemble-v1' AND rubric = ${key.rubric}
          AND judge_model = ${key.model} AND prompt_hash = ${key.promptHash} AND rank > 0`,
  );
  return {
    picks: new Map(picks.map((p) => [Number(p.request_id), p.candidate_id === null ? null : Number(p.candidate_id)])),
    pairs: new Set(pairs.map((p) => `${p.request_id}:${p.chosen_id}>${p.rejected_id}`)),
  };
}

/** Every candidate of a settled request with each judge's current ok judgment (or none), its check and newest review. */
async function candidatesByRequest(db: TestDb['db'], s: EnsembleSettings): Promise<Map<number, EnsembleCandidate[]>> {
  const found = await rows<{ request_id: number; id: number; seed: number; passed: boolean | null; verdict: Verdict | null; js: ({ rubric: string; model: string; hash: string; raw: Record<string, number>; scores: number[] } | null)[] }>(
    db,
    sql`SELECT c.request_id, c.id, c.seed,
               (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${s.checkVersion}) AS passed,
               (SELECT r.verdict FROM reviews r WHERE r.candidate_id = c.id ORDER BY r.id DESC LIMIT 1) AS verdict,
               coalesce((SELECT json_agg(json_build_object('rubric', j.rubric, 'model', j.judge_model, 'hash', j.prompt_hash, 'raw', j.raw_scores, 'scores', j.scores))
                         FROM judgments j WHERE j.candidate_id = c.id AND j.ok AND j.superseded_at IS NULL), '[]') AS js
        FROM candidates c JOIN requests rq ON rq.id = c.request_id
        WHERE rq.status IN ('settled', 'selected') ORDER BY c.request_id, c.id`,
  );
  const out = new Map<number, EnsembleCandidate[]>();
  for (const f of found) {
    const list = out.get(Number(f.request_id)) ?? [];
    list.push({
      id: Number(f.id),
      seed: f.seed,
      // Per judge, in order: its judgment, the thresholds in force applied by the rubric itself to the raw scores.
      judgments: s.judges.map((v) => {
        const j = f.js.find((x) => x && x.rubric === v.rubric && x.model === v.model && x.hash === v.promptHash);
        if (!j) return null;
        const scored = getRubric(v.rubric, v.thresholds).score(j.raw);
        return { scores: j.scores.map((x) => Math.fround(Number(x))), values: { ...j.raw, ...scored.aggregate } };
      }),
      checkPassed: f.passed === true,
      review: f.verdict,
    });
    out.set(Number(f.request_id), list);
  }
  return out;
}

/** The brute-force reference: the TypeScript rule over the stored judgments. */
async function reference(db: TestDb['db'], s: EnsembleSettings): Promise<Stored> {
  const out: Stored = { picks: new Map(), pairs: new Set() };
  for (const [rid, cands] of await candidatesByRequest(db, s)) {
    const r = ensembleSelect(cands, s.judges, s.params);
    out.picks.set(rid, r.pick?.candidateId ?? null);
    for (const p of r.pairs) out.pairs.add(`${rid}:${p.chosenId}>${p.rejectedId}`);
  }
  return out;
}

describe('two judges through the real pipeline (JUDGES_FILE)', () => {
  let t: TestDb;
  let vie: FakeVlm;
  let img: FakeVlm;
  const tmp = tempDir('ensemble');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  const judgesFile = `${tmp.dir}/judges.json`;
  let images: string[];
  const garbled = new Set<string>();
  let cfg: Config;
  const cliEnv = (extra: Record<string, string> = {}) => ({ DATABASE_URL: t.url, REDIS_URL, DATA_DIR: dataDir, JUDGES_FILE: judgesFile, JUDGE_MAX_ATTEMPTS: '1', ...extra });
  const work = (c: Config, prefix?: string) =>
    runLocalPipeline({ db: t.db, blobs: new BlobStore(c.blobDir), config: c, redisUrl: REDIS_URL, requests: requestsOver(images, N), baseDir: imgDir, candidates: K, prefix, timeoutMs: 120_000 });

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 192);
    vie = await startFakeVlm({ rubric: 'viescore-v1' });
    // The imgedit judge cannot score the first two edits it sees.
    img = await startFakeVlm({ rubric: 'imgedit-v1', garble: (c) => (garbled.has(c.editHash) ? false : garbled.size < 2 && Boolean(garbled.add(c.editHash))) });
    writeFileSync(
      judgesFile,
      JSON.stringify([
        { url: vie.url, model: 'qwen-vl', rubric: 'viescore-v1' },
        { url: img.url, model: 'intern-vl', rubric: 'imgedit-v1', thresholds: { instruction_adherence: 3, editing_quality: 3, detail_preservation: 5 }, concurrency: 4 },
      ]),
    );
    cfg = testConfig(dataDir, { JUDGES_FILE: judgesFile, JUDGE_MAX_ATTEMPTS: '1' });
    await work(cfg);
  }, 180_000);
  afterAll(async () => {
    await vie?.close();
    await img?.close();
    await t?.cleanup();
    tmp.cleanup();
  });

  it('stores a judgment of each judge, under its own judge version, for every candidate judged', async () => {
    const [vV, vI] = configuredJudgeVersions(cfg.judge);
    expect(vV).toEqual({ rubric: 'viescore-v1', model: 'qwen-vl', promptHash: getRubric('viescore-v1').promptHash });
    expect(vI).toEqual({ rubric: 'imgedit-v1', model: 'intern-vl', promptHash: getRubric('imgedit-v1').promptHash });
    const c = await rows<{ id: number; status: string; versions: string[] | null }>(
      t.db,
      sql`SELECT c.id, c.status, (SELECT array_agg(j.rubric || '/' || j.judge_model || '/' || j.prompt_hash ORDER BY j.rubric) FROM judgments j
                                  WHERE j.candidate_id = c.id AND j.superseded_at IS NULL) AS versions
          FROM candidates c WHERE c.status <> 'failed'`,
    );
    expect(c.length).toBeGreaterThan(0);
    const both = [`imgedit-v1/intern-vl/${vI!.promptHash}`, `viescore-v1/qwen-vl/${vV!.promptHash}`];
    for (const x of c) expect(x.versions).toEqual(both);
    expect(vie.count('qwen-vl')).toBe(c.length);
    expect(img.count('intern-vl')).toBe(c.length);
    // The imgedit judge was asked the variant of each request's category.
    const cats = new Map(
      (await rows<{ instruction: string; category: string }>(t.db, sql`SELECT DISTINCT instruction, category FROM requests`)).map((r) => [r.instruction, r.category]),
    );
    for (const call of img.calls) expect(call.editType).toBe(editTypeOf(cats.get(call.instruction)));
    expect(new Set(img.calls.map((x) => x.editType)).size).toBeGreaterThan(1);
  });

  it('select-ensemble-v1 equals the brute-force reference, and is stricter than either judge alone', async () => {
    const s = ensembleSettings(cfg);
    const got = await stored(t.db, s);
    expect(got.picks.size).toBe(N);
    expect(got).toEqual(await reference(t.db, s));
    expect([...got.picks.values()].some((x) => x !== null)).toBe(true);
    expect(got.pairs.size).toBeGreaterThan(0);
    // Some pair dominates under one judge and not under the other: the ensemble leaves it out.
    let oneJudgeOnly = 0;
    for (const cands of (await candidatesByRequest(t.db, s)).values()) {
      for (const w of cands) {
        for (const l of cands) {
          if (w === l || !w.judgments[0] || !w.judgments[1] || !l.judgments[0] || !l.judgments[1]) continue;
          const a = dominance(w.judgments[0].scores, l.judgments[0].scores) !== null;
          const b = dominance(w.judgments[1].scores, l.judgments[1].scores) !== null;
          if (a !== b) oneJudgeOnly++;
        }
      }
    }
    expect(oneJudgeOnly).toBeGreaterThan(0);
    // …and some candidate passes one judge's thresholds and not the other's (the file's stricter
    // imgedit thresholds), which is then neither picked nor a chosen side.
    const passes = (c: EnsembleCandidate, i: number) => {
      const j = c.judgments[i];
      return j !== null && Object.entries(s.judges[i]!.thresholds).every(([k, min]) => typeof j.values[k] === 'number' && (j.values[k] as number) >= min);
    };
    const split = [...(await candidatesByRequest(t.db, s)).values()].flat().filter((c) => passes(c, 0) !== passes(c, 1));
    expect(split.length).toBeGreaterThan(0);
    for (const c of split) {
      expect([...got.picks.values()]).not.toContain(c.id);
      expect([...got.pairs].some((p) => p.split(':')[1]!.startsWith(`${c.id}>`))).toBe(false);
    }
    // Recorded with the judge versions it used.
    const params = await rows<{ params: { judges: { rubric: string; model: string; promptHash: string; thresholds: Record<string, number> }[] } }>(
      t.db,
      sql`SELECT DISTINCT params FROM selections WHERE rule_version = 'select-ensemble-v1'`,
    );
    expect(params).toHaveLength(1);
    expect(params[0]!.params.judges).toEqual(s.judges.map((j) => ({ rubric: j.rubric, model: j.model, promptHash: j.promptHash, thresholds: j.thresholds })));
  });

  it('a candidate missing one judge\'s judgment is not usable until retry-failed asks that judge again', async () => {
    const s = ensembleSettings(cfg);
    const failed = (await rows<{ candidate_id: number }>(t.db, sql`SELECT candidate_id FROM judgments WHERE NOT ok AND superseded_at IS NULL ORDER BY candidate_id`)).map((r) => Number(r.candidate_id));
    expect(failed).toHaveLength(2);
    const before = await stored(t.db, s);
    const appears = (st: Stored, id: number) =>
      [...st.picks.values()].includes(id) || [...st.pairs].some((p) => p.split(':')[1]!.split('>').map(Number).includes(id));
    for (const id of failed) expect(appears(before, id)).toBe(false);
    const vieCalls = vie.count();
    const p = freshPrefix('ens-retry');
    const queues = openQueues(REDIS_URL, p.prefix);
    try {
      const r = await retryFailed({ db: t.db, queues }, { stage: 'judge', judge: configuredJudgeVersions(cfg.judge) });
      expect(r.unscorable).toBe(2);
      await work(cfg, p.prefix);
    } finally {
      await queues.close();
      await p.cleanup();
    }
    expect(vie.count()).toBe(vieCalls); // only the judge that failed was asked again
    const after = await stored(t.db, s);
    expect(after).toEqual(await reference(t.db, s));
    const usableNow = (await candidatesByRequest(t.db, s));
    for (const id of failed) {
      const c = [...usableNow.values()].flat().find((x) => x.id === id)!;
      expect(c.judgments.every((j) => j !== null)).toBe(true);
    }
  }, 180_000);

  it('export --rule-version select-ensemble-v1: every pair dominates under both judges; the manifest records both judge versions', async () => {
    const s = ensembleSettings(cfg);
    const out = `${tmp.dir}/dpo`;
    const e = await runCli(['export', '--kind', 'dpo', '--out', out, '--rule-version', 'select-ensemble-v1', '--json'], cliEnv());
    expect(e.stderr).toBe('');
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { rule_version: string; judge: { rubric: string; judges: unknown[] }; totals: { samples: number }; shardlist: { url: string }[] };
    expect(manifest.rule_version).toBe('select-ensemble-v1');
    expect(manifest.judge.rubric).toBe('ensemble');
    expect(manifest.judge.judges).toEqual(s.judges.map((j) => ({ rubric: j.rubric, model: j.model, prompt_hash: j.promptHash })));
    expect(manifest.totals.samples).toBe((await stored(t.db, s)).pairs.size);
    const records = (await readTarsWithPython(manifest.shardlist.map((x) => path.join(out, x.url)))).flatMap((x) => x.members).flatMap((m) => (m.json ? [m.json as Record<string, unknown>] : []));
    expect(records.length).toBe(manifest.totals.samples);
    const scores = async (sha: string, rubric: string) =>
      (await rows<{ scores: number[] }>(
        t.db,
        sql`SELECT j.scores FROM judgments j JOIN candidates c ON c.id = j.candidate_id WHERE c.sha256 = ${sha} AND j.rubric = ${rubric} AND j.ok AND j.superseded_at IS NULL`,
      ))[0]!.scores.map(Number);
    for (const r of records) {
      for (const rubric of ['viescore-v1', 'imgedit-v1']) {
        const w = await scores(String(r.chosen_sha256), rubric);
        const l = await scores(String(r.rejected_sha256), rubric);
        expect(w.every((x, i) => x >= l[i]!)).toBe(true);
      }
      const all = [...(await scores(String(r.chosen_sha256), 'viescore-v1')), ...(await scores(String(r.chosen_sha256), 'imgedit-v1'))];
      const lall = [...(await scores(String(r.rejected_sha256), 'viescore-v1')), ...(await scores(String(r.rejected_sha256), 'imgedit-v1'))];
      expect(all.some((x, i) => x > lall[i]!)).toBe(true);
    }
  }, 120_000);

  it('select from the CLI with JUDGES_FILE runs select-ensemble-v1 and names both judges', async () => {
    const r = await runCli(['select', '--all', '--json'], cliEnv());
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ruleVersion: string; judges: { rubric: string }[]; requests: number };
    expect(out.ruleVersion).toBe('select-ensemble-v1');
    expect(out.judges.map((j) => j.rubric)).toEqual(['viescore-v1', 'imgedit-v1']);
    expect(out.requests).toBe(N);
  });

  it('status and the dashboard report how the judges agree: pass/fail, Spearman, the largest disagreements linked to browse', async () => {
    const s = ensembleSettings(cfg);
    // Reference in plain TypeScript over the stored judgments: candidates scored by both judges.
    const both = [...(await candidatesByRequest(t.db, s)).entries()].flatMap(([rid, cs]) =>
      cs.filter((c) => c.judgments[0] && c.judgments[1]).map((c) => ({
        id: c.id,
        rid,
        g: c.judgments.map((j) => geometricMean(j!.scores)),
        pass: c.judgments.map((j, i) => Object.entries(s.judges[i]!.thresholds).every(([k, min]) => typeof j!.values[k] === 'number' && (j!.values[k] as number) >= min)),
      })),
    );
    const avgRanks = (xs: number[]) => xs.map((x) => xs.filter((y) => y < x).length + (xs.filter((y) => y === x).length + 1) / 2);
    const pearson = (a: number[], b: number[]) => {
      const ma = a.reduce((x, y) => x + y, 0) / a.length;
      const mb = b.reduce((x, y) => x + y, 0) / b.length;
      const cov = a.reduce((acc, x, i) => acc + (x - ma) * (b[i]! - mb), 0);
      return cov / Math.sqrt(a.reduce((acc, x) => acc + (x - ma) ** 2, 0) * b.reduce((acc, x) => acc + (x - mb) ** 2, 0));
    };
    const rho = pearson(avgRanks(both.map((x) => x.g[0]!)), avgRanks(both.map((x) => x.g[1]!)));
    const disagree = both.filter((x) => x.pass[0] !== x.pass[1]).length;
    const maxGap = Math.max(...both.map((x) => Math.abs(x.g[0]! - x.g[1]!)));
    expect(disagree).toBeGreaterThan(0);

    const st = await runCli(['status', '--json'], cliEnv({ QUEUE_PREFIX: freshPrefix('st').prefix }));
    expect(st.stderr).toBe('');
    const [a] = (JSON.parse(st.stdout) as { agreement: { labels: string[]; candidates: number; passFailDisagree: number; disagreementRate: number; spearman: number; largest: { candidateId: number; requestId: number; gap: number; passes: boolean[] }[] }[] }).agreement;
    expect(a!.labels).toEqual([`viescore-v1/qwen-vl@${s.judges[0]!.promptHash.slice(0, 8)}`, `imgedit-v1/intern-vl@${s.judges[1]!.promptHash.slice(0, 8)}`]);
    expect(a!.candidates).toBe(both.length);
    expect(a!.passFailDisagree).toBe(disagree);
    expect(a!.disagreementRate).toBeCloseTo(disagree / both.length, 12);
    expect(a!.spearman).toBeCloseTo(rho, 9);
    expect(a!.largest[0]!.gap).toBeCloseTo(maxGap, 3);
    expect(a!.largest.map((d) => d.gap)).toEqual([...a!.largest.map((d) => d.gap)].sort((x, y) => y - x));
    // The funnel counts the ensemble's picks and pairs.
    const funnel = (JSON.parse(st.stdout) as { funnel: { selection: { sftPicks: number; dpoPairs: number } } }).funnel;
    const ens = await stored(t.db, s);
    expect(funnel.selection).toMatchObject({ sftPicks: [...ens.picks.values()].filter((x) => x !== null).length, dpoPairs: ens.pairs.size });
    const text = await runCli(['status'], cliEnv({ QUEUE_PREFIX: freshPrefix('st').prefix }));
    expect(text.stdout).toContain('judge agreement');
    expect(text.stdout).toContain(`pass/fail differs on ${disagree}`);

    // The dashboard's panel reads the same, and its links open the candidate's request in browse.
    const app = createDashboardApp({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg });
    try {
      const res = await app.request('/api/agreement');
      const body = (await res.json()) as { agreement: typeof a[] };
      expect(body.agreement[0]!.passFailDisagree).toBe(disagree);
      expect(body.agreement[0]!.spearman).toBeCloseTo(rho, 9);
      const top = body.agreement[0]!.largest[0]!;
      const judgeB = `${s.judges[1]!.rubric}|${s.judges[1]!.model}|${s.judges[1]!.promptHash}`;
      const page = (await (await app.request(`/api/candidates?request=${top.requestId}&judge=${encodeURIComponent(judgeB)}`)).json()) as { rows: { id: number }[] };
      expect(page.rows.map((r) => r.id)).toContain(top.candidateId);
      const html = await (await app.request('/')).text();
      expect(html).toContain('id="agreement"');
    } finally {
      await app.dispose();
    }
  }, 120_000);

  it('rejudge after one judge changes model asks only that judge, and the ensemble selects under the new set', async () => {
    const file2 = `${tmp.dir}/judges-2.json`;
    writeFileSync(
      file2,
      JSON.stringify([
        { url: vie.url, model: 'qwen-vl', rubric: 'viescore-v1' },
        { url: img.url, model: 'intern-vl-2', rubric: 'imgedit-v1', thresholds: { instruction_adherence: 3, editing_quality: 3, detail_preservation: 5 } },
      ]),
    );
    const cfg2 = testConfig(dataDir, { JUDGES_FILE: file2, JUDGE_MAX_ATTEMPTS: '1' });
    const s2 = ensembleSettings(cfg2);
    const vieCalls = vie.count();
    const judgeable = Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM candidates WHERE status <> 'failed'`))[0]!.n);
    const p = freshPrefix('ens-rejudge');
    try {
      const r = await runCli(['rejudge', '--json'], cliEnv({ JUDGES_FILE: file2, QUEUE_PREFIX: p.prefix }));
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ enqueued: judgeable });
      await work(cfg2, p.prefix);
    } finally {
      await p.cleanup();
    }
    expect(vie.count()).toBe(vieCalls); // qwen-vl had judged them all already
    expect(img.count('intern-vl-2')).toBe(judgeable);
    const got = await stored(t.db, s2);
    expect(got.picks.size).toBe(N);
    expect(got).toEqual(await reference(t.db, s2));
    expect(ensembleKey(s2.judges).promptHash).not.toBe(ensembleKey(ensembleSettings(cfg).judges).promptHash);
  }, 180_000);

  it('inspect --judge with JUDGES_FILE shows every judge', async () => {
    const src = path.join(imgDir, images[0]!);
    const json = await runCli(['inspect', '--source', src, '--edit', src, '--instruction', 'Add a thick red border around the picture', '--category', 'frame', '--judge', '--json'], cliEnv());
    expect(json.stderr).toBe('');
    const o = JSON.parse(json.stdout) as { judge: { rubric: string }; judges: { ok: boolean; rubric: string; model: string; rawScores: Record<string, number> }[] };
    expect(o.judges.map((j) => [j.rubric, j.model, j.ok])).toEqual([['viescore-v1', 'qwen-vl', true], ['imgedit-v1', 'intern-vl', true]]);
    expect(Object.keys(o.judges[1]!.rawScores).sort()).toEqual(['detail_preservation', 'editing_quality', 'instruction_adherence']);
    expect(o.judge.rubric).toBe('viescore-v1');
    expect(img.calls.at(-1)!.editType).toBe('add');
    const text = await runCli(['inspect', '--source', src, '--edit', src, '--instruction', 'Brighten the image', '--judge'], cliEnv());
    expect(text.stdout).toMatch(/judge\s+viescore-v1 \(qwen-vl\)/);
    expect(text.stdout).toMatch(/judge\s+imgedit-v1 \(intern-vl\)/);
  });
});
