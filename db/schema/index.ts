/**
 * The ledger. Every stage outcome is a row; a stage is done when its row exists. Unique keys
 * make every stage idempotent: a retried job inserts with ON CONFLICT DO NOTHING and finds
 * the row that is already there.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();

/** Source images, stored once per content hash. */
export const sources = pgTable('sources', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  sha256: text('sha256').notNull().unique(),
  blob: text('blob').notNull(), // path relative to the blob root
  width: integer('width').notNull(),
  height: integer('height').notNull(),
  format: text('format').notNull(),
  bytes: integer('bytes').notNull(),
  origin: text('origin').notNull(), // the manifest's image field (path or URL)
  createdAt: createdAt(),
  /** 64-bit DCT perceptual hash (pipeline/near-dup/phash.ts), as a signed bigint; null before it was computed. */
  phash: bigint('phash', { mode: 'bigint' }),
  /** Banded LSH keys of `phash` for NEAR_DUP_DISTANCE (pipeline/near-dup/bands.ts), GIN-indexed. */
  phashBands: integer('phash_bands').array(),
  /** The near-duplicate group: the smallest sha256 among its members (its own for a lone source); null until grouped. */
  nearDupGroup: text('near_dup_group'),
}, (t) => [
  index('sources_phash_bands_idx').using('gin', t.phashBands),
  index('sources_near_dup_group_idx').on(t.nearDupGroup),
]);

/** One (source, instruction) edit request. Unique per (source, instruction, model). */
export const requests = pgTable(
  'requests',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sourceId: bigint('source_id', { mode: 'number' }).notNull().references(() => sources.id),
    instruction: text('instruction').notNull(),
    category: text('category').notNull().default(''),
    candidatesWanted: integer('candidates_wanted').notNull(),
    model: text('model').notNull(),
    baseSeed: integer('base_seed').notNull(),
    /** pending → generated → settled → selected; or failed. */
    status: text('status').notNull().default('pending'),
    createdAt: createdAt(),
    generatedAt: timestamp('generated_at', { withTimezone: true, mode: 'date' }),
    settledAt: timestamp('settled_at', { withTimezone: true, mode: 'date' }),
    selectedAt: timestamp('selected_at', { withTimezone: true, mode: 'date' }),
    /** Last human review of one of its candidates or pairs: a review after selected_at makes it due again. */
    reviewedAt: timestamp('reviewed_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    uniqueIndex('requests_source_instruction_model_key').on(t.sourceId, t.instruction, t.model),
    index('requests_status_idx').on(t.status, t.id),
    index('requests_category_idx').on(t.category),
    index('requests_settled_idx').on(t.settledAt),
  ],
);

/** One generated edit. Unique per (request, seed): a retried generate job is a no-op. */
export const candidates = pgTable(
  'candidates',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    requestId: bigint('request_id', { mode: 'number' }).notNull().references(() => requests.id),
    seed: integer('seed').notNull(),
    sha256: text('sha256').notNull(),
    blob: text('blob').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    generator: text('generator').notNull(), // model name @ server URL
    generatorMeta: jsonb('generator_meta').$type<Record<string, unknown>>(),
    latencyMs: integer('latency_ms').notNull(),
    /** generated → checked → judged; or rejected (failed a hard check) / failed (gave up). */
    status: text('status').notNull().default('generated'),
    generatedAt: timestamp('generated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    checkedAt: timestamp('checked_at', { withTimezone: true, mode: 'date' }),
    judgedAt: timestamp('judged_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    uniqueIndex('candidates_request_seed_key').on(t.requestId, t.seed),
    index('candidates_status_idx').on(t.status, t.id),
  ],
);

/** Hard-check results, one row per candidate and rule version. */
export const checks = pgTable(
  'checks',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    candidateId: bigint('candidate_id', { mode: 'number' }).notNull().references(() => candidates.id),
    ruleVersion: text('rule_version').notNull(),
    faceStatus: text('face_status').notNull(), // pass | fail | no_faces | uncertain | exempt
    faceMinIou: real('face_min_iou'),
    faceThreshold: real('face_threshold').notNull(),
    faceCount: integer('face_count').notNull(),
    faces: jsonb('faces').notNull(), // {source: boxes, edit: boxes (source px), matches: per-face IoU}
    detectorVersion: text('detector_version').notNull(),
    changeStatus: text('change_status').notNull(), // pass | no_change | noise_only
    changedFraction: real('changed_fraction').notNull(),
    largestComponentShare: real('largest_component_share').notNull(),
    change: jsonb('change').notNull(),
    artifactStatus: text('artifact_status'), // pass | fail | off; null: checked before the artifact rule
    artifact: jsonb('artifact'), // {status, score, period, pattern, region, editPeak, sourcePeak, threshold, mode, enforced}
    passed: boolean('passed').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('checks_candidate_rule_key').on(t.candidateId, t.ruleVersion),
    index('checks_face_iou_idx').on(t.faceMinIou),
    // A candidate's newest check in one index-only probe (selection reads it per candidate):
    // `passed` is a trailing key column because drizzle has no INCLUDE.
    index('checks_candidate_latest_idx').on(t.candidateId, t.id.desc().nullsFirst(), t.passed),
    // A candidate's check of one check version in one index-only probe (selection reads the current version's).
    index('checks_candidate_version_idx').on(t.candidateId, t.ruleVersion, t.passed),
  ],
);

