/** JUDGES_FILE: parsed and validated at start, errors naming the file, the judge and the field. */
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config.ts';
import { configuredJudgeVersions, ensembleKey, getRubric, thresholdsInForce } from '../../pipeline/judge/index.ts';
import { createJudges } from '../../workers/judges.ts';
import { runCli } from '../services/cli-run.ts';
import { tempDir } from '../services/pipeline-helpers.ts';

const tmp = tempDir('judges-file');
afterAll(() => tmp.cleanup());
let n = 0;
const file = (content: unknown) => {
  const p = `${tmp.dir}/judges-${++n}.json`;
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};
const two = [
  { url: 'http://127.0.0.1:9', model: 'qwen', rubric: 'viescore-v1' },
  { url: 'http://127.0.0.1:10', model: 'intern', rubric: 'imgedit-v1', thresholds: { overall: 4 }, apiKey: 'k', concurrency: 3 },
];

describe('JUDGES_FILE', () => {
  it('gives one judge per entry, each with its own version, thresholds and concurrency', () => {
    const cfg = loadConfig({ JUDGES_FILE: file(two) }).judge;
    expect(cfg.judges).toHaveLength(2);
    const judges = createJudges(cfg);
    expect(judges.map((j) => [j.rubric.id, j.model])).toEqual([['viescore-v1', 'qwen'], ['imgedit-v1', 'intern']]);
    expect(judges[1]!.rubric.thresholds).toEqual({ overall: 4 });
    expect(thresholdsInForce(cfg, 'imgedit-v1', 'intern')).toEqual({ overall: 4 });
    expect(thresholdsInForce(cfg, 'viescore-v1', 'qwen')).toEqual(getRubric('viescore-v1').thresholds);
    const versions = configuredJudgeVersions(cfg);
    expect(versions[1]).toEqual({ rubric: 'imgedit-v1', model: 'intern', promptHash: getRubric('imgedit-v1').promptHash });
    // The ensemble's own version depends on the judges and their order.
    expect(ensembleKey(versions).rubric).toBe('ensemble');
    expect(ensembleKey(versions).promptHash).not.toBe(ensembleKey([...versions].reverse()).promptHash);
  });

  it('without it, the single judge settings work as before', () => {
    const cfg = loadConfig({ JUDGE_URL: 'http://127.0.0.1:9', JUDGE_MODEL: 'm', JUDGE_RUBRIC: 'imgedit-v1' }).judge;
    expect(cfg.judges).toBeUndefined();
    expect(createJudges(cfg).map((j) => [j.rubric.id, j.model])).toEqual([['imgedit-v1', 'm']]);
    expect(configuredJudgeVersions(cfg)).toEqual([{ rubric: 'imgedit-v1', model: 'm', promptHash: getRubric('imgedit-v1').promptHash }]);
  });

  it('refuses the single-judge settings beside it', () => {
    const f = file(two);
    for (const [k, v] of [['JUDGE_URL', 'http://127.0.0.1:9'], ['JUDGE_MODEL', 'x'], ['JUDGE_RUBRIC', 'nhr-v1'], ['JUDGE_THRESHOLDS', 'SC=6'], ['JUDGE_API_KEY', 'k']] as const) {
      expect(() => loadConfig({ JUDGES_FILE: f, [k]: v })).toThrow(new RegExp(`^${k}=${v.replace(/[.]/g, '\\.')}: not used with JUDGES_FILE=`));
    }
  });

  it('names the file, the judge and the field of a bad entry', () => {
    const bad = (content: unknown) => {
      const p = file(content);
      try {
        loadConfig({ JUDGES_FILE: p });
      } catch (err) {
        return (err as Error).message.replace(p, 'F');
      }
      return 'accepted';
    };
    expect(bad([two[0], { ...two[1], rubric: 'gedit' }])).toMatch(/^JUDGES_FILE=F: judge 1 field rubric: /);
    expect(bad([{ ...two[0], url: 'not a url' }])).toBe('JUDGES_FILE=F: judge 0 field url: expected a URL like http://host:port');
    expect(bad([{ ...two[0], concurrency: 0 }])).toMatch(/^JUDGES_FILE=F: judge 0 field concurrency: /);
    expect(bad([{ ...two[0], extra: 1 }])).toMatch(/^JUDGES_FILE=F: judge 0: /);
    expect(bad([two[0], { ...two[0], url: 'http://127.0.0.1:11' }])).toBe('JUDGES_FILE=F: judge 1: same rubric and model as judge 0 (viescore-v1, qwen)');
    expect(bad([])).toMatch(/^JUDGES_FILE=F: expected a JSON array of judges: /);
    expect(bad({ url: 'x' })).toMatch(/^JUDGES_FILE=F: expected a JSON array of judges/);
    expect(bad('[{')).toMatch(/^JUDGES_FILE=F: not JSON/);
    expect(() => loadConfig({ JUDGES_FILE: `${tmp.dir}/missing.json` })).toThrow(/JUDGES_FILE=.*missing\.json: cannot read it \(ENOENT\)/);
    const cfg = loadConfig({ JUDGES_FILE: file([{ ...two[1], thresholds: { SC: 6 } }]) }).judge;
    expect(() => createJudges(cfg)).toThrow(/JUDGES_FILE judge 0 field thresholds: "SC" is not a score of imgedit-v1/);
  });

  it('a bad JUDGES_FILE stops the CLI with exit 2 and one line', async () => {
    const p = file([{ ...two[0], model: '' }]);
    const r = await runCli(['status', '--json'], { JUDGES_FILE: p });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`vibe-curate: JUDGES_FILE=${p}: judge 0 field model: expected a model name`);
    const both = await runCli(['status', '--json'], { JUDGES_FILE: file(two), JUDGE_URL: 'http://127.0.0.1:9' });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^vibe-curate: JUDGE_URL=http:\/\/127\.0\.0\.1:9: not used with JUDGES_FILE=/);
  });
});
