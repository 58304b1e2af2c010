import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config.ts';
import { ConfigError } from '../../pipeline/errors/index.ts';

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('gives documented defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.pgliteDir.endsWith('/data/pg')).toBe(true);
    expect(c.inference.urls).toEqual([]);
    expect(c.checks.faceIoUThreshold).toBe(0.9);
    expect(c.checks.changePixelThreshold).toBe(40);
    expect(c.checks.faceUncertain).toBe('fail');
    expect(c.judge.url).toBeUndefined();
    expect(c.judge.model).toBe('builtin-metric-v1');
    expect(c.dashboard.port).toBe(3000);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({
      INFERENCE_URL: 'http://a:1, http://b:2',
      GPU_SLOTS: '8',
      DPO_LOSER_MAY_FAIL_CHECKS: 'no',
      FACE_EXEMPT_CATEGORIES: 'style,background',
      JUDGE_URL: 'http://judge:8000',
      JUDGE_MODEL: 'qwen2.5-vl',
      FACE_UNCERTAIN: 'pass',
    });
    expect(c.checks.faceUncertain).toBe('pass');
    expect(c.inference.urls).toEqual(['http://a:1', 'http://b:2']);
    expect(c.inference.gpuSlots).toBe(8);
    expect(c.selection.loserMayFailChecks).toBe(false);
    expect(c.checks.faceExemptCategories).toEqual(['style', 'background']);
    expect(c.judge.model).toBe('qwen2.5-vl');
  });

  it.each([
    ['GPU_SLOTS', 'many', /^GPU_SLOTS=many: /],
    ['GPU_SLOTS', '0', /^GPU_SLOTS=0: /],
    ['REDIS_URL', 'localhost', /^REDIS_URL=localhost: expected a URL/],
    ['INFERENCE_URL', 'http://ok:1,notaurl', /^INFERENCE_URL=http:\/\/ok:1,notaurl: /],
    ['FACE_IOU_THRESHOLD', '1.5', /^FACE_IOU_THRESHOLD=1.5: /],
    ['JUDGE_RUBRIC', 'vibes', /^JUDGE_RUBRIC=vibes: /],
    ['FACE_UNCERTAIN', 'maybe', /^FACE_UNCERTAIN=maybe: /],
    ['REVIEW_ACCEPT_OVERRIDES_THRESHOLDS', 'perhaps', /^REVIEW_ACCEPT_OVERRIDES_THRESHOLDS=perhaps: expected true or false/],
  ])('a bad %s=%s names the key and the value', (key, value, re) => {
    const err = errorOf({ [key]: value });
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toMatch(re);
  });
});
