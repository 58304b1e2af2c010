/**
 * Face registration: where did this source face go in the edit? Two independent detections give
 * an IoU that measures detector jitter as much as the edit (a JPEG re-encode moved a 37 px face's
 * box to IoU 0.74). Instead the face region of the source (the box grown REGION times, on luma)
 * is searched for in the edit by normalised cross-correlation over translation and scale, coarse
 * to fine: a coarse grid on a blurred pyramid level, then a local descent on a finer level down
 * to 1/32 px. The transform found maps the source box into the edit, and the IoU is computed from
 * the source box and its transformed box, so an unchanged face measures ~1 whatever the detector
 * does, and a moved one measures its move.
 *
 * Coordinates: source px. The edit is first mapped by the frame's scale (edit size / source
 * size, as the rule has always done); the registration finds the rest: p' = c + s·(p − c) + t
 * with c the box centre.
 */
import type { Box } from './blazeface.ts';
import { pyramidWasm, scoreWasm } from './register-kernels.ts';

/** The region searched for: the face box grown this much about its centre (hair, ears, context). */
const REGION = 1.5;
/** Samples per side of the template at the coarse and fine levels. */
const COARSEST_N = 8;
const COARSE_N = 16;
const FINE_N = 32;
/** Coarse translation search: ± this many face sides, on a grid of one coarse sample. */
const SEARCH_SIDES = 1;
const COARSE_SCALES = [0.84, 1, 1.19];
/** Smallest step of the fine descent, source px (relative to the face: the level's px). */
const FINE_STOP = 1 / 16;
/** Fewer valid samples than this share (the region left the edit): no answer. */
const MIN_VALID = 0.6;

/** Residual transform in source px about the box centre: p' = c + s·(p − c) + (tx, ty). */
export interface FaceTransform {
  tx: number;
  ty: number;
  s: number;
}

export interface Registration {
  transform: FaceTransform;
  /** NCC of the whole region at the transform found (−1…1): the registration's confidence. */
  ncc: number;
  /** NCC of the face box alone (inside the region): low with the context intact means the face itself changed. */
  innerNcc: number;
  /** NCC of the context around the face box (the region less the box). */
  ringNcc: number;
  /** The source box moved by the transform, source px. */
  box: Box;
}

/**
 * Luma (BT.601) of a window of an image at levels minLevel… of 2^k × 2^k area averages. A
 * level's px i covers image px [x0 + i·2^k, x0 + (i + 1)·2^k). Only the window around one face
 * is read, so a check costs the faces, not the megapixels.
 */
export interface LumaPyramid {
  levels: (Level | undefined)[];
  min: number;
  max: number;
}

interface Level {
  data: Float32Array;
  width: number;
  height: number;
  x0: number;
  y0: number;
  /** 1 / 2^k. */
  inv: number;
}

interface Raster {
  data: Buffer | Uint8Array;
  width: number;
  height: number;
}

/**
 * The pyramid of `win` (image px, clamped to the image) from level `minLevel` up to `maxLevel` (or
 * ~2 px). Built in WebAssembly (register-kernels.wat) where it runs, else in JS (`how`: 'js' asks
 * for the JS, which the WebAssembly matches to the bit; 'transient' leaves the levels in the
 * module's memory, valid until the next pyramid, where `score` reads them).
 */
export type PyramidHow = 'wasm' | 'js' | 'transient';

