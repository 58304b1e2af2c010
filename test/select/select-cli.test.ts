/** `vibe-curate select` as a child process against a real Postgres database. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SELECTION_RULE_VERSION } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { insertRequests, readSelection, type FixCandidate } from './fixtures.ts';

const run = promisify(execFile);
const cand = (seed: number, scores: number[]): FixCandidate => ({ seed, checks: [true], judgments: [{ rubric: 'metric-v1', ok: true, scores, passes: true }] });

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
    [{ candidates: [cand(1, [9, 9]), cand(2, [1, 1]), cand(3, [9, 2])] }, { candidates: [cand(1, [3, 3])] }],
    'metric-v1',
  );
  const { stdout } = await cli(['--json'], { DPO_MAX_PAIRS: '1' });
  const out = JSON.parse(stdout) as Record<string, unknown>;
  expect(out).toMatchObject({ ruleVersion: SELECTION_RULE_VERSION, rubric: 'metric-v1', requests: 2, picks: 2, pairs: 1 });
  expect(out.params).toMatchObject({ maxPairs: 1 });
  const s = await readSelection(tdb.db, SELECTION_RULE_VERSION, 'metric-v1');
  expect(s.picks.map((p) => p.candidateId)).toEqual([ins.facts[0]![0]!.id, ins.facts[1]![0]!.id]);
  expect(s.pairs.map((p) => [p.chosenId, p.rejectedId])).toEqual([[ins.facts[0]![0]!.id, ins.facts[0]![1]!.id]]);

  const again = await cli([]);
  expect(again.stdout).toMatch(/^select-v1 \(metric-v1\): 0 request\(s\) selected/);
  const all = JSON.parse((await cli(['--all', '--json', '--rubric', 'other'])).stdout) as Record<string, unknown>;
  expect(all).toMatchObject({ rubric: 'other', requests: 2, picks: 0, pairs: 0 });
});

it('refuses a bad --batch with exit code 2 and one line', async () => {
  const err = (await cli(['--batch', 'x']).catch((e: unknown) => e)) as { code: number; stderr: string };
  expect(err.code).toBe(2);
  expect(err.stderr.trim()).toBe('vibe-curate: --batch: expected a whole number ≥ 1');
});
