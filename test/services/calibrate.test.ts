/**
 * Judge calibration through the real pipeline: a local fake VLM server (a real HTTP server whose
 * scores the test controls) judges the candidates the built-in inference core generated;
 * reviewers' verdicts go in through the dashboard's review API, planted so that "accept" means
 * editing success ≥ 7 (with one rejected 8 and one accepted 4 as noise), while the judge's
 * configured threshold is SC ≥ 6. `calibrate` must recover 7, report agreement that matches
 * the planted counts, and refuse to suggest thresholds from fewer than 30 reviews.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../../dashboards/server.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { CalibrationReport } from '../../pipeline/calibrate/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, tempDir } from './pipeline-helpers.ts';
import { PLANTED, plantedSet, type PlantedSet } from './planted-reviews.ts';

describe('calibrate: the judge against planted reviews', () => {
  let t: TestDb;
  const tmp = tempDir('calibrate');
  let set: PlantedSet;
  let env: Record<string, string>;
  let judged: PlantedSet['judged'];
  let verdictOf: PlantedSet['verdictOf'];

  beforeAll(async () => {
    t = await createTestDb();
    set = await plantedSet(t.db, tmp.dir);
    ({ env, judged, verdictOf } = set);
  }, 150_000);
  afterAll(async () => {
    await t?.cleanup();
    await set?.close();
    tmp.cleanup();
  });

  const app = () => createDashboardApp({ db: t.db, config: set.config, blobs: new BlobStore(set.config.blobDir) });
  const post = async (candidateId: number, verdict: string) => {
    const res = await app().request('/api/reviews', { method: 'POST', headers: { 'content-type': 'application/json', 'x-reviewer': 'ana' }, body: JSON.stringify({ candidateId, verdict }) });
    expect(res.status).toBe(201);
  };
  const calibrate = async (args: string[] = []) => {
    const q = freshPrefix('calibrate');
    try {
      const res = await runCli(['calibrate', '--json', ...args], { ...env, DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: q.prefix });
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as CalibrationReport;
    } finally {
      await q.cleanup();
    }
  };

  it('judged enough candidates to rest on (planted scores on both sides of 6 and 7)', () => {
    expect(set.run.rubric).toBe('viescore-v1');
    expect(judged.length).toBeGreaterThanOrEqual(31);
    for (const s of [5, 6, 7, 8]) expect(judged.filter((j) => j.score === s).length).toBeGreaterThanOrEqual(2);
  });

  it('withholds thresholds from 29 reviews, and counts only accept / reject verdicts', async () => {
    const first = judged.slice(0, 29);
    for (const j of first) await post(j.candidate_id, verdictOf.get(j.candidate_id)!);
    await post(judged[29]!.candidate_id, 'flag'); // a flag is no verdict
    const r = await calibrate();
    expect(r.reviews).toBe(29);
    expect(r.withheld).toMatch(/30 or more reviews; this judge version has 29/);
    expect(r.scores.SC!.suggested).toBeNull();
    // the page says the same
    const page = await app().request('/calibrate');
    expect(page.status).toBe(200);
    const api = (await (await app().request('/api/calibration')).json()) as CalibrationReport;
    expect(api.reviews).toBe(29);
    expect(api.withheld).toBeDefined();
  }, 60_000);

  it('recovers the planted threshold from every review, and its agreement matches the planted counts', async () => {
    for (const j of judged.slice(29)) await post(j.candidate_id, verdictOf.get(j.candidate_id)!);
    const r = await calibrate();
    expect(r).toMatchObject({ rubric: 'viescore-v1', judgeModel: 'fake-vlm', reviews: judged.length });
    expect(r.withheld).toBeUndefined();
    const sc = r.scores.SC!;
    expect(sc.current).toBe(6);
    expect(sc.suggested!.bestF1!.threshold).toBe(PLANTED);
    expect(sc.suggested!.precisionTarget!.threshold).toBe(PLANTED);
    expect(sc.suggested!.precisionTarget!.precision).toBeGreaterThanOrEqual(0.9);
    // the judge's own decision (SC ≥ 6, PQ = 9 always passes) against the planted verdicts
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let tn = 0;
    for (const j of judged) {
      const judge = j.score >= 6;
      const human = verdictOf.get(j.candidate_id) === 'accept';
      if (judge && human) tp++;
      else if (judge) fp++;
      else if (human) fn++;
      else tn++;
    }
    expect(r.overall).toMatchObject({ n: judged.length, tp, fp, fn, tn });
    expect(r.overall.precision).toBeCloseTo(tp / (tp + fp), 3);
    expect(r.overall.recall).toBeCloseTo(tp / (tp + fn), 3);
    const n = judged.length;
    const pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n);
    expect(r.overall.kappa).toBeCloseTo(((tp + tn) / n - pe) / (1 - pe), 3);
    // per category: every review counted once
    const cats = new Set(judged.map((j) => j.category));
    expect(Object.keys(r.perCategory).sort()).toEqual([...cats].sort());
    expect(Object.values(r.perCategory).reduce((a, c) => a + c.n, 0)).toBe(n);
    // the chart's data: accepted and rejected counts per score value
    expect(sc.distribution.reduce((a, d) => a + d.accepted + d.rejected, 0)).toBe(n);
    expect(sc.distribution.find((d) => d.value === 7)!.rejected).toBe(0);
  }, 60_000);

  it('keeps judge versions apart: another judge model has no reviewed judgments', async () => {
    const r = await calibrate(['--judge-model', 'another-vlm']);
    expect(r.reviews).toBe(0);
    expect(r.withheld).toBeDefined();
    const q = freshPrefix('calibrate-bad');
    try {
      const bad = await runCli(['calibrate', '--rubric', 'nope'], { ...env, DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: q.prefix });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^vibe-curate: --rubric: unknown rubric "nope"/);
    } finally {
      await q.cleanup();
    }
  }, 30_000);
});
