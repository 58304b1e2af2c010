/**
 * Strict dominance (select-v1) against the scalarised rule (scalar-v1) through the real pipeline
 * (Postgres, Redis, the built-in inference core and metric judge): the workers run the rules of
 * SELECT_RULES; `select --rule scalar-v1` adds the other rule's rows beside select-v1's without
 * touching them; the stored pairs of both rules equal a brute-force TypeScript reference over
 * the stored raw scores; some scalar pairs are not dominant and strict dominance never makes one;
 * the two DPO exports differ as the rules say; status counts both.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import { getRubric } from '../../pipeline/judge/index.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import {
  dpoPairs,
  notDominant,
  pickScalar,
  pickSft,
  scalarPairs,
  selectionSettings,
  type ScalarCandidateFacts,
  type SelectionSettings,
  type Verdict,
} from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

const FIRST = 12; // requests of the first run (SELECT_RULES default: select-v1 alone)
const MORE = 6; // requests added by the second run (SELECT_RULES=select-v1,scalar-v1)
const K = 4;

/** Per rule, what is stored or what the reference computes: picks per request and pairs with their gap. */
interface Selection {
  picks: Map<number, number | null>;
  /** `request:chosen>rejected` → total margin (select-v1: Σ margins; scalar-v1: the score gap). */
  pairs: Map<string, number>;
  /** Keys of the pairs with a negative margin (chosen worse on some rubric axis). */
  notDominant: Set<string>;
}

async function stored(db: TestDb['db'], s: SelectionSettings, rule: string): Promise<Selection> {
  const v = s.judge;
  const same = sql`rule_version = ${rule} AND rubric = ${v.rubric} AND judge_model = ${v.model} AND prompt_hash = ${v.promptHash}`;
  const picks = await rows<{ request_id: number; candidate_id: number | null }>(db, sql`SELECT request_id, candidate_id FROM selections WHERE ${same}`);
  const pairs = await rows<{ request_id: number; chosen_id: number; rejected_id: number; total_margin: number; margins: number[] }>(
    db,
    sql`SELECT request_id, chosen_id, rejected_id, total_margin, margins FROM pairs WHERE ${same} AND rank > 0`,
  );
  const key = (p: (typeof pairs)[number]) => `${p.request_id}:${p.chosen_id}>${p.rejected_id}`;
  return {
    picks: new Map(picks.map((p) => [Number(p.request_id), p.candidate_id === null ? null : Number(p.candidate_id)])),
    pairs: new Map(pairs.map((p) => [key(p), Number(p.total_margin)])),
    notDominant: new Set(pairs.filter((p) => notDominant(p.margins.map(Number))).map(key)),
  };
}

/**
 * The brute-force reference: each candidate's facts from the ledger — the judge version's raw
 * scores put through the rubric (its thresholds, its score vector and canonical axes, rounded
 * to real as the columns store them), the check of the check version, the newest review — then
 * the TypeScript rules per request.
 */
