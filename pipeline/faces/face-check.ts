/**
 * The face IoU rule (VIBE): every face in the source must still be where it was in the edit,
 * IoU ≥ threshold (0.9 by default) under an optimal one-to-one matching. Extra faces in the edit
 * are recorded, not failed. Pure: takes detections, returns the verdict with its evidence.
 */
import { DETECTOR_VERSION, type Face } from './blazeface.ts';
import type { FaceTransform, Registration } from './register.ts';

/**
 * Version of this rule; stored with each result so a rule change is visible in the data. v2
 * measures each face by registration (detection only as the fallback) and knows `uncertain`
 * sources; `faceRuleVersion` adds how those are decided.
 */
export const FACE_RULE_VERSION = 'face-iou-registered-v2';

/** How an `uncertain` source (best candidate between the low and high detection score) is decided. */
export type FaceUncertain = 'pass' | 'fail';

/** The rule's version with its FACE_UNCERTAIN decision: two settings are two versions. */
export function faceRuleVersion(uncertain: FaceUncertain): string {
  return `${FACE_RULE_VERSION}/uncertain-${uncertain}`;
}

/** Registration NCC (whole region, and the face box alone) from which the transform found is the answer. */
export const REGISTERED_NCC = 0.85;
export const REGISTERED_INNER_NCC = 0.8;
/** Face-box NCC from which a registered face stands without a detector confirmation (a face too small to detect after a downscale). */
export const UNCONFIRMED_INNER_NCC = 0.9;
/** Face-box NCC below which the face at the best place is another one (painted out, replaced): the face is not kept. */
export const CHANGED_INNER_NCC = 0.65;

export interface FaceMatch {
  /** Index into the source faces. */
  source: number;
  /** Index into the edit faces, or null when no edit face overlaps it at all. */
  edit: number | null;
  iou: number;
  /**
   * How the IoU was measured: 'registration' (the source box moved by the transform found in
   * the edit) or 'detector' (an independent detection in the edit; the fallback).
   */
  method?: 'registration' | 'detector';
  /** registration: the NCC of the region at the transform found; detector: the edit face's score. */
  confidence?: number;
  /** The transform found (source px about the box centre), null for the detector. */
  transform?: FaceTransform | null;
  /** NCC of the face box alone at the transform found (registration only). */
  faceNcc?: number;
  /** The face there is not this one any more (painted out or replaced): IoU 0. */
  changed?: boolean;
}

export interface FaceCheckResult {
  status: 'pass' | 'fail' | 'no_faces' | 'uncertain';
  /** Smallest IoU over source faces (0 for an unmatched one); null when the source has none. */
  minIoU: number | null;
  threshold: number;
  matches: FaceMatch[];
  /** Edit faces matched to no source face (0 when the edit was not searched). */
  extraEditFaces: number;
  /**
   * Whether the edit was searched for faces. It is not when its detections could not change the
   * verdict: no source face, or every source face settled by registration alone (`standing` or
   * `changed`); the edit's face list is then empty. Absent: searched (rows before this field).
   */
  editSearched?: boolean;
  /** The edit's faces mapped into source pixel coordinates. */
  editFacesInSourceCoords: Face[];
  detectorVersion: string;
  ruleVersion: string;
  /** With no face in the source: its best candidate (score between the low and high detection score). */
  uncertainFace?: { box: Box; score: number };
}

type Box = [number, number, number, number];

/** IoU of two [x, y, w, h] boxes. */
export function boxIoU(a: Box, b: Box): number {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inner = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a[2] * a[3] + b[2] * b[3] - inner;
  return union > 0 ? inner / union : 0;
}

/** Maps a face from an image of `from` size into one of `to` size (the editor rescales the whole frame). */
export function mapFace(f: Face, from: { width: number; height: number }, to: { width: number; height: number }): Face {
  const sx = to.width / from.width;
  const sy = to.height / from.height;
  return {
    box: [f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy],
    score: f.score,
    keypoints: f.keypoints.map(([x, y]) => [x * sx, y * sy] as [number, number]),
  };
}

/**
 * Optimal assignment maximising total IoU (Hungarian algorithm, O(n²m)). `w[i][j]` ≥ 0 is the
 * gain of pairing row i with column j; returns for each row its column or -1.
 */
