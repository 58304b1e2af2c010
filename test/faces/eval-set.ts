/**
 * The face check's evaluation set: real photographs of people (test/fixtures/images, licences in
 * LICENSES.md; face boxes hand-checked once in faces.json) and edits of known geometry made at
 * test time. The ground truth — same face or not, and the analytic IoU of a move — comes from the
 * geometry of each edit, never from the detector: a move maps the annotated box through the
 * edit's transform and the rule's frame mapping (edit size / source size).
 *
 * Every photograph listed in faces.json is a source: single portraits (astronaut.png, camera.png),
 * small faces in a scene (people/messi5.jpg, people/basketball1.png, whose second man is turned
 * away), and a face behind glasses (people/grace_hopper.jpg). The group photos take the first four.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type OverlayOptions, type Sharp } from 'sharp';
import { boxIoU } from '../../pipeline/faces/face-check.ts';

type Box = [number, number, number, number];
const dir = path.join(import.meta.dirname, '../fixtures/images');
/** The photographs of people not among the demo's images, and every photograph's annotated faces (paths relative to `dir`). */
const people = path.join(dir, 'people');

export interface EvalSource {
  name: string;
  bytes: Buffer;
  width: number;
  height: number;
  /** Annotated faces, source px. */
  faces: Box[];
  /** Raw RGB, for making edits. */
  rgb: Buffer;
  /** The photograph the first face comes from (a replacement takes another's). */
  firstFaceOf: string;
}

export interface EvalCase {
  source: EvalSource;
  cls: string;
  name: string;
  edit: Buffer;
  /** Per annotated face: the analytic IoU of the move in the rule's coordinates (0: face gone or replaced). */
  truthIoU: number[];
  /** Right verdict at the 0.9 threshold: every face keeps IoU ≥ 0.9. */
  shouldPass: boolean;
  /** No geometric move: the measured IoU should be ~1 (re-encodes, rescales, tone, local edits). */
  noMove: boolean;
  /** The edit's geometry, x' = a·x + b in edit px, for a move (absent: no move, or the face is gone). */
  move?: Move;
}

interface Move {
  a: number;
  bx: number;
  by: number;
  editW: number;
  editH: number;
}

/** The analytic IoU of any source box under a case's move, in the rule's coordinates (1 without a move). */
export function analyticIoU(c: EvalCase, box: Box): number {
  const m = c.move;
  if (!m) return 1;
  const fx = c.source.width / m.editW;
  const fy = c.source.height / m.editH;
  return boxIoU(box, [(m.a * box[0] + m.bx) * fx, (m.a * box[1] + m.by) * fy, m.a * box[2] * fx, m.a * box[3] * fy]);
}

interface Annotation {
  file: string;
  faces: Box[];
}

async function raw(img: Sharp): Promise<{ rgb: Buffer; width: number; height: number }> {
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return { rgb: data, width: info.width, height: info.height };
  // Greyscale photographs: expand to RGB.
  const rgb = Buffer.alloc(info.width * info.height * 3);
  for (let i = 0; i < info.width * info.height; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i * info.channels]!;
  return { rgb, width: info.width, height: info.height };
}

const encode = (rgb: Buffer, width: number, height: number, q = 92) => sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: q }).toBuffer();

async function makeSource(name: string, rgbIn: { rgb: Buffer; width: number; height: number }, faces: Box[], firstFaceOf: string): Promise<EvalSource> {
  const bytes = await sharp(rgbIn.rgb, { raw: { width: rgbIn.width, height: rgbIn.height, channels: 3 } }).png().toBuffer();
  return { name, bytes, width: rgbIn.width, height: rgbIn.height, faces, rgb: rgbIn.rgb, firstFaceOf };
}

/**
 * The sources: the annotated photographs, a dark and a bright exposure of two of them, and group
 * photos composed of the photographs' people at known small sizes (faces of 24–60 px).
 */