async function reference(db: TestDb['db'], s: SelectionSettings): Promise<Record<'select-v1' | 'scalar-v1', Selection>> {
  const v = s.judge;
  const rubric = getRubric(v.rubric, s.thresholds);
  const found = await rows<{ request_id: number; id: number; seed: number; raw: Record<string, number> | null; passed: boolean | null; verdict: Verdict | null }>(
    db,
    sql`SELECT c.request_id, c.id, c.seed, j.raw_scores AS raw,
               (SELECT k.passed FROM checks k WHERE k.candidate_id = c.id AND k.rule_version = ${s.checkVersion}) AS passed,
               (SELECT r.verdict FROM reviews r WHERE r.candidate_id = c.id ORDER BY r.id DESC LIMIT 1) AS verdict
        FROM candidates c JOIN requests rq ON rq.id = c.request_id
        LEFT JOIN judgments j ON j.candidate_id = c.id AND j.ok AND j.superseded_at IS NULL
             AND j.rubric = ${v.rubric} AND j.judge_model = ${v.model} AND j.prompt_hash = ${v.promptHash}
        WHERE rq.status IN ('settled', 'selected') ORDER BY c.request_id, c.id`,
  );
  const byReq = new Map<number, ScalarCandidateFacts[]>();
  for (const f of found) {
    const scored = f.raw ? rubric.score(f.raw) : null;
    const list = byReq.get(Number(f.request_id)) ?? [];
    list.push({
      id: Number(f.id),
      seed: f.seed,
      scores: scored ? scored.scoreVector.map(Math.fround) : null,
      axes: scored
        ? { instruction: Math.fround(scored.axes.instruction), preservation: Math.fround(scored.axes.preservation), quality: Math.fround(scored.axes.quality) }
        : null,
      passesThresholds: scored?.passesThresholds ?? false,
      checkPassed: f.passed === true,
      review: f.verdict,
    });
    byReq.set(Number(f.request_id), list);
  }
  const empty = (): Selection => ({ picks: new Map(), pairs: new Map(), notDominant: new Set() });
  const out = { 'select-v1': empty(), 'scalar-v1': empty() };
  for (const [rid, facts] of byReq) {
    out['select-v1'].picks.set(rid, pickSft(facts, s.params).candidateId);
    out['scalar-v1'].picks.set(rid, pickScalar(facts, s.params, s.scalar).candidateId);
    for (const [rule, pairs] of [['select-v1', dpoPairs(facts, s.params)], ['scalar-v1', scalarPairs(facts, s.params, s.scalar)]] as const) {
      for (const p of pairs) {
        const k = `${rid}:${p.chosenId}>${p.rejectedId}`;
        out[rule].pairs.set(k, p.totalMargin);
        if (notDominant(p.margins)) out[rule].notDominant.add(k);
      }
    }
  }
  return out;
}

/** The pairs' margins rounded to float4, as the column stores them: compare to 1e-6. */
function expectSamePairs(a: Map<string, number>, b: Map<string, number>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, m] of a) expect(b.get(k)!, k).toBeCloseTo(m, 9);
}

