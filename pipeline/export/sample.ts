/**
 * One export sample: its key, split, member images (blob keys) and the `KEY.json` record.
 *
 * `KEY.json` has every field in every sample, never null, with stable types, because the
 * Hugging Face `webdataset` loader infers its schema from the first samples. Missing values use
 * sentinels: numbers `-1` (e.g. `face_check.min_iou` when the source has no faces, or when no
 * check row exists), strings `"none"` (e.g. `review` when nobody reviewed, `face_check.status`
 * when no check row exists). Raw rubric scores keep only finite numbers, keys sorted.
 */
import type { DpoRow, JudgedSide, SftRow } from '../../db/repositories/export.repository.ts';
import { splitOf, type Split } from './split.ts';

export interface MemberRef {
  /** Member suffix after the key: `src.jpg`, `edit.jpg`, `chosen.jpg`, `rejected.jpg`. */
  suffix: string;
  blobKey: string;
  sha256: string;
}

export interface SampleMeta {
  key: string;
  split: Split;
  sourceSha256: string;
  instruction: string;
  images: MemberRef[];
  /** The `KEY.json` text. */
  json: string;
}

export interface SampleContext {
  kind: 'sft' | 'dpo';
  rubric: string;
  valFraction: number;
}

const pad = (n: number, width: number) => (n < 0 ? `n${String(-n).padStart(width, '0')}` : String(n).padStart(width, '0'));

/** `r000000123_s0004`: request id and seed; no dots, sorts like (request, seed). */
export function sftKey(requestId: number, seed: number): string {
  return `r${pad(requestId, 9)}_s${pad(seed, 4)}`;
}

/** `r000000123_c0004_r0002`: request id, chosen seed, rejected seed. */
export function dpoKey(requestId: number, chosenSeed: number, rejectedSeed: number): string {
  return `r${pad(requestId, 9)}_c${pad(chosenSeed, 4)}_r${pad(rejectedSeed, 4)}`;
}

const num = (v: unknown): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : -1;
};
const str = (v: unknown): string => (typeof v === 'string' && v !== '' ? v : 'none');

function axes(j: JudgedSide): { instruction: number; preservation: number; quality: number } {
  return { instruction: num(j.axis_instruction), preservation: num(j.axis_preservation), quality: num(j.axis_quality) };
}

function rawScores(j: JudgedSide): Record<string, number> {
  const out: Record<string, number> = {};
  const raw = j.raw_scores ?? {};
  const keys = Object.keys(raw);
  // usually stored in order already: sort only when not (same result, less garbage)
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  if (!sorted) keys.sort();
  for (const k of keys) {
    const v = raw[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

function checks(r: SftRow | DpoRow) {
  return {
    face_check: {
      status: str(r.face_status),
      min_iou: num(r.face_min_iou),
      n_faces: num(r.face_count),
      threshold: num(r.face_threshold),
    },
    change_check: {
      status: str(r.change_status),
      changed_fraction: num(r.changed_fraction),
      largest_component_share: num(r.largest_component_share),
    },
  };
}

/** A sample's members: the source image first, then its edit(s), the instruction and the record. */
function sampleMeta(r: SftRow | DpoRow, key: string, split: Split, edits: MemberRef[], record: object): SampleMeta {
  return {
    key,
    split,
    sourceSha256: r.source_sha256,
    instruction: r.instruction,
    images: [{ suffix: 'src.jpg', blobKey: r.source_blob, sha256: r.source_sha256 }, ...edits],
    json: JSON.stringify(record),
  };
}

/** The sample of one SFT pick. */
export function sftSample(r: SftRow, ctx: SampleContext): SampleMeta {
  const key = sftKey(r.request_id, r.seed);
  const split = splitOf(r.near_dup_group, ctx.valFraction);
  const record = {
    key,
    kind: 'sft',
    split,
    request_id: r.request_id,
    instruction: r.instruction,
    category: r.category ?? '',
    source_sha256: r.source_sha256,
    near_dup_group: r.near_dup_group,
    source_width: r.source_width,
    source_height: r.source_height,
    rubric: ctx.rubric,
    rule_version: r.rule_version,
    judge_model: r.judge_model,
    judge_prompt_hash: str(r.prompt_hash),
    edit_sha256: r.edit_sha256,
    edit_width: r.edit_width,
    edit_height: r.edit_height,
    seed: r.seed,
    generator: r.generator,
    score: num(r.score),
    axes: axes(r),
    scores: rawScores(r),
    ...checks(r),
    review: str(r.review),
  };
  return sampleMeta(r, key, split, [{ suffix: 'edit.jpg', blobKey: r.edit_blob, sha256: r.edit_sha256 }], record);
}

/** The sample of one DPO pair. */
export function dpoSample(r: DpoRow, ctx: SampleContext): SampleMeta {
  const key = dpoKey(r.request_id, r.chosen_seed, r.rejected_seed);
  const split = splitOf(r.near_dup_group, ctx.valFraction);
  const record = {
    key,
    kind: 'dpo',
    split,
    request_id: r.request_id,
    pair_id: r.pair_id,
    instruction: r.instruction,
    category: r.category ?? '',
    source_sha256: r.source_sha256,
    near_dup_group: r.near_dup_group,
    source_width: r.source_width,
    source_height: r.source_height,
    rubric: ctx.rubric,
    rule_version: r.rule_version,
    judge_model: r.chosen.judge_model,
    judge_prompt_hash: str(r.chosen.prompt_hash),
    chosen_sha256: r.chosen_sha256,
    rejected_sha256: r.rejected_sha256,
    chosen_seed: r.chosen_seed,
    rejected_seed: r.rejected_seed,
    chosen_width: r.chosen_width,
    chosen_height: r.chosen_height,
    rejected_width: r.rejected_width,
    rejected_height: r.rejected_height,
    chosen_axes: axes(r.chosen),
    rejected_axes: axes(r.rejected),
    chosen_scores: rawScores(r.chosen),
    rejected_scores: rawScores(r.rejected),
    margins: (r.margins ?? []).map(num),
    total_margin: num(r.total_margin),
    rank: num(r.rank),
    ...checks(r),
    review: str(r.review),
  };
  const edits: MemberRef[] = [
    { suffix: 'chosen.jpg', blobKey: r.chosen_blob, sha256: r.chosen_sha256 },
    { suffix: 'rejected.jpg', blobKey: r.rejected_blob, sha256: r.rejected_sha256 },
  ];
  return sampleMeta(r, key, split, edits, record);
}
