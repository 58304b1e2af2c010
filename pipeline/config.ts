/**
 * Configuration: the environment (and CLI flags layered on top) parsed once with zod into a
 * typed, nested object. A bad value stops the program with `KEY=value: why`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, maskUrl } from './errors/index.ts';
import { DEFAULT_MAX_PIXELS } from './limits.ts';

const num = (def: number, check: (s: z.ZodNumber) => z.ZodNumber = (s) => s) =>
  z.preprocess((v) => (v === undefined || v === '' ? def : Number(v)), check(z.number()));
const int = (def: number, min = 0) => num(def, (s) => s.int('expected an integer').min(min));
/**
 * A TCP port variable: an integer 1–65535 (`PORT=99999` fails naming PORT), or 0–65535 with
 * `offAtZero` (0 turns the listener off). Used for every port variable.
 */
export const port = (def: number, opts: { offAtZero?: boolean } = {}) => {
  const min = opts.offAtZero ? 0 : 1;
  const why = `expected a port, an integer from ${min} to 65535${opts.offAtZero ? ' (0: off)' : ''}`;
  return z.preprocess((v) => (v === undefined || v === '' ? def : Number(v)), z.number({ error: why }).int(why).min(min, why).max(65535, why));
};
const optStr = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());
/** A Postgres URL that parses (postgres:// or postgresql://). */
const pgUrl = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .refine((v) => {
      try {
        return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, 'expected a URL like postgres://user:password@host:5432/db')
    .optional(),
);
/** A duration: `600` (seconds), `90s`, `10m`, `1h`, `500ms`; 0 turns the feature off. Milliseconds. */
const duration = (defMs: number) =>
  z.preprocess(
    (v) => {
      if (v === undefined || v === '') return defMs;
      const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(String(v));
      if (!m) return v;
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
      return Math.round(Number(m[1]) * unit);
    },
    z.number({ error: 'expected a duration like 600, 90s, 10m or 1h (0: off)' }).int().min(0),
  );

const optUrl = z.preprocess((v) => (v === '' ? undefined : v), z.url('expected a URL like http://host:port').optional());
const urlList = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []),
  z.array(z.url('expected comma-separated URLs like http://host:port')),
);
/** The selection rule versions there are (pipeline/select/registry.ts holds what each does). */
export const SELECTION_RULE_VERSIONS = ['select-v1', 'scalar-v1'] as const;
export type SelectionRuleVersion = (typeof SELECTION_RULE_VERSIONS)[number];

const weight = z.number({ error: 'expected a weight for each of instruction, preservation, quality' });

/** PAIR_WEIGHTS' default: instruction 0.4, preservation 0.35, quality 0.25. */
export const DEFAULT_PAIR_WEIGHTS = { instruction: 0.4, preservation: 0.35, quality: 0.25 } as const;

/** Weights divided by their sum (exact when they already sum to 1 in doubles, as the default does). */
export function normaliseWeights(w: { instruction: number; preservation: number; quality: number }): { instruction: number; preservation: number; quality: number } {
  const sum = w.instruction + w.preservation + w.quality;
  if (sum === 1) return { ...w };
  return { instruction: w.instruction / sum, preservation: w.preservation / sum, quality: w.quality / sum };
}

const bool = (def: boolean) =>
  z.preprocess((v) => {
    if (v === undefined || v === '') return def;
    if (typeof v === 'boolean') return v;
    if (/^(1|true|yes|on)$/i.test(String(v))) return true;
    if (/^(0|false|no|off)$/i.test(String(v))) return false;
    return v;
  }, z.boolean({ error: 'expected true or false' }));