describe('pairing rules side by side through the real pipeline', () => {
  let t: TestDb;
  const tmp = tempDir('rules');
  const imgDir = `${tmp.dir}/img`;
  const dataDir = `${tmp.dir}/data`;
  let images: string[];
  const cfgOf = (env: Record<string, string> = {}): Config => testConfig(dataDir, { JUDGE_URL: '', ...env });
  const cliEnv = (env: Record<string, string> = {}) => ({ DATABASE_URL: t.url, REDIS_URL, DATA_DIR: dataDir, JUDGE_URL: '', ...env });
  const work = (cfg: Config, n: number) =>
    runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests: requestsOver(images, n), baseDir: imgDir, candidates: K, timeoutMs: 150_000 });
  const settings = () => selectionSettings(cfgOf());
  const requestStamps = async () => rows<{ id: number; selected_at: string; status: string }>(t.db, sql`SELECT id, selected_at::text, status FROM requests ORDER BY id`);

  beforeAll(async () => {
    t = await createTestDb();
    images = await smallImages(imgDir, 128);
    await work(cfgOf(), FIRST);
  }, 200_000);
  afterAll(async () => {
    await t?.cleanup();
    tmp.cleanup();
  });

  it('workers with the default SELECT_RULES store select-v1 alone', async () => {
    const r = await rows<{ rule_version: string; n: number }>(t.db, sql`SELECT rule_version, count(*)::int AS n FROM selections GROUP BY 1 ORDER BY 1`);
    expect(r).toEqual([{ rule_version: 'select-v1', n: FIRST }]);
    expect(Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM pairs WHERE rule_version <> 'select-v1'`))[0]!.n)).toBe(0);
  });

  it('select --rule scalar-v1 --dry-run predicts the scalar rows and writes nothing', async () => {
    const ref = (await reference(t.db, settings()))['scalar-v1'];
    const r = await runCli(['select', '--rule', 'scalar-v1', '--dry-run', '--json'], cliEnv());
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { ruleVersion: string; requests: number; diff: { total: { picksGained: number; pairsGained: number; pairsLost: number } } };
    expect(out.ruleVersion).toBe('scalar-v1');
    // Due: the requests have no scalar-v1 row yet, though select-v1 stamped them selected.
    expect(out.requests).toBe(FIRST);
    expect(out.diff.total).toMatchObject({ picksGained: [...ref.picks.values()].filter((p) => p !== null).length, pairsGained: ref.pairs.size, pairsLost: 0 });
    expect(Number((await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM selections WHERE rule_version = 'scalar-v1'`))[0]!.n)).toBe(0);
  });

  it('select --rule scalar-v1 stores its rows beside select-v1, leaving select-v1 and the request stamps as they were', async () => {
    const s = settings();
    const before = await stored(t.db, s, 'select-v1');
    const stamps = await requestStamps();
    const r = await runCli(['select', '--rule', 'scalar-v1', '--json'], cliEnv());
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { requests: number; pairs: number; scalar: unknown; byRule: Record<string, { pairs: number }> };
    expect(out.requests).toBe(FIRST);
    expect(out.scalar).toEqual({ weights: { instruction: 0.4, preservation: 0.35, quality: 0.25 }, minGap: 0.5 });
    expect(Object.keys(out.byRule)).toEqual(['scalar-v1']);
    expect(await stored(t.db, s, 'select-v1')).toEqual(before);
    // A run that leaves out a rule of SELECT_RULES does not stamp: the select stage still sees due requests as due.
    expect(await requestStamps()).toEqual(stamps);
    const scalar = await stored(t.db, s, 'scalar-v1');
    expect(scalar.pairs.size).toBe(out.pairs);
    expect(scalar.picks.size).toBe(FIRST);
    // Incremental: nothing is due for scalar-v1 any more.
    const again = JSON.parse((await runCli(['select', '--rule', 'scalar-v1', '--json'], cliEnv())).stdout) as { requests: number };
    expect(again.requests).toBe(0);
  });

  it('workers with SELECT_RULES=select-v1,scalar-v1 store both rules for new requests', async () => {
    await work(cfgOf({ SELECT_RULES: 'select-v1,scalar-v1' }), FIRST + MORE);
    const r = await rows<{ rule_version: string; n: number }>(t.db, sql`SELECT rule_version, count(*)::int AS n FROM selections GROUP BY 1 ORDER BY 1`);
    expect(r).toEqual([
      { rule_version: 'scalar-v1', n: FIRST + MORE },
      { rule_version: 'select-v1', n: FIRST + MORE },
    ]);
    const params = await rows<{ params: Record<string, unknown> }>(t.db, sql`SELECT DISTINCT params FROM pairs WHERE rule_version = 'scalar-v1'`);
    expect(params).toHaveLength(1);
    expect(params[0]!.params).toMatchObject({ weights: { instruction: 0.4, preservation: 0.35, quality: 0.25 }, minGap: 0.5, maxPairs: 4, maxUses: 2 });
    expect(params[0]!.params).not.toHaveProperty('minMargin');
  }, 200_000);

  it('both rules equal the brute-force reference over the stored raw scores; some scalar pairs are not dominant, no select-v1 pair is', async () => {
    const s = settings();
    const ref = await reference(t.db, s);
    for (const rule of ['select-v1', 'scalar-v1'] as const) {
      const got = await stored(t.db, s, rule);
      expect(got.picks, rule).toEqual(ref[rule].picks);
      expectSamePairs(ref[rule].pairs, got.pairs);
      expect([...got.notDominant].sort(), rule).toEqual([...ref[rule].notDominant].sort());
    }
    expect(ref['select-v1'].pairs.size).toBeGreaterThan(0);
    expect(ref['select-v1'].notDominant.size).toBe(0);
    // The data has scalar pairs whose chosen side is worse on some axis: the rules really differ.
    expect(ref['scalar-v1'].notDominant.size).toBeGreaterThan(0);
    // Every scalar pair clears the gap; equal scores never pair.
    expect([...ref['scalar-v1'].pairs.values()].every((g) => g >= s.scalar.minGap && g > 0)).toBe(true);
  });

  it('PAIR_MIN_GAP changes what select stores (gap 3: fewer scalar pairs, each with gap ≥ 3)', async () => {
    const s = selectionSettings(cfgOf({ PAIR_MIN_GAP: '3' }));
    const r = await runCli(['select', '--rule', 'scalar-v1', '--all', '--dry-run', '--json'], cliEnv({ PAIR_MIN_GAP: '3' }));
    const out = JSON.parse(r.stdout) as { diff: { total: { pairsGained: number; pairsLost: number } } };
    const wide = (await reference(t.db, s))['scalar-v1'];
    const narrow = await stored(t.db, s, 'scalar-v1');
    expect(out.diff.total.pairsLost).toBeGreaterThan(0);
    expect(narrow.pairs.size - out.diff.total.pairsLost + out.diff.total.pairsGained).toBe(wide.pairs.size);
    expect([...wide.pairs.values()].every((g) => g >= 3)).toBe(true);
  });

  it('export --kind dpo --rule-version picks each rule: the exports differ as the rules say', async () => {
    const s = settings();
    const samples = async (rule: string) => {
      const out = path.join(tmp.dir, `dpo-${rule}`);
      const r = await runCli(['export', '--kind', 'dpo', '--rule-version', rule, '--out', out, '--json'], cliEnv());
      expect(r.stderr).toBe('');
      const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { rule_version: string; versions: { selection: { rule_version: string; params: unknown[] } } };
      const tars = (await readdir(out)).filter((f) => f.endsWith('.tar')).map((f) => path.join(out, f));
      const json = (await readTarsWithPython(tars)).flatMap((sh) => sh.members.filter((m) => m.json).map((m) => m.json!));
      return { manifest, json };
    };
    const dom = await samples('select-v1');
    const sca = await samples('scalar-v1');
    expect(dom.manifest.rule_version).toBe('select-v1');
    expect(dom.manifest.versions.selection.rule_version).toBe('select-v1');
    expect(dom.manifest.versions.selection.params).toHaveLength(1);
    expect(dom.manifest.versions.selection.params[0]).toMatchObject({ minMargin: 1, maxPairs: 4, maxUses: 2 });
    expect(sca.manifest.rule_version).toBe('scalar-v1');
    expect(sca.manifest.versions.selection.rule_version).toBe('scalar-v1');
    expect(sca.manifest.versions.selection.params).toHaveLength(1);
    expect(sca.manifest.versions.selection.params[0]).toMatchObject({ weights: { instruction: 0.4, preservation: 0.35, quality: 0.25 }, minGap: 0.5, maxPairs: 4 });
    const key = (j: Record<string, unknown>) => `${j.request_id as number}:${j.chosen_sha256 as string}>${j.rejected_sha256 as string}`;
    expect(dom.json.every((j) => j.rule_version === 'select-v1')).toBe(true);
    expect(sca.json.every((j) => j.rule_version === 'scalar-v1')).toBe(true);
    // What each export holds is what each rule stored (every request is current, none reviewed).
    const ref = await reference(t.db, s);
    expect(dom.json).toHaveLength(ref['select-v1'].pairs.size);
    expect(sca.json).toHaveLength(ref['scalar-v1'].pairs.size);
    // Strict dominance: chosen ≥ rejected on every axis. Scalar: the weighted canonical score is ahead by the gap, some axes behind.
    const margins = (j: Record<string, unknown>) => j.margins as number[];
    expect(dom.json.every((j) => margins(j).every((m) => m >= 0) && margins(j).some((m) => m > 0))).toBe(true);
    const behind = sca.json.filter((j) => margins(j).some((m) => m < 0));
    expect(behind).toHaveLength(ref['scalar-v1'].notDominant.size);
    const w = s.scalar.weights;
    const score = (a: Record<string, number>) => w.instruction * a.instruction! + w.preservation * a.preservation! + w.quality * a.quality!;
    for (const j of sca.json) {
      const gap = score(j.chosen_axes as Record<string, number>) - score(j.rejected_axes as Record<string, number>);
      expect(gap).toBeGreaterThanOrEqual(s.scalar.minGap - 1e-6);
      expect(j.total_margin as number).toBeCloseTo(gap, 5);
    }
    const domKeys = new Set(dom.json.map(key));
    expect(sca.json.filter((j) => !domKeys.has(key(j))).length).toBeGreaterThan(0);

    // Without --rule-version: the first rule of SELECT_RULES that has pairs.
    const ruleOf = async (tag: string, env: Record<string, string>) => {
      const out = path.join(tmp.dir, `dpo-default-${tag}`);
      const r = await runCli(['export', '--kind', 'dpo', '--out', out, '--json'], cliEnv(env));
      expect(r.stderr).toBe('');
      return (JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { rule_version: string }).rule_version;
    };
    expect(await ruleOf('default', {})).toBe('select-v1');
    expect(await ruleOf('scalar-first', { SELECT_RULES: 'scalar-v1,select-v1' })).toBe('scalar-v1');
  });

  it('status --json and the text status count both rules and the scalar pairs that are not dominant', async () => {
    const ref = await reference(t.db, settings());
    const p = freshPrefix('rules-status');
    try {
      const env = cliEnv({ QUEUE_PREFIX: p.prefix, SELECT_RULES: 'select-v1,scalar-v1' });
      const r = await runCli(['status', '--json'], env);
      const f = (JSON.parse(r.stdout) as { funnel: { selection: { ruleVersion: string; dpoPairs: number; rules: Record<string, { dpoPairs: number; notDominant: number; sftPicks: number }> } } }).funnel;
      expect(f.selection.ruleVersion).toBe('select-v1');
      expect(f.selection.dpoPairs).toBe(ref['select-v1'].pairs.size);
      expect(f.selection.rules['select-v1']).toMatchObject({ dpoPairs: ref['select-v1'].pairs.size, notDominant: 0 });
      expect(f.selection.rules['scalar-v1']).toMatchObject({
        dpoPairs: ref['scalar-v1'].pairs.size,
        notDominant: ref['scalar-v1'].notDominant.size,
        sftPicks: [...ref['scalar-v1'].picks.values()].filter((x) => x !== null).length,
      });
      const text = (await runCli(['status'], env)).stdout;
      expect(text).toMatch(new RegExp(`^ {2}scalar-v1 pairs\\s+${ref['scalar-v1'].pairs.size}\\s+not dominant ${ref['scalar-v1'].notDominant.size},`, 'm'));
    } finally {
      await p.cleanup();
    }
  });

  it('refuses an unknown --rule and a bad PAIR_WEIGHTS with exit code 2 and one line', async () => {
    const bad = await runCli(['select', '--rule', 'scalar-v9'], cliEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('vibe-curate: --rule: expected one of select-v1, scalar-v1, got scalar-v9');
    const w = await runCli(['select', '--rule', 'scalar-v1'], cliEnv({ PAIR_WEIGHTS: 'instruction=0.5,quality=0.5' }));
    expect(w.code).toBe(2);
    expect(w.stderr.trim()).toBe('vibe-curate: PAIR_WEIGHTS=instruction=0.5,quality=0.5: expected a weight for each of instruction, preservation, quality');
  });
});