export function lumaPyramid(img: Raster, win: Box = [0, 0, img.width, img.height], minLevel = 0, maxLevel = 30, how: PyramidHow = 'wasm'): LumaPyramid {
  // Origins on the grid of the coarsest level: two windows of one image give the same blocks.
  const g = 2 ** Math.min(maxLevel, 16);
  const x0 = Math.max(0, Math.floor(win[0] / g) * g);
  const y0 = Math.max(0, Math.floor(win[1] / g) * g);
  const x1 = Math.min(img.width, Math.ceil(win[0] + win[2]));
  const y1 = Math.min(img.height, Math.ceil(win[1] + win[3]));
  const f = 2 ** minLevel;
  let w = Math.floor((x1 - x0) / f);
  let h = Math.floor((y1 - y0) / f);
  const levels: (Level | undefined)[] = [];
  if (w < 2 || h < 2) return { levels, min: minLevel, max: minLevel - 1 };
  // The first level straight from RGB: each px the mean luma of an f × f block, read on a grid of
  // at most 4 × 4 of its pixels (a box filter all the same, and 4× fewer reads from level 3 up).
  const stride = Math.max(1, f >> 2);
  const per = f / stride;
  const k = 1 / (per * per);
  const off = stride >> 1;
  const fast = how === 'js' ? null : pyramidWasm(img, { x0, y0, w, h, f, stride, per, k, off }, (lw, lh, n) => minLevel + n - 1 < maxLevel && Math.min(lw, lh) >= 4, how === 'transient');
  if (fast) {
    fast.forEach((l, i) => (levels[minLevel + i] = { data: l.data, width: l.width, height: l.height, x0, y0, inv: 1 / (f * 2 ** i) }));
    return { levels, min: minLevel, max: minLevel + fast.length - 1 };
  }
  const base = new Float32Array(w * h);
  const d = img.data;
  const W = img.width;
  const step = stride * 3;
  if (per === 4) {
    // The usual case (level 2 up): each block's 4 × 4 reads unrolled, the sum kept in a register
    // and rounded to float32 after each block row, as the general loop below stores it.
    const rowStep = stride * W * 3;
    for (let oy = 0; oy < h; oy++) {
      const row = oy * w;
      const first = ((y0 + oy * f + off) * W + x0 + off) * 3;
      for (let ox = 0, p0 = first; ox < w; ox++, p0 += 4 * step) {
        let v = 0;
        for (let r = 0, p = p0; r < 4; r++, p += rowStep) {
          const q = p + step;
          const s = q + step;
          const t = s + step;
          const acc =
            0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]! +
            (0.299 * d[q]! + 0.587 * d[q + 1]! + 0.114 * d[q + 2]!) +
            (0.299 * d[s]! + 0.587 * d[s + 1]! + 0.114 * d[s + 2]!) +
            (0.299 * d[t]! + 0.587 * d[t + 1]! + 0.114 * d[t + 2]!);
          v = Math.fround(v + acc * k);
        }
        base[row + ox] = v;
      }
    }
  } else {
    for (let oy = 0; oy < h; oy++) {
      const row = oy * w;
      for (let dy = off; dy < f; dy += stride) {
        let p = ((y0 + oy * f + dy) * W + x0 + off) * 3;
        for (let ox = 0; ox < w; ox++) {
          let acc = 0;
          for (let dx = 0; dx < per; dx++, p += step) acc += 0.299 * d[p]! + 0.587 * d[p + 1]! + 0.114 * d[p + 2]!;
          base[row + ox] = base[row + ox]! + acc * k;
        }
      }
    }
  }
  levels[minLevel] = { data: base, width: w, height: h, x0, y0, inv: 1 / f };
  let top = minLevel;
  while (top < maxLevel && Math.min(w, h) >= 4) {
    const prev = levels[top]!;
    w = prev.width >> 1;
    h = prev.height >> 1;
    const out = new Float32Array(w * h);
    const pw = prev.width;
    const pd = prev.data;
    for (let y = 0; y < h; y++) {
      const r0 = 2 * y * pw;
      const r1 = r0 + pw;
      for (let x = 0; x < w; x++) out[y * w + x] = 0.25 * (pd[r0 + 2 * x]! + pd[r0 + 2 * x + 1]! + pd[r1 + 2 * x]! + pd[r1 + 2 * x + 1]!);
    }
    top++;
    levels[top] = { data: out, width: w, height: h, x0, y0, inv: prev.inv / 2 };
  }
  return { levels, min: minLevel, max: top };
}

