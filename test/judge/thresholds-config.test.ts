import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config.ts';
import { createJudge } from '../../workers/judges.ts';

describe('JUDGE_THRESHOLDS', () => {
  it('replaces the rubric defaults of the configured judge', () => {
    const metric = createJudge(loadConfig({ JUDGE_THRESHOLDS: 'instruction=8, quality=7' }).judge);
    expect(metric.rubric.id).toBe('metric-v1');
    expect(metric.rubric.thresholds).toEqual({ instruction: 8, quality: 7 });
    const vie = createJudge(loadConfig({ JUDGE_URL: 'http://127.0.0.1:9', JUDGE_THRESHOLDS: 'SC=7,PQ=5.5' }).judge);
    expect(vie.rubric.id).toBe('viescore-v1');
    expect(vie.rubric.thresholds).toEqual({ SC: 7, PQ: 5.5 });
  });

  it('a malformed list names the key', () => {
    expect(() => loadConfig({ JUDGE_THRESHOLDS: 'SC:6' })).toThrow(/^JUDGE_THRESHOLDS=SC:6: expected NAME=number pairs/);
  });

  it('a name the rubric does not produce is refused, naming it', () => {
    const cfg = loadConfig({ JUDGE_URL: 'http://127.0.0.1:9', JUDGE_RUBRIC: 'nhr-v1', JUDGE_THRESHOLDS: 'SC=6' }).judge;
    expect(() => createJudge(cfg)).toThrow(/JUDGE_THRESHOLDS: "SC" is not a score of nhr-v1/);
  });
});
