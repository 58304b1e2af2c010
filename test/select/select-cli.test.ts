/** `vibe-curate select` as a child process against a real Postgres database. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config.ts';
import { SELECTION_RULE_VERSION, selectionSettings } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { insertRequests, readSelection, type FixCandidate } from './fixtures.ts';

const run = promisify(execFile);
const cand = (seed: number, scores: number[]): FixCandidate => ({ seed, checks: [true], judgments: [{ ok: true, scores, passes: true }] });
/** What the CLI reads without JUDGE_URL: the metric judge's version, thresholds on its raw scores, the current check version. */
const settings = selectionSettings(loadConfig({ JUDGE_URL: '' }));

let tdb: TestDb;
beforeAll(async () => {
  tdb = await createTestDb({ poolSize: 2 });
});
afterAll(async () => {
  await tdb?.cleanup();
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  run('./bin/vibe-curate.mjs', ['select', ...args], { env: { ...process.env, DATABASE_URL: tdb.url, JUDGE_URL: '', DATA_DIR: '/tmp/vc-select-cli', ...env } });

it('selects the settled requests with the configured judge rubric and parameters, then nothing more', async () => {
  const ins = await insertRequests(
    tdb.db,
    // Thresholds in force (metric-v1): instruction ≥ 6, preservation ≥ 5, quality ≥ 6 on the raw scores.
    [{ candidates: [cand(1, [9, 9, 9]), cand(2, [1, 1, 1]), cand(3, [9, 2, 9])] }, { candidates: [cand(1, [7, 7, 7])] }],
    { judge: settings.judge, checkVersion: settings.checkVersion, rawNames: ['instruction', 'preservation', 'quality'] },
  );
  const { stdout } = await cli(['--json'], { DPO_MAX_PAIRS: '1' });
  const out = JSON.parse(stdout) as Record<string, unknown>;
  expect(out).toMatchObject({ ruleVersion: SELECTION_RULE_VERSION, rubric: 'metric-v1', requests: 2, picks: 2, pairs: 1 });
  expect(out.params).toMatchObject({ maxPairs: 1 });
  const s = await readSelection(tdb.db, SELECTION_RULE_VERSION, 'metric-v1');
  expect(s.picks.map((p) => p.candidateId)).toEqual([ins.facts[0]![0]!.id, ins.facts[1]![0]!.id]);
  expect(s.pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[ins.facts[0]![0]!.id, ins.facts[0]![1]!.id]]);

  const again = await cli([]);
  expect(again.stdout).toMatch(/^select-v1 \(metric-v1\/builtin-metric-v1@[0-9a-f]{8}\): 0 request\(s\) selected/);
  const all = JSON.parse((await cli(['--all', '--json', '--rubric', 'nhr-v1'])).stdout) as Record<string, unknown>;
  expect(all).toMatchObject({ rubric: 'nhr-v1', requests: 2, picks: 0, pairs: 0 });
});

it('refuses a bad --batch with exit code 2 and one line', async () => {
  const err = (await cli(['--batch', 'x']).catch((e: unknown) => e)) as { code: number; stderr: string };
  expect(err.code).toBe(2);
  expect(err.stderr.trim()).toBe('vibe-curate: --batch: expected a whole number ≥ 1');
});