/** Bilinear sample at image px (u, v) (pixel i covering [i, i+1)); NaN outside the level. */
function sample(lv: Level, u: number, v: number): number {
  const x = (u - lv.x0) * lv.inv - 0.5;
  const y = (v - lv.y0) * lv.inv - 0.5;
  if (x < -0.5 || y < -0.5 || x > lv.width - 0.5 || y > lv.height - 0.5) return NaN;
  const xc = Math.min(Math.max(x, 0), lv.width - 1);
  const yc = Math.min(Math.max(y, 0), lv.height - 1);
  const x0 = Math.min(Math.floor(xc), lv.width - 2);
  const y0 = Math.min(Math.floor(yc), lv.height - 2);
  const fx = xc - x0;
  const fy = yc - y0;
  const w = lv.width;
  const i = y0 * w + x0;
  const d = lv.data;
  const a = d[i]!;
  const b = d[i + 1]!;
  const c = d[i + w]!;
  const e = d[i + w + 1]!;
  return a + (b - a) * fx + (c - a) * fy + (a - b - c + e) * fx * fy;
}

/** The level whose px is at most `step` image px (so sampling every `step` does not alias much). */
function levelIndex(step: number): number {
  return Math.max(0, Math.floor(Math.log2(Math.max(1, step))));
}

function levelOf(p: LumaPyramid, k: number): Level | undefined {
  return p.levels[Math.max(p.min, Math.min(p.max, k))];
}

interface Template {
  /** Samples per side. */
  n: number;
  /** Sample offsets from the centre, source px: per column (x) and per row (y) of the square grid. */
  ox: Float32Array;
  oy: Float32Array;
  /** Source values, row-major (NaN outside the source). */
  val: Float32Array;
  /** Whether the sample lies inside the face box. */
  inner: Uint8Array;
  step: number;
  /** The source pyramid level it was sampled from. */
  level: number;
}

function makeTemplate(src: LumaPyramid, box: Box, n: number): Template {
  const L = Math.max(box[2], box[3]) * REGION;
  const step = L / n;
  const cx = box[0] + box[2] / 2;
  const cy = box[1] + box[3] / 2;
  const k = Math.max(src.min, Math.min(src.max, levelIndex(step)));
  const lv = levelOf(src, k);
  const N = n * n;
  const t: Template = { n, ox: new Float32Array(n), oy: new Float32Array(n), val: new Float32Array(N), inner: new Uint8Array(N), step, level: k };
  for (let j = 0, i = 0; j < n; j++) {
    for (let q = 0; q < n; q++, i++) {
      const ox = (q - (n - 1) / 2) * step;
      const oy = (j - (n - 1) / 2) * step;
      t.ox[q] = ox;
      t.oy[j] = oy;
      t.val[i] = lv ? sample(lv, cx + ox, cy + oy) : NaN;
      t.inner[i] = Math.abs(ox) <= box[2] / 2 && Math.abs(oy) <= box[3] / 2 ? 1 : 0;
    }
  }
  return t;
}

interface Scored {
  ncc: number;
  innerNcc: number;
  ringNcc: number;
}
const noScore: Readonly<Scored> = { ncc: -1, innerNcc: -1, ringNcc: -1 };
/** `score`'s result, valid until its next call. */
const scored: Scored = { ncc: 0, innerNcc: 0, ringNcc: 0 };

/** Per column (x) or row (y) of a template at one transform: the level px left of / above it, its fraction, and whether it is inside. */
const axisCell = { x: new Int32Array(64), fx: new Float64Array(64), okx: new Uint8Array(64), y: new Int32Array(64), fy: new Float64Array(64), oky: new Uint8Array(64) };

/**
 * NCC of the template against the edit at transform `tr`. `frame`: edit px per source px along x
 * and y. Samples outside either image are left out; too few left: −1.
 * The template is a square grid, so each column shares its x and each row its y: the bilinear
 * weights are worked out per column and per row (as `sample` would per point), not per sample.
 */
