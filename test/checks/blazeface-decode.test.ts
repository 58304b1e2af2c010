/**
 * BlazeFace post-processing as pure functions: anchor layout, box and keypoint decoding from raw
 * outputs, sigmoid scores with clipping, and weighted NMS.
 */
import { describe, expect, it } from 'vitest';
import { anchorCentres, ANCHOR_COUNT, HEADS } from '../../pipeline/faces/anchors.ts';
import { decodeHead, iouCentre, weightedNms, type RawDetection } from '../../pipeline/faces/decode.ts';

const det = (cx: number, cy: number, w: number, score: number, k = 0): RawDetection => ({
  cx,
  cy,
  w,
  h: w,
  score,
  keypoints: Array.from({ length: 12 }, () => k),
});

describe('anchors', () => {
  it('16×16×2 then 8×8×6, centred in their cells, anchors of a cell adjacent', () => {
    expect(HEADS.map((h) => h.cells * h.cells * h.perCell)).toEqual([512, 384]);
    expect(ANCHOR_COUNT).toBe(896);
    const a = anchorCentres(16, 2);
    expect(a.length).toBe(1024);
    expect([a[0], a[1], a[2], a[3]]).toEqual([0.5 / 16, 0.5 / 16, 0.5 / 16, 0.5 / 16]); // cell (0,0), both anchors
    expect([a[4], a[5]]).toEqual([1.5 / 16, 0.5 / 16]); // next cell to the right
    const b = anchorCentres(8, 6);
    const last = b.length - 2;
    expect([b[last], b[last + 1]]).toEqual([7.5 / 8, 7.5 / 8]);
  });
});

describe('decodeHead', () => {
  it('decodes offsets in input pixels around the anchor centre, and keypoints likewise', () => {
    const S = 128;
    const anchors = anchorCentres(8, 6);
    const scores = new Float32Array(384).fill(-10);
    const boxes = new Float32Array(384 * 16);
    const i = (3 * 8 + 5) * 6 + 2; // cell x 5, y 3, third anchor
    scores[i] = 2; // sigmoid ≈ 0.881
    boxes.set([8, -4, 32, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], i * 16);
    const [d, ...rest] = decodeHead(scores, boxes, anchors, S, 0.5);
    expect(rest).toEqual([]);
    expect(d!.cx).toBeCloseTo(5.5 / 8 + 8 / S, 6);
    expect(d!.cy).toBeCloseTo(3.5 / 8 - 4 / S, 6);
    expect(d!.w).toBeCloseTo(32 / S, 6);
    expect(d!.h).toBeCloseTo(40 / S, 6);
    expect(d!.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 6);
    expect(d!.keypoints[0]).toBeCloseTo(5.5 / 8 + 1 / S, 6);
    expect(d!.keypoints[11]).toBeCloseTo(3.5 / 8 + 12 / S, 6);
  });

  it('applies the score floor and clips huge logits to ±100 (no Infinity, no NaN)', () => {
    const anchors = anchorCentres(16, 2);
    const scores = new Float32Array(512).fill(-1e9);
    scores[0] = 1e30;
    scores[1] = 0.1; // sigmoid 0.525 < 0.6
    const out = decodeHead(scores, new Float32Array(512 * 16), anchors, 256, 0.6);
    expect(out).toHaveLength(1);
    expect(out[0]!.score).toBe(1);
  });
});

describe('weightedNms', () => {
  it('blends overlapping detections by score and keeps the best score; separate faces stay apart', () => {
    const out = weightedNms([det(0.5, 0.5, 0.2, 0.9, 1), det(0.52, 0.5, 0.2, 0.6, 4), det(0.1, 0.1, 0.05, 0.8)], 0.3);
    expect(out).toHaveLength(2);
    const [a, b] = out;
    expect(a!.score).toBe(0.9);
    expect(a!.cx).toBeCloseTo((0.5 * 0.9 + 0.52 * 0.6) / 1.5, 9);
    expect(a!.keypoints[0]).toBeCloseTo((1 * 0.9 + 4 * 0.6) / 1.5, 9);
    expect(b!.cx).toBeCloseTo(0.1, 12);
  });

  it('does not merge boxes under the IoU threshold', () => {
    const x = det(0.5, 0.5, 0.2, 0.9);
    const y = det(0.5 + 0.2 * 0.6, 0.5, 0.2, 0.8); // IoU = 0.4/1.6 = 0.25
    expect(iouCentre(x, y)).toBeCloseTo(0.25, 9);
    expect(weightedNms([x, y], 0.3)).toHaveLength(2);
    expect(weightedNms([x, y], 0.2)).toHaveLength(1);
  });
});