/** Every environment variable the program reads, with its default. Documented in README.md. */
export const envSchema = z.object({
  DATABASE_URL: pgUrl, // unset: embedded PGlite in DATA_DIR/pg
  REDIS_URL: optUrl, // unset: redis://127.0.0.1:6379, else a private redis-server
  DATA_DIR: z.string().default('./data'),
  INFERENCE_URL: urlList, // unset: the built-in CPU inference core, in-process
  INFERENCE_MODEL: z.string().default('vibe-builtin-cpu'),
  INFERENCE_TIMEOUT_MS: int(120_000, 1), // 120 s per call
  INFERENCE_MAX_ATTEMPTS: int(4, 1),
  INFERENCE_API_KEY: optStr, // unset: no key; set: serve-inference requires it, the client sends it
  GPU_SLOTS: int(4, 1), // global concurrency of the generate queue
  JUDGE_URL: optUrl, // unset: the built-in metric judge
  JUDGE_MODEL: z.string().default('builtin-metric-v1'),
  JUDGE_API_KEY: optStr,
  JUDGE_RUBRIC: z.enum(['viescore-v1', 'nhr-v1', 'imgedit-v1']).default('viescore-v1'),
  JUDGE_THRESHOLDS: z.preprocess(
    (v) => {
      if (typeof v !== 'string' || v.trim() === '') return undefined;
      const out: Record<string, number> = {};
      for (const part of v.split(',')) {
        const m = /^\s*([A-Za-z_]+)\s*=\s*(-?\d+(?:\.\d+)?)\s*$/.exec(part);
        if (!m) return part; // fails the record check below, naming the key
        out[m[1]!] = Number(m[2]);
      }
      return out;
    },
    z.record(z.string(), z.number(), { error: 'expected NAME=number pairs, e.g. SC=6,PQ=6' }).optional(),
  ), // unset: the rubric's default thresholds
  JUDGE_TIMEOUT_MS: int(60_000, 1), // 60 s per call
  JUDGE_MAX_ATTEMPTS: int(3, 1),
  JUDGE_CONCURRENCY: int(8, 1),
  JUDGE_IMAGE_LONG_SIDE: int(768, 64), // pixels: images are resized before they are sent
  JUDGES_FILE: optStr, // unset: one judge (JUDGE_URL…); set: a JSON array of judges, every candidate judged by each
  JUDGE_REJECTED: bool(true), // judge candidates that failed a hard check too (rejected sides of DPO pairs)
  DASHBOARD_TOKEN: optStr, // unset: dashboard listens on 127.0.0.1 only
  PORT: port(3000), // dashboard
  FACE_IOU_THRESHOLD: num(0.9, (s) => s.min(0).max(1)),
  FACE_EXEMPT_CATEGORIES: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? v.split(',').map((s) => s.trim()) : []),
    z.array(z.string()),
  ),
  FACE_SEARCH: z.enum(['fine', 'fast']).default('fine'), // fine: tiles find faces ~2 % of the width; fast: ~5 %, quicker
  FACE_UNCERTAIN: z.enum(['pass', 'fail']).default('fail'), // a source whose best face candidate is only likely: pass or fail the face rule
  CHANGE_PIXEL_THRESHOLD: int(40, 0), // 0–255 per channel
  ARTIFACT_CHECK: z.enum(['on', 'off', 'record'], { error: 'expected on, off or record' }).default('on'), // record: stored, never rejects
  MAX_IMAGE_PIXELS: int(DEFAULT_MAX_PIXELS, 1), // decompression-bomb limit
  CANDIDATES: int(4, 1), // candidates per request (K)
  DPO_MIN_MARGIN: num(1, (s) => s.min(0)), // sum of axis differences, canonical 0–10 scale
  DPO_MAX_PAIRS: int(4, 1), // per request
  DPO_MAX_USES: int(2, 1), // times one candidate may appear across a request's pairs
  DPO_LOSER_MAY_FAIL_CHECKS: bool(true),
  REVIEW_ACCEPT_OVERRIDES_THRESHOLDS: bool(true),
  PAIR_WEIGHTS: z.preprocess(
    (v) => {
      if (typeof v !== 'string' || v.trim() === '') return { ...DEFAULT_PAIR_WEIGHTS };
      const out: Record<string, number> = {};
      for (const part of v.split(',')) {
        const m = /^\s*([A-Za-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
        if (!m) return part; // fails the object check below
        out[m[1]!] = Number(m[2]);
      }
      return out;
    },
    z
      .object(
        { instruction: weight, preservation: weight, quality: weight },
        { error: 'expected instruction=W,preservation=W,quality=W with W ≥ 0, e.g. instruction=0.4,preservation=0.35,quality=0.25' },
      )
      .strict()
      .refine((w) => w.instruction + w.preservation + w.quality > 0, 'expected weights that do not all equal 0'),
  ), // scalar-v1's weights of the canonical axes; normalised to sum 1 (the score stays on 0–10)
  PAIR_MIN_GAP: num(0.5, (s) => s.min(0)), // scalar-v1: least score gap chosen − rejected, canonical 0–10 scale
  SELECT_RULES: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? [...new Set(v.split(',').map((s) => s.trim()))] : ['select-v1']),
    z.array(z.enum(SELECTION_RULE_VERSIONS, { error: `expected rule versions among ${SELECTION_RULE_VERSIONS.join(', ')}, comma-separated` })).min(1),
  ), // the rules the select stage (workers) and a plain `select` run
  CHECK_CONCURRENCY: int(2, 1),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected letters, digits, _ . -').default('vibe'), // BullMQ key prefix
  QUEUE_LOCK_MS: int(30_000, 1000), // 30 s: a killed worker's jobs are retried after this
  METRICS_PORT: port(9464, { offAtZero: true }), // each worker's /metrics; 0: off
  RECONCILE_EVERY: duration(600_000), // 10 min: one worker of the fleet reconciles this often; 0: off
  NEAR_DUP_DISTANCE: num(6, (s) => s.int('expected an integer').min(0).max(16)), // bits of the 64-bit pHash
});