/**
 * A source's faces, searched once per detector version (models, passes, search mode): the K
 * edits of a request and any recheck read them instead of searching the source again.
 */
export const sourceFaces = pgTable(
  'source_faces',
  {
    sourceId: bigint('source_id', { mode: 'number' }).notNull().references(() => sources.id),
    detectorVersion: text('detector_version').notNull(),
    faces: jsonb('faces').notNull(), // [{box, score, keypoints, crop?}], source px
    uncertainFace: jsonb('uncertain_face'), // {box, score} when no face but a candidate between the low and high score
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.sourceId, t.detectorVersion] })],
);

/** Judge results. A failed judgment keeps its raw reply and has no scores. */
export const judgments = pgTable(
  'judgments',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    candidateId: bigint('candidate_id', { mode: 'number' }).notNull().references(() => candidates.id),
    judgeModel: text('judge_model').notNull(),
    rubric: text('rubric').notNull(),
    promptHash: text('prompt_hash').notNull(),
    ok: boolean('ok').notNull(),
    error: text('error'),
    rawScores: jsonb('raw_scores').$type<Record<string, number>>(),
    /** The rubric's axes in the rubric's fixed order: what dominance and the geometric mean use. */
    scores: real('scores').array(),
    axisInstruction: real('axis_instruction'),
    axisPreservation: real('axis_preservation'),
    axisQuality: real('axis_quality'),
    aggregate: jsonb('aggregate').$type<Record<string, number | boolean>>(),
    passesThresholds: boolean('passes_thresholds'),
    rawReply: text('raw_reply'),
    attempts: integer('attempts').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    /**
     * Set when `retry-failed --stage judge` asked again: the row stays as history and a newer
     * attempt of the same judge version becomes current. Only failed (ok = false) rows are superseded.
     */
    supersededAt: timestamp('superseded_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    // One current judgment per candidate and judge version (rubric, judge model, prompt hash).
    uniqueIndex('judgments_candidate_version_key')
      .on(t.candidateId, t.rubric, t.judgeModel, t.promptHash)
      .where(sql`superseded_at IS NULL`),
    index('judgments_rubric_idx').on(t.rubric, t.candidateId),
    // A candidate's judgment of one judge version in one probe (selection and browse read it per
    // candidate); the trailing key columns stand in for INCLUDE.
    index('judgments_candidate_version_idx').on(t.candidateId, t.rubric, t.judgeModel, t.promptHash, t.id.desc().nullsFirst(), t.ok, t.scores),
  ],
);

/** Human decisions; the newest per subject wins. Kept as an audit trail (before/after). */
export const reviews = pgTable(
  'reviews',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    candidateId: bigint('candidate_id', { mode: 'number' }).references(() => candidates.id),
    pairId: bigint('pair_id', { mode: 'number' }).references(() => pairs.id),
    reviewer: text('reviewer').notNull(),
    verdict: text('verdict').notNull(), // accept | reject | flag
    note: text('note').notNull().default(''),
    before: jsonb('before'),
    after: jsonb('after'),
    createdAt: createdAt(),
  },
  (t) => [index('reviews_candidate_idx').on(t.candidateId, t.id), index('reviews_pair_idx').on(t.pairId, t.id)],
);

/**
 * The SFT pick per request and rule version (candidate null: nothing qualified). Derived data,
 * recomputable from the ledger: request_id and candidate_id carry no foreign keys (their checks
 * were a quarter of selection's time); selection writes only ids it just read.
 */
