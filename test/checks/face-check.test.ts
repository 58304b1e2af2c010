/**
 * The face rule as a pure function: IoU, optimal one-to-one matching (checked against brute
 * force), mapping edit boxes into source pixels, and the pass / fail / no_faces verdicts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Face } from '../../pipeline/faces/blazeface.ts';
import { boxIoU, faceCheck, faceCheckRegistered, faceVerdictFails, FACE_RULE_VERSION, mapFace, maxWeightAssignment } from '../../pipeline/faces/face-check.ts';
import { transformBox, type Registration } from '../../pipeline/faces/register.ts';

const face = (x: number, y: number, w: number, h = w, score = 0.9): Face => ({
  box: [x, y, w, h],
  score,
  keypoints: [
    [x + w * 0.3, y + h * 0.4],
    [x + w * 0.7, y + h * 0.4],
  ],
});
const S = { width: 1000, height: 800 };

/** Best total gain over all one-to-one assignments, by enumeration. */
function bruteForceBest(w: number[][]): number {
  const n = w.length;
  const m = w[0]?.length ?? 0;
  const used = new Array<boolean>(m).fill(false);
  const go = (i: number): number => {
    if (i === n) return 0;
    let best = go(i + 1); // row i unassigned
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      best = Math.max(best, w[i]![j]! + go(i + 1));
      used[j] = false;
    }
    return best;
  };
  return go(0);
}

describe('boxIoU', () => {
  it('is 1 for the same box, 0 for disjoint boxes, and (w−d)/(w+d) for a horizontal shift d', () => {
    expect(boxIoU([10, 10, 100, 100], [10, 10, 100, 100])).toBe(1);
    expect(boxIoU([0, 0, 10, 10], [20, 0, 10, 10])).toBe(0);
    for (const d of [5, 20, 50]) expect(boxIoU([0, 0, 100, 100], [d, 0, 100, 100])).toBeCloseTo((100 - d) / (100 + d), 12);
  });
});