function score(t: Template, edit: LumaPyramid, frame: [number, number], c: [number, number], tr: FaceTransform, withInner: boolean): Readonly<Scored> {
  // The edit level whose px covers about as much of the scene as the template's level px (same blur).
  const lv = levelOf(edit, Math.max(0, Math.round(Math.log2(2 ** t.level * tr.s * Math.min(frame[0], frame[1])))));
  if (!lv) return noScore;
  const fx = frame[0];
  const fy = frame[1];
  const bx = c[0] + tr.tx;
  const by = c[1] + tr.ty;
  const n = t.n;
  // A level in the WebAssembly module's memory (a transient edit pyramid) is scored there.
  const sums = scoreWasm(t, lv, fx, fy, bx, by, tr.s, withInner);
  if (sums) return finish(n * n, withInner, sums[0]!, sums[1]!, sums[2]!, sums[3]!, sums[4]!, sums[5]!, sums[6]!, sums[7]!, sums[8]!, sums[9]!, sums[10]!, sums[11]!);
  const W = lv.width;
  const H = lv.height;
  const cell = axisCell;
  // Loads hoisted out of the loops (the same values; read once per call, not per sample).
  const ts = tr.s;
  const lx0 = lv.x0;
  const ly0 = lv.y0;
  const inv = lv.inv;
  const tox = t.ox;
  const toy = t.oy;
  const okx = cell.okx;
  const cx = cell.x;
  const cfx = cell.fx;
  const oky = cell.oky;
  const cy = cell.y;
  const cfy = cell.fy;
  for (let q = 0; q < n; q++) {
    const x = ((bx + ts * tox[q]!) * fx - lx0) * inv - 0.5;
    okx[q] = x < -0.5 || x > W - 0.5 ? 0 : 1;
    const xc = Math.min(Math.max(x, 0), W - 1);
    const x0 = Math.min(Math.floor(xc), W - 2);
    cx[q] = x0;
    cfx[q] = xc - x0;
  }
  for (let j = 0; j < n; j++) {
    const y = ((by + ts * toy[j]!) * fy - ly0) * inv - 0.5;
    oky[j] = y < -0.5 || y > H - 0.5 ? 0 : 1;
    const yc = Math.min(Math.max(y, 0), H - 1);
    const y0 = Math.min(Math.floor(yc), H - 2);
    cy[j] = y0 * W;
    cfy[j] = yc - y0;
  }
  const d = lv.data;
  const val = t.val;
  const inner = t.inner;
  let cnt = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  let m = 0, ia = 0, ib = 0, iaa = 0, ibb = 0, iab = 0;
  const N = n * n;
  for (let j = 0, i = 0; j < n; j++) {
    if (!oky[j]) {
      i += n;
      continue;
    }
    const row = cy[j]!;
    const wy = cfy[j]!;
    for (let q = 0; q < n; q++, i++) {
      const a = val[i]!;
      if (Number.isNaN(a) || !okx[q]) continue;
      const wx = cfx[q]!;
      const k = row + cx[q]!;
      const p = d[k]!;
      const r = d[k + 1]!;
      const u = d[k + W]!;
      const e = d[k + W + 1]!;
      const b = p + (r - p) * wx + (u - p) * wy + (p - r - u + e) * wx * wy;
      cnt++;
      sa += a;
      sb += b;
      saa += a * a;
      sbb += b * b;
      sab += a * b;
      if (withInner && inner[i]) {
        m++;
        ia += a;
        ib += b;
        iaa += a * a;
        ibb += b * b;
        iab += a * b;
      }
    }
  }
  return finish(N, withInner, cnt, sa, sb, saa, sbb, sab, m, ia, ib, iaa, ibb, iab);
}

