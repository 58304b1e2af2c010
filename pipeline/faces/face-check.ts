/**
 * The face IoU rule (VIBE): every face in the source must still be where it was in the edit,
 * IoU ≥ threshold (0.9 by default) under an optimal one-to-one matching. Extra faces in the edit
 * are recorded, not failed. Pure: takes detections, returns the verdict with its evidence.
 */
import { DETECTOR_VERSION, type Face } from './blazeface.ts';

/** Version of this rule; stored with each result so a rule change is visible in the data. */
export const FACE_RULE_VERSION = 'face-iou-hungarian-v1';

export interface FaceMatch {
  /** Index into the source faces. */
  source: number;
  /** Index into the edit faces, or null when no edit face overlaps it at all. */
  edit: number | null;
  iou: number;
}

export interface FaceCheckResult {
  status: 'pass' | 'fail' | 'no_faces';
  /** Smallest IoU over source faces (0 for an unmatched one); null when the source has none. */
  minIoU: number | null;
  threshold: number;
  matches: FaceMatch[];
  /** Edit faces matched to no source face. */
  extraEditFaces: number;
  /** The edit's faces mapped into source pixel coordinates. */
  editFacesInSourceCoords: Face[];
  detectorVersion: string;
  ruleVersion: string;
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
