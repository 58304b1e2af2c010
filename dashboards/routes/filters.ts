/**
 * The browse filter as it arrives in a query string (or a bulk-action body), validated with zod
 * into a typed BrowseFilter. Unknown values are refused with `field: why`, never passed on.
 */
import { z } from 'zod';
import type { BrowseFilter } from '../../db/repositories/browse.repository.ts';
import type { JudgeVersionKey } from '../../db/repositories/judge-version.sql.ts';

const CANDIDATE_STATUS = ['generated', 'checked', 'judged', 'rejected', 'failed'] as const;
const FACE_STATUS = ['pass', 'fail', 'no_faces', 'uncertain', 'exempt'] as const;
const CHANGE_STATUS = ['pass', 'no_change', 'noise_only'] as const;

const list = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v === '' ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean)) : v),
    z.array(z.enum(values)).max(values.length).optional(),
  );
const optNum = (min: number, max: number) =>
  z.preprocess((v) => (v === '' || v === undefined || v === null ? undefined : Number(v)), z.number().min(min).max(max).optional());
const optBool = z.preprocess(
  (v) => (v === 'true' || v === true ? true : v === 'false' || v === false ? false : v === '' ? undefined : v),
  z.boolean().optional(),
);
const optId = z.preprocess(
  (v) => (v === '' || v === undefined || v === null ? undefined : Number(v)),
  z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
);

/** The filter fields (query-string spelling). */
export const filterSchema = z.object({
  status: list(CANDIDATE_STATUS),
  face: list(FACE_STATUS),
  change: list(CHANGE_STATUS),
  passed: optBool,
  thresholds: optBool,
  category: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  instruction_min: optNum(0, 10),
  instruction_max: optNum(0, 10),
  preservation_min: optNum(0, 10),
  preservation_max: optNum(0, 10),
  quality_min: optNum(0, 10),
  quality_max: optNum(0, 10),
  iou_min: optNum(0, 1),
  iou_max: optNum(0, 1),
  reviewed: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['yes', 'no', 'accept', 'reject', 'flag']).optional()),
  request: optId,
  /** `disagrees`: the browser's face detector (MediaPipe) disagrees with the server's on the candidate or its source; `agrees`: the others. */
  browser: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['disagrees', 'agrees']).optional()),
  /** A source id: only candidates of sources in its near-duplicate group. */
  near_dups_of: optId,
});

export const pageSchema = z.object({
  cursor: optId,
  limit: z.preprocess((v) => (v === '' || v === undefined ? 50 : Number(v)), z.number().int().min(1).max(200)),
});

export type FilterInput = z.input<typeof filterSchema>;

/** A readable one-line message for the first problem of a failed parse: `field: why`. */
export function firstIssue(err: z.ZodError): string {
  const i = err.issues[0]!;
  return `${i.path.join('.') || 'input'}: ${i.message}`;
}

/** Converts the parsed query fields into the repository's filter. */
export function toBrowseFilter(f: z.output<typeof filterSchema>, judge: JudgeVersionKey): BrowseFilter {
  const axisMin: BrowseFilter['axisMin'] = {};
  const axisMax: BrowseFilter['axisMax'] = {};
  if (f.instruction_min !== undefined) axisMin.instruction = f.instruction_min;
  if (f.preservation_min !== undefined) axisMin.preservation = f.preservation_min;
  if (f.quality_min !== undefined) axisMin.quality = f.quality_min;
  if (f.instruction_max !== undefined) axisMax.instruction = f.instruction_max;
  if (f.preservation_max !== undefined) axisMax.preservation = f.preservation_max;
  if (f.quality_max !== undefined) axisMax.quality = f.quality_max;
  return {
    judge,
    status: f.status,
    faceStatus: f.face,
    changeStatus: f.change,
    checkPassed: f.passed,
    passesThresholds: f.thresholds,
    category: f.category === '' ? undefined : f.category,
    q: f.q?.trim() ? f.q.trim() : undefined,
    axisMin,
    axisMax,
    iouMin: f.iou_min,
    iouMax: f.iou_max,
    reviewed: f.reviewed,
    requestId: f.request,
    browserDisagrees: f.browser === undefined ? undefined : f.browser === 'disagrees',
    nearDupsOf: f.near_dups_of,
  };
}