describe('maxWeightAssignment', () => {
  it('finds the optimum where first-come greedy does not', () => {
    // Greedy takes row 0 → col 0 (0.9), leaving row 1 with col 1 (0.0): total 0.9. Optimal: 0.8 + 0.85.
    const w = [
      [0.9, 0.8],
      [0.85, 0.0],
    ];
    expect(maxWeightAssignment(w)).toEqual([1, 0]);
  });

  it('handles more rows than columns and the reverse', () => {
    expect(maxWeightAssignment([[0.5], [0.9], [0.1]])).toEqual([-1, 0, -1]);
    expect(maxWeightAssignment([[0.1, 0.7, 0.3]])).toEqual([1]);
    expect(maxWeightAssignment([])).toEqual([]);
  });

  it('matches brute force on random matrices up to 6×6', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((n) =>
          fc.integer({ min: 1, max: 6 }).chain((m) => fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: m, maxLength: m }), { minLength: n, maxLength: n })),
        ),
        (w) => {
          const a = maxWeightAssignment(w);
          const cols = a.filter((j) => j >= 0);
          expect(new Set(cols).size).toBe(cols.length); // one-to-one
          const total = a.reduce((s, j, i) => s + (j >= 0 ? w[i]![j]! : 0), 0);
          expect(total).toBeCloseTo(bruteForceBest(w), 9);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe('faceCheck', () => {
  it('no source faces: no_faces, whatever the edit holds', () => {
    const r = faceCheck([], [face(10, 10, 50)], S, S, { threshold: 0.9 });
    expect(r).toMatchObject({ status: 'no_faces', minIoU: null, threshold: 0.9, matches: [], extraEditFaces: 1, ruleVersion: FACE_RULE_VERSION });
    expect(r.detectorVersion).toMatch(/^blazeface-/);
  });

  it('faces that stay put pass; IoU exactly at the threshold passes', () => {
    const r = faceCheck([face(100, 100, 100), face(500, 300, 80)], [face(502, 301, 80), face(100, 100, 100)], S, S, { threshold: 0.9 });
    expect(r.status).toBe('pass');
    expect(r.matches.map((m) => m.edit)).toEqual([1, 0]);
    expect(r.matches[0]!.iou).toBe(1);
    // Shift d with (w−d)/(w+d) = 0.9 exactly: w = 100 → d = 100/19.
    const d = 100 / 19;
    const edge = faceCheck([face(0, 0, 100)], [face(d, 0, 100)], S, S, { threshold: 0.9 });
    expect(edge.minIoU).toBeCloseTo(0.9, 9);
    expect(faceCheck([face(0, 0, 100)], [face(d * 1.01, 0, 100)], S, S, { threshold: 0.9 }).status).toBe('fail');
  });

  it('one face that moved fails the pair and says which', () => {
    const r = faceCheck([face(100, 100, 100), face(500, 300, 80)], [face(100, 100, 100), face(540, 300, 80)], S, S, { threshold: 0.9 });
    expect(r.status).toBe('fail');
    expect(r.matches[0]).toEqual({ source: 0, edit: 0, iou: 1 });
    expect(r.matches[1]!.iou).toBeCloseTo(40 / 120, 9);
    expect(r.minIoU).toBeCloseTo(40 / 120, 9);
  });

  it('a face missing from the edit is unmatched (edit: null, IoU 0) and fails', () => {
    const r = faceCheck([face(100, 100, 100), face(500, 300, 80)], [face(100, 100, 100)], S, S, { threshold: 0.9 });
    expect(r.status).toBe('fail');
    expect(r.matches[1]).toEqual({ source: 1, edit: null, iou: 0 });
  });

  it('extra faces in the edit are recorded, not failed', () => {
    const r = faceCheck([face(100, 100, 100)], [face(100, 100, 100), face(700, 500, 60)], S, S, { threshold: 0.9 });
    expect(r.status).toBe('pass');
    expect(r.extraEditFaces).toBe(1);
  });

  it('maps edit boxes from another resolution into source pixels (also a different aspect)', () => {
    const edit = { width: 500, height: 200 };
    const r = faceCheck([face(100, 100, 100, 80)], [face(50, 25, 50, 20)], S, edit, { threshold: 0.9 });
    expect(r.editFacesInSourceCoords[0]!.box).toEqual([100, 100, 100, 80]);
    expect(r.editFacesInSourceCoords[0]!.keypoints[0]).toEqual([130, 132]);
    expect(r.status).toBe('pass');
    expect(mapFace(face(100, 100, 100, 80), S, edit).box).toEqual([50, 25, 50, 20]);
  });

  it('the threshold is an option', () => {
    const r = faceCheck([face(0, 0, 100)], [face(20, 0, 100)], S, S, { threshold: 0.6 });
    expect(r.status).toBe('pass');
    expect(r.threshold).toBe(0.6);
  });
});

describe('faceCheckRegistered (rule v2)', () => {
  const reg = (box: [number, number, number, number], tx: number, ty: number, s: number, ncc: number, innerNcc: number): Registration => ({
    transform: { tx, ty, s },
    ncc,
    innerNcc,
    ringNcc: ncc,
    box: transformBox(box, { tx, ty, s }),
  });
  const src = face(100, 100, 50);
  const rule = { threshold: 0.9, uncertain: 'fail' as const };

  it('takes the IoU from the transform when registration is confident and a detection confirms it, not from the detection', () => {
    const jittery = face(104, 97, 46); // the detector's box in the edit: IoU ≈ 0.78 with the source box
    const r = faceCheckRegistered([src], [jittery], [reg(src.box, 0.5, 0, 1, 0.99, 0.98)], S, S, rule);
    expect(r.matches[0]).toMatchObject({ edit: 0, method: 'registration', confidence: 0.99, transform: { tx: 0.5, ty: 0, s: 1 } });
    expect(r.matches[0]!.iou).toBeCloseTo(49.5 / 50.5, 6);
    expect(r.status).toBe('pass');
  });

  it('a registered face with no detection stands only when its face box correlates very well', () => {
    const strong = faceCheckRegistered([src], [], [reg(src.box, 0, 0, 1, 0.97, 0.95)], S, S, rule);
    expect(strong.matches[0]).toMatchObject({ edit: null, iou: 1, method: 'registration' });
    const weak = faceCheckRegistered([src], [], [reg(src.box, 0, 0, 1, 0.9, 0.85)], S, S, rule);
    expect(weak.matches[0]).toMatchObject({ edit: null, iou: 0, method: 'detector' });
    expect(weak.status).toBe('fail');
  });

  it('a face box that no longer correlates (painted out or replaced) fails even with a face detected right there', () => {
    const r = faceCheckRegistered([src], [face(100, 100, 50)], [reg(src.box, 0, 0, 1, 0.6, 0.2)], S, S, rule);
    expect(r.matches[0]).toMatchObject({ edit: null, iou: 0, method: 'registration', changed: true });
    expect(r.status).toBe('fail');
    expect(r.extraEditFaces).toBe(1);
  });

  it('falls back to detection matching when registration is not confident', () => {
    const r = faceCheckRegistered([src], [face(101, 100, 50)], [reg(src.box, 7, 3, 1.1, 0.75, 0.7)], S, S, rule);
    expect(r.matches[0]).toMatchObject({ edit: 0, method: 'detector', transform: null, confidence: 0.9 });
    expect(r.matches[0]!.iou).toBeCloseTo(49 / 51, 6);
  });

  it('no face but a likely candidate: uncertain, and FACE_UNCERTAIN decides the verdict and the rule version', () => {
    const cand = { box: [10, 10, 40, 40] as [number, number, number, number], score: 0.6 };
    const fail = faceCheckRegistered([], [], [], S, S, { ...rule, uncertainFace: cand });
    const pass = faceCheckRegistered([], [], [], S, S, { ...rule, uncertain: 'pass', uncertainFace: cand });
    expect(fail.status).toBe('uncertain');
    expect(fail.uncertainFace).toEqual(cand);
    expect(faceVerdictFails(fail.status, 'fail')).toBe(true);
    expect(faceVerdictFails(pass.status, 'pass')).toBe(false);
    expect(fail.ruleVersion).not.toBe(pass.ruleVersion);
    expect(faceCheckRegistered([], [], [], S, S, rule).status).toBe('no_faces');
    expect(faceVerdictFails('no_faces', 'fail')).toBe(false);
  });
});