export const selections = pgTable(
  'selections',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    requestId: bigint('request_id', { mode: 'number' }).notNull(),
    candidateId: bigint('candidate_id', { mode: 'number' }),
    ruleVersion: text('rule_version').notNull(),
    /** The judge version whose judgments it read: rubric, judge model, prompt hash. */
    rubric: text('rubric').notNull(),
    judgeModel: text('judge_model').notNull().default(''),
    promptHash: text('prompt_hash').notNull().default(''),
    /** The rule parameters in force, thresholds and check version included. */
    params: jsonb('params').notNull(),
    score: doublePrecision('score'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('selections_request_version_key').on(t.requestId, t.ruleVersion, t.rubric, t.judgeModel, t.promptHash)],
);

/** Strict-dominance DPO pairs. Derived data like selections: no foreign keys on its ids. */
export const pairs = pgTable(
  'pairs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    requestId: bigint('request_id', { mode: 'number' }).notNull(),
    chosenId: bigint('chosen_id', { mode: 'number' }).notNull(),
    rejectedId: bigint('rejected_id', { mode: 'number' }).notNull(),
    ruleVersion: text('rule_version').notNull(),
    rubric: text('rubric').notNull(),
    judgeModel: text('judge_model').notNull().default(''),
    promptHash: text('prompt_hash').notNull().default(''),
    params: jsonb('params').notNull(),
    margins: real('margins').array().notNull(),
    totalMargin: doublePrecision('total_margin').notNull(),
    rank: integer('rank').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('pairs_chosen_rejected_version_key').on(t.chosenId, t.rejectedId, t.ruleVersion, t.rubric, t.judgeModel, t.promptHash),
    index('pairs_request_idx').on(t.requestId),
  ],
);

/** One export run. */
export const exports = pgTable(
  'exports',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    name: text('name').notNull(),
    kind: text('kind').notNull(), // sft | dpo
    format: text('format').notNull(), // webdataset | parquet
    outDir: text('out_dir').notNull(),
    params: jsonb('params').notNull(),
    status: text('status').notNull().default('running'), // running | done | failed
    samples: integer('samples').notNull().default(0),
    bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
    manifestSha256: text('manifest_sha256'),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [uniqueIndex('exports_out_dir_key').on(t.outDir)],
);

export const exportShards = pgTable(
  'export_shards',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    exportId: bigint('export_id', { mode: 'number' }).notNull().references(() => exports.id, { onDelete: 'cascade' }),
    path: text('path').notNull(),
    split: text('split').notNull(),
    samples: integer('samples').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('export_shards_export_path_key').on(t.exportId, t.path)],
);

/** A stage that gave up (bad input, or retries exhausted). `subject` is e.g. `candidate:42`. */
export const failures = pgTable(
  'failures',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    stage: text('stage').notNull(), // enqueue | generate | check | judge | select | export
    subject: text('subject').notNull(),
    requestId: bigint('request_id', { mode: 'number' }).references(() => requests.id),
    candidateId: bigint('candidate_id', { mode: 'number' }).references(() => candidates.id),
    attempts: integer('attempts').notNull(),
    error: text('error').notNull(),
    final: boolean('final').notNull().default(true),
    resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('failures_stage_subject_open_key').on(t.stage, t.subject).where(sql`resolved_at IS NULL`),
    index('failures_stage_idx').on(t.stage),
  ],
);

/**
 * Faces a reviewer's browser found (MediaPipe FaceDetector in the request view), per image and
 * model version, and whether they disagree with the server's (a face on one side only, or a
 * matched pair under IoU 0.8). Boxes in source pixels. A re-run of the same model replaces its row.
 */
export const browserFaces = pgTable(
  'browser_faces',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    imageKind: text('image_kind').notNull(), // source | candidate
    imageId: bigint('image_id', { mode: 'number' }).notNull(),
    model: text('model').notNull(),
    modelVersion: text('model_version').notNull(),
    faces: jsonb('faces').notNull(), // [{box: [x, y, w, h], score}]
    faceCount: integer('face_count').notNull(),
    serverFaceCount: integer('server_face_count').notNull(),
    disagrees: boolean('disagrees').notNull(),
    comparison: jsonb('comparison').notNull(), // {matches: [{server, browser, iou}], serverOnly: [i], browserOnly: [j], threshold}
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('browser_faces_image_model_key').on(t.imageKind, t.imageId, t.modelVersion),
    index('browser_faces_disagrees_idx').on(t.imageKind, t.imageId).where(sql`disagrees`),
  ],
);
