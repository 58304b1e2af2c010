/**
 * BlazeFace output decoding and weighted non-maximum suppression, pure functions over the raw
 * model outputs. Coordinates here are normalised to the model input square (0–1).
 */

/** A detection in normalised input coordinates (or, after mapping, in image pixels). */
export interface RawDetection {
  /** Centre x, centre y, width, height. */
  cx: number;
  cy: number;
  w: number;
  h: number;
  score: number;
  /** 6 keypoints, interleaved x, y. */
  keypoints: number[];
}

const CLIP = 100; // raw logits are clipped to ±100 before the sigmoid, as MediaPipe does

/**
 * Decodes one output head. `scores` has one logit per anchor, `boxes` 16 values per anchor
 * (x, y, w, h offsets and 6 keypoints, in input pixels); `anchors` from `anchorCentres`.
 */
export function decodeHead(
  scores: Float32Array,
  boxes: Float32Array,
  anchors: Float32Array,
  inputSize: number,
  minScore: number,
  out: RawDetection[] = [],
): RawDetection[] {
  const minLogit = Math.log(minScore / (1 - minScore));
  const inv = 1 / inputSize;
  for (let i = 0; i < scores.length; i++) {
    const logit = Math.max(-CLIP, Math.min(CLIP, scores[i]!));
    if (logit < minLogit) continue;
    const ax = anchors[2 * i]!;
    const ay = anchors[2 * i + 1]!;
    const b = i * 16;
    const keypoints: number[] = new Array(12);
    for (let k = 0; k < 6; k++) {
      keypoints[2 * k] = ax + boxes[b + 4 + 2 * k]! * inv;
      keypoints[2 * k + 1] = ay + boxes[b + 5 + 2 * k]! * inv;
    }
    out.push({
      cx: ax + boxes[b]! * inv,
      cy: ay + boxes[b + 1]! * inv,
      w: boxes[b + 2]! * inv,
      h: boxes[b + 3]! * inv,
      score: 1 / (1 + Math.exp(-logit)),
      keypoints,
    });
  }
  return out;
}

/** IoU of two centre-size boxes. */
export function iouCentre(a: RawDetection, b: RawDetection): number {
  const x0 = Math.max(a.cx - a.w / 2, b.cx - b.w / 2);
  const y0 = Math.max(a.cy - a.h / 2, b.cy - b.h / 2);
  const x1 = Math.min(a.cx + a.w / 2, b.cx + b.w / 2);
  const y1 = Math.min(a.cy + a.h / 2, b.cy + b.h / 2);
  const inner = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.w * a.h + b.w * b.h - inner;
  return union > 0 ? inner / union : 0;
}

/**
 * MediaPipe's weighted NMS: take the highest-scoring detection, blend every remaining detection
 * overlapping it by IoU ≥ `iouThreshold` (score-weighted mean of box and keypoints), keep the
 * cluster's best score; repeat. Deterministic for a given input order.
 */
export function weightedNms(dets: RawDetection[], iouThreshold = 0.3): RawDetection[] {
  const rest = [...dets].sort((a, b) => b.score - a.score);
  const kept: RawDetection[] = [];
  while (rest.length) {
    const top = rest[0]!;
    const cluster: RawDetection[] = [];
    const left: RawDetection[] = [];
    for (const d of rest) (iouCentre(top, d) >= iouThreshold ? cluster : left).push(d);
    let sw = 0;
    const acc = { cx: 0, cy: 0, w: 0, h: 0, kp: new Float64Array(12) };
    for (const d of cluster) {
      sw += d.score;
      acc.cx += d.cx * d.score;
      acc.cy += d.cy * d.score;
      acc.w += d.w * d.score;
      acc.h += d.h * d.score;
      for (let k = 0; k < 12; k++) acc.kp[k] = acc.kp[k]! + d.keypoints[k]! * d.score;
    }
    kept.push({
      cx: acc.cx / sw,
      cy: acc.cy / sw,
      w: acc.w / sw,
      h: acc.h / sw,
      score: top.score,
      keypoints: Array.from(acc.kp, (v) => v / sw),
    });
    rest.length = 0;
    rest.push(...left);
  }
  return kept;
}
