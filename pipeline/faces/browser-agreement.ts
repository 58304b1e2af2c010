/**
 * Server vs browser faces: the BlazeFace boxes the check stored and the boxes MediaPipe's
 * FaceDetector found in a reviewer's browser, matched one-to-one by IoU (largest first). They
 * disagree when a face is found by one side only, or a matched pair overlaps under `threshold`.
 */
import { boxIoU } from './face-check.ts';

export type Box = [number, number, number, number];

/** IoU under which a matched server/browser pair counts as a disagreement. */
export const BROWSER_AGREEMENT_IOU = 0.8;

export interface FaceComparison {
  matches: { server: number; browser: number; iou: number }[];
  /** Indexes of server faces with no browser face overlapping them. */
  serverOnly: number[];
  /** Indexes of browser faces with no server face overlapping them. */
  browserOnly: number[];
  threshold: number;
  disagrees: boolean;
}

export function compareFaces(server: Box[], browser: Box[], threshold = BROWSER_AGREEMENT_IOU): FaceComparison {
  const pairs: { server: number; browser: number; iou: number }[] = [];
  server.forEach((s, i) => browser.forEach((b, j) => {
    const iou = boxIoU(s, b);
    if (iou > 0) pairs.push({ server: i, browser: j, iou });
  }));
  pairs.sort((a, b) => b.iou - a.iou || a.server - b.server || a.browser - b.browser);
  const usedS = new Set<number>();
  const usedB = new Set<number>();
  const matches: FaceComparison['matches'] = [];
  for (const p of pairs) {
    if (usedS.has(p.server) || usedB.has(p.browser)) continue;
    usedS.add(p.server);
    usedB.add(p.browser);
    matches.push({ ...p, iou: Math.round(p.iou * 10_000) / 10_000 });
  }
  const serverOnly = server.map((_, i) => i).filter((i) => !usedS.has(i));
  const browserOnly = browser.map((_, j) => j).filter((j) => !usedB.has(j));
  const disagrees = serverOnly.length > 0 || browserOnly.length > 0 || matches.some((m) => m.iou < threshold);
  return { matches: matches.sort((a, b) => a.server - b.server), serverOnly, browserOnly, threshold, disagrees };
}