/** score's result from its sums over the samples (all, and inner). */
function finish(N: number, withInner: boolean, cnt: number, sa: number, sb: number, saa: number, sbb: number, sab: number, m: number, ia: number, ib: number, iaa: number, ibb: number, iab: number): Readonly<Scored> {
  if (cnt < MIN_VALID * N) return noScore;
  // One result object reused (the search makes ~700 calls per face and reads each result at once).
  scored.ncc = ncc(cnt, sa, sb, saa, sbb, sab);
  scored.innerNcc = withInner ? ncc(m, ia, ib, iaa, ibb, iab) : 0;
  scored.ringNcc = withInner ? ncc(cnt - m, sa - ia, sb - ib, saa - iaa, sbb - ibb, sab - iab) : 0;
  return scored;
}

/** NCC from sums over `num` samples (one function for every call: a closure per call would deoptimise `score`). */
function ncc(num: number, xa: number, xb: number, xaa: number, xbb: number, xab: number): number {
  if (num < 4) return -1;
  const va = xaa - (xa * xa) / num;
  const vb = xbb - (xb * xb) / num;
  const cov = xab - (xa * xb) / num;
  // A flat patch (painted out) has no structure to correlate: that is not a match.
  return va > 1e-3 * num && vb > 1e-3 * num ? cov / Math.sqrt(va * vb) : 0;
}

/**
 * Registers one source face in the edit. `frame`: edit px per source px (x, y). Returns the best
 * transform and its NCC; the caller decides whether it is confident.
 * Coarse to fine: an 8×8 template over the whole search range, a 16×16 one around its answer, then
 * a descent with a 32×32 one.
 */
export function registerFace(src: LumaPyramid, edit: LumaPyramid, frame: [number, number], box: Box): Registration {
  const c: [number, number] = [box[0] + box[2] / 2, box[1] + box[3] / 2];
  const side = Math.max(box[2], box[3]);
  // Coarsest: every sample of an 8×8 template over ± SEARCH_SIDES face sides, a few scales.
  const coarsest = kept(templates, src, `${box.join(',')}/${COARSEST_N}`, () => makeTemplate(src, box, COARSEST_N));
  const reach = Math.ceil((SEARCH_SIDES * side) / coarsest.step);
  let best: FaceTransform = { tx: 0, ty: 0, s: 1 };
  let bestNcc = score(coarsest, edit, frame, c, best, false).ncc;
  for (const s of COARSE_SCALES) {
    for (let j = -reach; j <= reach; j++) {
      for (let i = -reach; i <= reach; i++) {
        const tr = { tx: i * coarsest.step, ty: j * coarsest.step, s };
        const r = score(coarsest, edit, frame, c, tr, false).ncc;
        if (r > bestNcc + 1e-9) {
          bestNcc = r;
          best = tr;
        }
      }
    }
  }
  // Coarse: a 16×16 template on the neighbours of that answer (half a coarsest step, one scale step).
  const coarse = kept(templates, src, `${box.join(',')}/${COARSE_N}`, () => makeTemplate(src, box, COARSE_N));
  const around = best;
  bestNcc = score(coarse, edit, frame, c, around, false).ncc;
  for (const ds of [1 / 1.06, 1, 1.06]) {
    for (let j = -2; j <= 2; j++) {
      for (let i = -2; i <= 2; i++) {
        const tr = { tx: around.tx + i * coarse.step, ty: around.ty + j * coarse.step, s: around.s * ds };
        const r = score(coarse, edit, frame, c, tr, false).ncc;
        if (r > bestNcc + 1e-9) {
          bestNcc = r;
          best = tr;
        }
      }
    }
  }
  // Fine: descent on (tx, ty, ln s) from the coarse answer, halving the step down to FINE_STOP level px.
  const fine = kept(templates, src, `${box.join(',')}/${FINE_N}`, () => makeTemplate(src, box, FINE_N));
  let cur = best;
  let curNcc = score(fine, edit, frame, c, cur, false).ncc;
  const px = 2 ** fine.level; // source px per fine-level px
  let step = coarse.step / 2;
  let sStep = 0.03;
  while (step >= FINE_STOP * px) {
    let improved = true;
    while (improved) {
      improved = false;
      const moves: FaceTransform[] = [
        { ...cur, tx: cur.tx + step },
        { ...cur, tx: cur.tx - step },
        { ...cur, ty: cur.ty + step },
        { ...cur, ty: cur.ty - step },
        { ...cur, s: cur.s * Math.exp(sStep) },
        { ...cur, s: cur.s * Math.exp(-sStep) },
      ];
      for (const m of moves) {
        const r = score(fine, edit, frame, c, m, false).ncc;
        if (r > curNcc + 1e-7) {
          curNcc = r;
          cur = m;
          improved = true;
        }
      }
    }
    step /= 2;
    sStep /= 2;
  }
  const final = score(fine, edit, frame, c, cur, true);
  return { transform: cur, ncc: final.ncc, innerNcc: final.innerNcc, ringNcc: final.ringNcc, box: transformBox(box, cur) };
}