export function maxWeightAssignment(w: number[][]): number[] {
  const n = w.length;
  const m = n === 0 ? 0 : w[0]!.length;
  if (n === 0) return [];
  // Square the problem (pad with zero gain) and minimise cost = max − gain.
  const size = Math.max(n, m);
  let max = 0;
  for (const row of w) for (const v of row) max = Math.max(max, v);
  const cost = (i: number, j: number) => max - (i < n && j < m ? w[i]![j]! : 0);
  const u = new Float64Array(size + 1);
  const v = new Float64Array(size + 1);
  const p = new Int32Array(size + 1); // p[j]: row assigned to column j (1-based)
  const way = new Int32Array(size + 1);
  for (let i = 1; i <= size; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(size + 1).fill(Infinity);
    const used = new Uint8Array(size + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= size; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= size; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0);
  }
  const out = new Array<number>(n).fill(-1);
  for (let j = 1; j <= size; j++) {
    const i = p[j]! - 1;
    if (i >= 0 && i < n && j - 1 < m) out[i] = j - 1;
  }
  return out;
}

/**
 * Runs the face rule. Edit faces are first mapped into source pixels (sizes are the decoded,
 * EXIF-oriented sizes). `threshold` is the minimum IoU per source face.
 */
export function faceCheck(
  sourceFaces: Face[],
  editFaces: Face[],
  sourceSize: { width: number; height: number },
  editSize: { width: number; height: number },
  opts: { threshold: number; detectorVersion?: string },
): FaceCheckResult {
  const mapped = editFaces.map((f) => mapFace(f, editSize, sourceSize));
  const gains = sourceFaces.map((s) => mapped.map((e) => boxIoU(s.box, e.box)));
  const assigned = maxWeightAssignment(gains);
  const matches: FaceMatch[] = sourceFaces.map((_, i) => {
    const j = assigned[i]!;
    const iou = j >= 0 ? gains[i]![j]! : 0;
    return { source: i, edit: j >= 0 && iou > 0 ? j : null, iou };
  });
  const matchedEdits = new Set(matches.flatMap((m) => (m.edit === null ? [] : [m.edit])));
  const minIoU = matches.length ? Math.min(...matches.map((m) => m.iou)) : null;
  return {
    status: minIoU === null ? 'no_faces' : minIoU >= opts.threshold ? 'pass' : 'fail',
    minIoU,
    threshold: opts.threshold,
    matches,
    extraEditFaces: mapped.length - matchedEdits.size,
    editFacesInSourceCoords: mapped,
    detectorVersion: opts.detectorVersion ?? DETECTOR_VERSION,
    ruleVersion: FACE_RULE_VERSION,
  };
}

export interface RegisteredRuleOptions {
  threshold: number;
  detectorVersion?: string;
  uncertain: FaceUncertain;
  /** The source's best candidate when it has no face (the source is then `uncertain`). */
  uncertainFace?: { box: Box; score: number } | null;
  /** Whether the edit was searched for faces (false: `editFaces` is empty because nobody looked). */
  editSearched?: boolean;
}

/**
 * What one face's registration settles without the edit's detections: `standing`, registered
 * with a face box that correlates enough to stand unconfirmed; `changed`, the face at the best
 * place is another one (IoU 0); `confirm`, registered, and kept only when an edit detection
 * overlaps the transformed box; `fallback`, measured by detection-only matching.
 */
export function registrationKind(r: Registration | null): 'standing' | 'confirm' | 'changed' | 'fallback' {
  if (!r) return 'fallback';
  if (r.ncc >= REGISTERED_NCC && r.innerNcc >= REGISTERED_INNER_NCC) return r.innerNcc >= UNCONFIRMED_INNER_NCC ? 'standing' : 'confirm';
  return r.innerNcc < CHANGED_INNER_NCC ? 'changed' : 'fallback';
}

/**
 * Whether the edit's detections can change the verdict of `faceCheckRegistered`: only when some
 * face needs a confirmation or the fallback. When every face is `standing` or `changed`, each
 * face's IoU is the registration's whatever the edit's detections are, so the edit need not be
 * searched (the detections would only be recorded).
 */
export function editDetectionsMatter(regs: (Registration | null)[]): boolean {
  return regs.some((r) => {
    const k = registrationKind(r);
    return k === 'confirm' || k === 'fallback';
  });
}