export async function evalSources(): Promise<EvalSource[]> {
  const notes = JSON.parse(readFileSync(path.join(people, 'faces.json'), 'utf8')) as Annotation[];
  const out: EvalSource[] = [];
  const photos: { a: Annotation; img: { rgb: Buffer; width: number; height: number } }[] = [];
  for (const a of notes) {
    const img = await raw(sharp(path.join(dir, a.file)));
    photos.push({ a, img });
    out.push(await makeSource(a.file, img, a.faces, a.file));
  }
  for (const [file, gain, label] of [
    ['astronaut.png', 0.35, 'dark'],
    ['people/messi5.jpg', 1.8, 'bright'],
    ['camera.png', 0.45, 'dark'],
  ] as const) {
    const p = photos.find((x) => x.a.file === file)!;
    const rgb = Buffer.from(p.img.rgb.map((v) => Math.min(255, Math.round(v * gain))));
    out.push(await makeSource(`${file} ${label}`, { ...p.img, rgb }, p.a.faces, file));
  }
  // Group photos: the people of the photographs scaled so their faces are `px` wide, in a row.
  for (const px of [24, 36, 56]) out.push(await groupPhoto(photos, px));
  return out;
}

/** A 4-person group: each photograph's first face scaled to `px`, a crop around it pasted on a grey backdrop. */
async function groupPhoto(photos: { a: Annotation; img: { rgb: Buffer; width: number; height: number } }[], px: number): Promise<EvalSource> {
  const W = 640;
  const H = 360;
  const cells = photos.slice(0, 4);
  const faces: Box[] = [];
  const parts: OverlayOptions[] = [];
  const cellW = W / cells.length;
  for (const [i, p] of cells.entries()) {
    const f = p.a.faces[0]!;
    const k = px / f[2];
    // A crop 3 face widths wide and 4 tall around the face, scaled by k.
    const cw = Math.min(p.img.width, Math.round(f[2] * 3));
    const ch = Math.min(p.img.height, Math.round(f[3] * 4));
    const cx = Math.max(0, Math.min(p.img.width - cw, Math.round(f[0] + f[2] / 2 - cw / 2)));
    const cy = Math.max(0, Math.min(p.img.height - ch, Math.round(f[1] - f[3] * 0.8)));
    const tw = Math.max(1, Math.round(cw * k));
    const th = Math.max(1, Math.round(ch * k));
    const kx = tw / cw;
    const ky = th / ch;
    const piece = await sharp(p.img.rgb, { raw: { width: p.img.width, height: p.img.height, channels: 3 } })
      .extract({ left: cx, top: cy, width: cw, height: ch })
      .resize(tw, th, { fit: 'fill' })
      .png()
      .toBuffer();
    const left = Math.round(i * cellW + (cellW - tw) / 2);
    const top = Math.round(H * (0.3 + 0.15 * (i % 2)) - th / 3);
    parts.push({ input: piece, left, top });
    faces.push([left + (f[0] - cx) * kx, top + (f[1] - cy) * ky, f[2] * kx, f[3] * ky]);
  }
  const img = await raw(sharp({ create: { width: W, height: H, channels: 3, background: '#6b7078' } }).composite(parts));
  return makeSource(`group ${px}px`, img, faces, cells[0]!.a.file);
}

/** Bilinear warp: out(u) = in(A⁻¹(u)), with the inverse map given, px centres at i + 0.5. */
function warp(s: EvalSource, W: number, H: number, inv: (x: number, y: number) => [number, number]): Buffer {
  const out = Buffer.alloc(W * H * 3);
  const { rgb, width, height } = s;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [u, v] = inv(x + 0.5, y + 0.5);
      const fx = Math.min(Math.max(u - 0.5, 0), width - 1.001);
      const fy = Math.min(Math.max(v - 0.5, 0), height - 1.001);
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const ax = fx - x0;
      const ay = fy - y0;
      const o = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) {
        const p = (y0 * width + x0) * 3 + c;
        const a = rgb[p]!;
        const b = rgb[p + 3]!;
        const d = rgb[p + width * 3]!;
        const e = rgb[p + width * 3 + 3]!;
        out[o + c] = Math.round(a + (b - a) * ax + (d - a) * ay + (a - b - d + e) * ax * ay);
      }
    }
  }
  return out;
}