/** The box moved by the transform (about its own centre), source px. */
export function transformBox(box: Box, tr: FaceTransform): Box {
  const cx = box[0] + box[2] / 2 + tr.tx;
  const cy = box[1] + box[3] / 2 + tr.ty;
  const w = box[2] * tr.s;
  const h = box[3] * tr.s;
  return [cx - w / 2, cy - h / 2, w, h];
}

/**
 * The source's half of a registration (its pyramid around each face, the templates sampled from
 * it) depends on the source alone: it is kept per source object, so the K edits of a request,
 * checked against one decoded source, work it out once.
 */
const sourcePyramids = new WeakMap<object, Map<string, LumaPyramid>>();
const templates = new WeakMap<object, Map<string, Template>>();
const KEPT_PER_SOURCE = 48;

function kept<T>(cache: WeakMap<object, Map<string, T>>, owner: object, key: string, make: () => T): T {
  let m = cache.get(owner);
  if (!m) cache.set(owner, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) {
    v = make();
    if (m.size >= KEPT_PER_SOURCE) m.delete(m.keys().next().value!);
    m.set(key, v);
  }
  return v;
}

/**
 * Registers every source box in the edit (both as decoded RGB), reading only the windows around
 * the faces. `how`: 'js' runs everything in JS (the WebAssembly gives the same results to the bit).
 */
export function registerFaces(src: Raster, edit: Raster, boxes: Box[], how: 'wasm' | 'js' = 'wasm'): Registration[] {
  const frame: [number, number] = [edit.width / src.width, edit.height / src.height];
  const fmin = Math.min(frame[0], frame[1]);
  return boxes.map((box) => {
    const side = Math.max(box[2], box[3]);
    const cx = box[0] + box[2] / 2;
    const cy = box[1] + box[3] / 2;
    // Source: the template's levels (fine to coarsest) over the region, plus a block of margin.
    const sMin = levelIndex((REGION * side) / FINE_N);
    const sMax = levelIndex((REGION * side) / COARSEST_N);
    const sr = (REGION / 2) * side + 2 * 2 ** sMax;
    const ps = kept(sourcePyramids, src, `${box.join(',')}/${how}`, () => lumaPyramid(src, [cx - sr, cy - sr, 2 * sr, 2 * sr], sMin, sMax, how));
    // Edit: the search range around the mapped centre, at the levels the scales searched can ask for.
    const eMin = Math.max(0, Math.round(Math.log2(2 ** sMin * 0.75 * fmin)));
    const eMax = Math.max(eMin, Math.round(Math.log2(2 ** sMax * 1.45 * fmin)));
    const er = (SEARCH_SIDES + (REGION / 2) * 1.45) * side + 2 * 2 ** eMax / fmin;
    const pe = lumaPyramid(edit, [(cx - er) * frame[0], (cy - er) * frame[1], 2 * er * frame[0], 2 * er * frame[1]], eMin, eMax, how === 'js' ? 'js' : 'transient');
    return registerFace(ps, pe, frame, box);
  });
}