export type Env = z.infer<typeof envSchema>;

/** One judge of JUDGES_FILE: a VLM server, its model and the rubric it answers. */
export const judgeEntrySchema = z.strictObject({
  url: z.url('expected a URL like http://host:port'),
  model: z.string().min(1, 'expected a model name'),
  rubric: z.enum(['viescore-v1', 'nhr-v1', 'imgedit-v1']),
  /** Replaces the rubric's default thresholds (names: the rubric's scores or aggregates). */
  thresholds: z.record(z.string(), z.number()).optional(),
  apiKey: z.string().optional(),
  /** Requests in flight to this judge (default JUDGE_CONCURRENCY). */
  concurrency: z.number().int('expected an integer').min(1).optional(),
});

export type JudgeEntry = z.infer<typeof judgeEntrySchema>;

/** The single-judge settings JUDGES_FILE replaces: setting one beside it is a configuration error. */
const SINGLE_JUDGE_KEYS = ['JUDGE_URL', 'JUDGE_MODEL', 'JUDGE_API_KEY', 'JUDGE_RUBRIC', 'JUDGE_THRESHOLDS'] as const;

/**
 * Reads and validates JUDGES_FILE: a JSON array of at least one judge, no two with the same
 * rubric and model (they would write one judge version). Errors name the file, the entry and the field.
 */
export function readJudgesFile(file: string): JudgeEntry[] {
  const at = (why: string) => new ConfigError(`JUDGES_FILE=${file}: ${why}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw at(`cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw at(`not JSON (${(err as Error).message})`);
  }
  const parsed = z.array(judgeEntrySchema).min(1, 'expected at least one judge').safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const [index, ...field] = issue.path;
    if (typeof index !== 'number') throw at(`expected a JSON array of judges: ${issue.message}`);
    throw at(`judge ${index}${field.length ? ` field ${field.join('.')}` : ''}: ${issue.message}`);
  }
  const seen = new Map<string, number>();
  parsed.data.forEach((j, i) => {
    const key = `${j.rubric}\n${j.model}`;
    if (seen.has(key)) throw at(`judge ${i}: same rubric and model as judge ${seen.get(key)} (${j.rubric}, ${j.model})`);
    seen.set(key, i);
  });
  return parsed.data;
}

export interface Config {
  dataDir: string;
  blobDir: string;
  databaseUrl?: string;
  /** Where PGlite keeps its files when `databaseUrl` is unset. */
  pgliteDir: string;
  redisUrl?: string;
  inference: {
    urls: string[];
    model: string;
    timeoutMs: number;
    maxAttempts: number;
    gpuSlots: number;
    candidates: number;
    /** Bearer key: the built-in server requires it, the client sends it (INFERENCE_API_KEY). */
    apiKey?: string;
  };
  judge: {
    url?: string;
    model: string;
    apiKey?: string;
    rubric: 'viescore-v1' | 'nhr-v1' | 'imgedit-v1';
    /** Replaces the rubric's default thresholds when set (names: the rubric's scores or aggregates). */
    thresholds?: Record<string, number>;
    timeoutMs: number;
    maxAttempts: number;
    concurrency: number;
    imageLongSide: number;
    /** Whether candidates that failed a hard check are judged too (JUDGE_REJECTED). */
    judgeRejected: boolean;
    /** JUDGES_FILE: several judges, each candidate judged by every one (url and friends above then unset). */
    judges?: JudgeEntry[];
  };
  checks: { faceIoUThreshold: number; faceExemptCategories: string[]; faceSearch: 'fine' | 'fast'; faceUncertain: 'pass' | 'fail'; changePixelThreshold: number; maxImagePixels: number; concurrency: number;
    /** The grid-artifact check: on (fails rejects), record (stored, never rejects), off (not run). */
    artifactMode: 'on' | 'off' | 'record';
  };
  selection: {
    dpoMinMargin: number;
    dpoMaxPairs: number;
    dpoMaxUses: number;
    loserMayFailChecks: boolean;
    reviewAcceptOverridesThresholds: boolean;
    /** scalar-v1: weights of the canonical axes, normalised to sum 1 (PAIR_WEIGHTS). */
    pairWeights: { instruction: number; preservation: number; quality: number };
    /** scalar-v1: least scalar gap between chosen and rejected, 0–10 (PAIR_MIN_GAP). */
    pairMinGap: number;
    /** Rule versions the select stage and a plain `select` run, in order (SELECT_RULES). */
    rules: SelectionRuleVersion[];
  };
  dashboard: { token?: string; port: number };
  /** BullMQ: key prefix (several deployments can share one Redis) and job lock duration (ms). */
  queue: { prefix: string; lockMs: number };
  /** What a worker process runs besides its queues: /metrics on metricsPort (0: off), reconcile every reconcileEveryMs (0: off). */
  worker: { metricsPort: number; reconcileEveryMs: number };
  /** Sources whose perceptual hashes differ in at most `distance` bits share a group (and a split). */
  nearDup: { distance: number };
}