/**
 * The face rule v2. Per source face, its registration in the edit (`regs[i]`, null: none) decides
 * when confident: the IoU of the source box and its transformed box, confirmed by an edit
 * detection over the transformed box (or a face-box NCC high enough to stand alone). A face
 * whose box no longer correlates with the source (painted out, replaced) is not kept. Otherwise
 * the detection-only rule (optimal one-to-one matching by IoU) measures it. Status `uncertain`:
 * no source face, but a candidate between the low and high detection score (FACE_UNCERTAIN
 * decides whether it passes; the status itself is recorded either way).
 */
export function faceCheckRegistered(
  sourceFaces: Face[],
  editFaces: Face[],
  regs: (Registration | null)[],
  sourceSize: { width: number; height: number },
  editSize: { width: number; height: number },
  opts: RegisteredRuleOptions,
): FaceCheckResult {
  const mapped = editFaces.map((f) => mapFace(f, editSize, sourceSize));
  const used = new Set<number>();
  const matches: (FaceMatch | undefined)[] = sourceFaces.map(() => undefined);
  sourceFaces.forEach((s, i) => {
    const r = regs[i];
    const kind = registrationKind(r ?? null);
    if (!r || kind === 'fallback') return;
    const transform = { tx: round(r.transform.tx, 3), ty: round(r.transform.ty, 3), s: round(r.transform.s, 5) };
    if (kind === 'standing' || kind === 'confirm') {
      let j = -1;
      let best = 0.5; // a detection confirms when it overlaps the transformed box this much
      mapped.forEach((e, k) => {
        const v = boxIoU(r.box, e.box);
        if (!used.has(k) && v >= best) [best, j] = [v, k];
      });
      if (j >= 0 || r.innerNcc >= UNCONFIRMED_INNER_NCC) {
        if (j >= 0) used.add(j);
        matches[i] = { source: i, edit: j >= 0 ? j : null, iou: boxIoU(s.box, r.box), method: 'registration', confidence: round(r.ncc, 4), transform, faceNcc: round(r.innerNcc, 4) };
      }
    } else {
      matches[i] = { source: i, edit: null, iou: 0, method: 'registration', confidence: round(r.ncc, 4), transform, faceNcc: round(r.innerNcc, 4), changed: true };
    }
  });
  // The fallback: detection-only matching of the faces registration did not settle, on the edit faces left.
  const rest = sourceFaces.flatMap((_, i) => (matches[i] ? [] : [i]));
  const free = mapped.flatMap((_, k) => (used.has(k) ? [] : [k]));
  const gains = rest.map((i) => free.map((k) => boxIoU(sourceFaces[i]!.box, mapped[k]!.box)));
  maxWeightAssignment(gains).forEach((a, r) => {
    const i = rest[r]!;
    const k = a >= 0 ? free[a]! : -1;
    const iou = k >= 0 ? gains[r]![a]! : 0;
    matches[i] = { source: i, edit: k >= 0 && iou > 0 ? k : null, iou, method: 'detector', confidence: k >= 0 && iou > 0 ? round(mapped[k]!.score, 4) : 0, transform: null };
  });
  const all = matches as FaceMatch[];
  const matchedEdits = new Set(all.flatMap((m) => (m.edit === null ? [] : [m.edit])));
  const minIoU = all.length ? Math.min(...all.map((m) => m.iou)) : null;
  const uncertainFace = minIoU === null && opts.uncertainFace ? opts.uncertainFace : undefined;
  return {
    status: minIoU === null ? (uncertainFace ? 'uncertain' : 'no_faces') : minIoU >= opts.threshold ? 'pass' : 'fail',
    minIoU,
    threshold: opts.threshold,
    matches: all,
    extraEditFaces: mapped.length - matchedEdits.size,
    editFacesInSourceCoords: mapped,
    detectorVersion: opts.detectorVersion ?? DETECTOR_VERSION,
    ruleVersion: faceRuleVersion(opts.uncertain),
    editSearched: opts.editSearched ?? true,
    ...(uncertainFace ? { uncertainFace } : {}),
  };
}

/** Whether a face verdict fails the candidate: `fail`, or `uncertain` when FACE_UNCERTAIN=fail. */
export function faceVerdictFails(status: FaceCheckResult['status'], uncertain: FaceUncertain): boolean {
  return status === 'fail' || (status === 'uncertain' && uncertain === 'fail');
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;