/** Analytic IoU per face of an affine move x' = a·x + b (edit px), seen through the rule's frame mapping. */
function movedIoU(s: EvalSource, editW: number, editH: number, a: number, bx: number, by: number): number[] {
  const fx = s.width / editW;
  const fy = s.height / editH;
  return s.faces.map((f) => boxIoU(f, [(a * f[0] + bx) * fx, (a * f[1] + by) * fy, a * f[2] * fx, a * f[3] * fy]));
}

function paint(s: EvalSource, box: Box, fill: (x: number, y: number) => [number, number, number]): Buffer {
  const out = Buffer.from(s.rgb);
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(s.width, Math.ceil(box[0] + box[2]));
  const y1 = Math.min(s.height, Math.ceil(box[1] + box[3]));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const [r, g, b] = fill(x - x0, y - y0);
      const o = (y * s.width + x) * 3;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return out;
}

const grow = (b: Box, k: number): Box => [b[0] + (b[2] * (1 - k)) / 2, b[1] + (b[3] * (1 - k)) / 2, b[2] * k, b[3] * k];

/** Every edit of every source, with its ground truth. */
export async function evalCases(sources: EvalSource[]): Promise<EvalCase[]> {
  const cases: EvalCase[] = [];
  const same = (s: EvalSource) => s.faces.map(() => 1);
  for (const s of sources) {
    const { width: W, height: H } = s;
    const add = (cls: string, name: string, edit: Buffer, truthIoU: number[], noMove: boolean, move?: Move) =>
      cases.push({ source: s, cls, name: `${s.name}: ${name}`, edit, truthIoU, shouldPass: truthIoU.every((v) => v >= 0.9), noMove, ...(move ? { move } : {}) });
    const moved = (cls: string, name: string, edit: Buffer, m: Move) => add(cls, name, edit, movedIoU(s, m.editW, m.editH, m.a, m.bx, m.by), false, m);
    const img = () => sharp(s.rgb, { raw: { width: W, height: H, channels: 3 } });
    for (const q of [70, 85]) add('reencode', `jpeg q${q}`, await img().jpeg({ quality: q }).toBuffer(), same(s), true);
    // Downscales by sharp (area reduction); upscales by a centre-aligned bilinear warp, whose geometry is exact.
    for (const k of [0.5, 0.75]) {
      add('rescale', `rescale ${k}×`, await img().resize(Math.round(W * k), Math.round(H * k), { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer(), same(s), true);
    }
    for (const k of [1.5, 2]) {
      const w = Math.round(W * k);
      const h = Math.round(H * k);
      add('rescale', `rescale ${k}×`, await encode(warp(s, w, h, (x, y) => [(x * W) / w, (y * H) / h]), w, h, 90), same(s), true);
    }
    for (const [dx, dy] of [
      [0.3, 0],
      [0.5, 0.5],
      [-0.25, 0.7],
    ] as const) {
      moved('subpixel', `shift ${dx},${dy} px`, await encode(warp(s, W, H, (x, y) => [x - dx, y - dy]), W, H), { a: 1, bx: dx, by: dy, editW: W, editH: H });
    }
    const side = Math.min(...s.faces.map((f) => f[2]));
    for (const frac of [0.03, 0.12, 0.3]) {
      const d = Math.max(1, Math.round(side * frac));
      moved('shift', `shift ${d},${d} px`, await encode(warp(s, W, H, (x, y) => [x - d, y - d]), W, H), { a: 1, bx: d, by: d, editW: W, editH: H });
    }
    // Crop: a border cut away, the rest kept at its own size (the rule maps frames by size, so the faces move).
    for (const cut of [0.01, 0.08]) {
      const l = Math.round(W * cut);
      const t = Math.round(H * cut);
      const cw = W - 2 * l;
      const ch = H - 2 * t;
      moved('crop', `crop ${cut * 100}% each side`, await img().extract({ left: l, top: t, width: cw, height: ch }).jpeg({ quality: 90 }).toBuffer(), { a: 1, bx: -l, by: -t, editW: cw, editH: ch });
    }
    // Zoom about the image centre, same frame.
    for (const z of [1.02, 1.15]) {
      const cx = W / 2;
      const cy = H / 2;
      moved('zoom', `zoom ${z}×`, await encode(warp(s, W, H, (x, y) => [cx + (x - cx) / z, cy + (y - cy) / z]), W, H), { a: z, bx: cx * (1 - z), by: cy * (1 - z), editW: W, editH: H });
    }
    // Local edit away from every face: a tinted block in the corner farthest from them.
    {
      const bw = Math.round(W / 5);
      const bh = Math.round(H / 5);
      const corners: Box[] = [
        [0, 0, bw, bh],
        [W - bw, 0, bw, bh],
        [0, H - bh, bw, bh],
        [W - bw, H - bh, bw, bh],
      ];
      const far = corners.find((c) => s.faces.every((f) => boxIoU(grow(f, 2), c) === 0)) ?? corners[3]!;
      add('local', 'tinted block away from faces', await encode(paint(s, far, () => [230, 120, 20]), W, H), same(s), true);
    }
    add('tone', 'brighter, more contrast', await img().linear(1.3, -20).jpeg({ quality: 90 }).toBuffer(), same(s), true);
    add('tone', 'gamma 1.6', await img().gamma(1.6, 2.2).jpeg({ quality: 90 }).toBuffer(), same(s), true);
    add('colour', 'hue rotated 120°', await img().modulate({ hue: 120 }).jpeg({ quality: 90 }).toBuffer(), same(s), true);
    add('colour', 'sepia', await img().recomb([[0.39, 0.77, 0.19], [0.35, 0.69, 0.17], [0.27, 0.53, 0.13]]).jpeg({ quality: 90 }).toBuffer(), same(s), true);
    // Face painted out: the first face's box (grown 1.2×) filled with the mean colour of its ring.
    {
      const f = s.faces[0]!;
      const g = grow(f, 1.25);
      const m = ringMean(s, g);
      add('painted_out', 'first face painted out', await encode(paint(s, g, () => m), W, H), s.faces.map((_, i) => (i === 0 ? 0 : 1)), false);
    }
    // Face replaced: another photograph's face, scaled to the box, pasted over the first face.
    {
      const f = s.faces[0]!;
      const donor = sources.find((o) => o.firstFaceOf !== s.firstFaceOf && o.name === o.firstFaceOf)!;
      const df = grow(donor.faces[0]!, 1.1);
      const g = grow(f, 1.1);
      const k = df[2] / g[2];
      const ky = df[3] / g[3];
      const pasted = paint(s, g, (x, y) => {
        const u = Math.min(donor.width - 1, Math.max(0, Math.round(df[0] + x * k)));
        const v = Math.min(donor.height - 1, Math.max(0, Math.round(df[1] + y * ky)));
        const o = (v * donor.width + u) * 3;
        return [donor.rgb[o]!, donor.rgb[o + 1]!, donor.rgb[o + 2]!];
      });
      add('replaced', `first face replaced by ${donor.name}'s`, await encode(pasted, W, H), s.faces.map((_, i) => (i === 0 ? 0 : 1)), false);
    }
  }
  return cases;
}

function ringMean(s: EvalSource, b: Box): [number, number, number] {
  const out = [0, 0, 0];
  let n = 0;
  const o = grow(b, 1.3);
  for (let y = Math.max(0, Math.floor(o[1])); y < Math.min(s.height, o[1] + o[3]); y++) {
    for (let x = Math.max(0, Math.floor(o[0])); x < Math.min(s.width, o[0] + o[2]); x++) {
      if (x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3]) continue;
      const p = (y * s.width + x) * 3;
      out[0] += s.rgb[p]!;
      out[1] += s.rgb[p + 1]!;
      out[2] += s.rgb[p + 2]!;
      n++;
    }
  }
  return out.map((v) => Math.round(v / Math.max(1, n))) as [number, number, number];
}
