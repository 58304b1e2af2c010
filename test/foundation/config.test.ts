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
      JUDGE_REJECTED: 'false',
    });
    expect(c.inference.urls).toEqual(['http://a:1', 'http://b:2']);
    expect(c.inference.gpuSlots).toBe(8);
    expect(c.selection.loserMayFailChecks).toBe(false);
    expect(c.checks.faceExemptCategories).toEqual(['style', 'background']);
    expect(c.judge.model).toBe('qwen2.5-vl');
    expect(c.judge.judgeRejected).toBe(false);
    expect(loadConfig({}).judge.judgeRejected).toBe(true);
  });

  it('parses METRICS_PORT and RECONCILE_EVERY durations', () => {
    expect(loadConfig({}).worker).toEqual({ metricsPort: 9464, reconcileEveryMs: 600_000 });
    expect(loadConfig({ METRICS_PORT: '0', RECONCILE_EVERY: '0' }).worker).toEqual({ metricsPort: 0, reconcileEveryMs: 0 });
    expect(loadConfig({ RECONCILE_EVERY: '90s' }).worker.reconcileEveryMs).toBe(90_000);
    expect(loadConfig({ RECONCILE_EVERY: '600' }).worker.reconcileEveryMs).toBe(600_000);
    expect(loadConfig({ RECONCILE_EVERY: '1h' }).worker.reconcileEveryMs).toBe(3_600_000);
    expect(loadConfig({ RECONCILE_EVERY: '250ms' }).worker.reconcileEveryMs).toBe(250);
  });

  it.each([
    ['GPU_SLOTS', 'many', /^GPU_SLOTS=many: /],
    ['GPU_SLOTS', '0', /^GPU_SLOTS=0: /],
    ['REDIS_URL', 'localhost', /^REDIS_URL=localhost: expected a URL/],
    ['INFERENCE_URL', 'http://ok:1,notaurl', /^INFERENCE_URL=http:\/\/ok:1,notaurl: /],
    ['FACE_IOU_THRESHOLD', '1.5', /^FACE_IOU_THRESHOLD=1.5: /],
    ['JUDGE_RUBRIC', 'vibes', /^JUDGE_RUBRIC=vibes: /],
    ['REVIEW_ACCEPT_OVERRIDES_THRESHOLDS', 'perhaps', /^REVIEW_ACCEPT_OVERRIDES_THRESHOLDS=perhaps: expected true or false/],
    ['PORT', '99999', /^PORT=99999: expected a port, an integer from 1 to 65535$/],
    ['PORT', '0', /^PORT=0: expected a port/],
    ['PORT', '80.5', /^PORT=80.5: expected a port/],
    ['PORT', 'http', /^PORT=http: expected a port/],
    ['METRICS_PORT', '70000', /^METRICS_PORT=70000: expected a port, an integer from 0 to 65535 \(0: off\)$/],
    ['METRICS_PORT', 'x', /^METRICS_PORT=x: /],
    ['RECONCILE_EVERY', 'often', /^RECONCILE_EVERY=often: expected a duration like 600, 90s, 10m or 1h \(0: off\)$/],
    ['DATABASE_URL', 'garbage', /^DATABASE_URL=garbage: expected a URL like postgres:/],
    ['DATABASE_URL', 'http://ann:secret@h/db', /^DATABASE_URL=http:\/\/ann:\*\*\*@h\/db: expected a URL like postgres:/],
    ['JUDGE_REJECTED', 'sometimes', /^JUDGE_REJECTED=sometimes: expected true or false/],
  ])('a bad %s=%s names the key and the value', (key, value, re) => {
    const err = errorOf({ [key]: value });
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toMatch(re);
  });

  it('parses ports 1–65535 and the inference API key', () => {
    expect(loadConfig({ PORT: '65535' }).dashboard.port).toBe(65535);
    expect(loadConfig({ PORT: '1' }).dashboard.port).toBe(1);
    expect(loadConfig({}).inference.apiKey).toBeUndefined();
    expect(loadConfig({ INFERENCE_API_KEY: '' }).inference.apiKey).toBeUndefined();
    expect(loadConfig({ INFERENCE_API_KEY: 'k' }).inference.apiKey).toBe('k');
  });
});