/** Parses `env` (default: process.env). Throws ConfigError `KEY=value: why` on the first bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '?');
    const value = key === 'DATABASE_URL' || key === 'REDIS_URL' ? maskUrl(env[key] ?? '') : (env[key] ?? '');
    throw new ConfigError(`${key}=${value}: ${issue.message}`);
  }
  const e = parsed.data;
  let judges: JudgeEntry[] | undefined;
  if (e.JUDGES_FILE) {
    const both = SINGLE_JUDGE_KEYS.find((k) => env[k] !== undefined && env[k] !== '');
    if (both) throw new ConfigError(`${both}=${env[both]}: not used with JUDGES_FILE=${e.JUDGES_FILE} (describe every judge in the file)`);
    judges = readJudgesFile(e.JUDGES_FILE);
  }
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    dataDir,
    blobDir: path.join(dataDir, 'blobs'),
    databaseUrl: e.DATABASE_URL,
    pgliteDir: path.join(dataDir, 'pg'),
    redisUrl: e.REDIS_URL,
    inference: {
      urls: e.INFERENCE_URL,
      model: e.INFERENCE_MODEL,
      timeoutMs: e.INFERENCE_TIMEOUT_MS,
      maxAttempts: e.INFERENCE_MAX_ATTEMPTS,
      gpuSlots: e.GPU_SLOTS,
      candidates: e.CANDIDATES,
      apiKey: e.INFERENCE_API_KEY,
    },
    judge: {
      url: e.JUDGE_URL,
      model: e.JUDGE_URL ? e.JUDGE_MODEL : 'builtin-metric-v1',
      apiKey: e.JUDGE_API_KEY,
      rubric: e.JUDGE_RUBRIC,
      thresholds: e.JUDGE_THRESHOLDS,
      timeoutMs: e.JUDGE_TIMEOUT_MS,
      maxAttempts: e.JUDGE_MAX_ATTEMPTS,
      concurrency: e.JUDGE_CONCURRENCY,
      imageLongSide: e.JUDGE_IMAGE_LONG_SIDE,
      judgeRejected: e.JUDGE_REJECTED,
      ...(judges ? { judges } : {}),
    },
    checks: {
      faceIoUThreshold: e.FACE_IOU_THRESHOLD,
      faceExemptCategories: e.FACE_EXEMPT_CATEGORIES,
      faceSearch: e.FACE_SEARCH,
      faceUncertain: e.FACE_UNCERTAIN,
      changePixelThreshold: e.CHANGE_PIXEL_THRESHOLD,
      artifactMode: e.ARTIFACT_CHECK,
      maxImagePixels: e.MAX_IMAGE_PIXELS,
      concurrency: e.CHECK_CONCURRENCY,
    },
    selection: {
      dpoMinMargin: e.DPO_MIN_MARGIN,
      dpoMaxPairs: e.DPO_MAX_PAIRS,
      dpoMaxUses: e.DPO_MAX_USES,
      loserMayFailChecks: e.DPO_LOSER_MAY_FAIL_CHECKS,
      reviewAcceptOverridesThresholds: e.REVIEW_ACCEPT_OVERRIDES_THRESHOLDS,
      pairWeights: normaliseWeights(e.PAIR_WEIGHTS),
      pairMinGap: e.PAIR_MIN_GAP,
      rules: e.SELECT_RULES,
    },
    dashboard: { token: e.DASHBOARD_TOKEN, port: e.PORT },
    queue: { prefix: e.QUEUE_PREFIX, lockMs: e.QUEUE_LOCK_MS },
    worker: { metricsPort: e.METRICS_PORT, reconcileEveryMs: e.RECONCILE_EVERY },
    nearDup: { distance: e.NEAR_DUP_DISTANCE },
  };
}
