/**
 * `runHardChecks` end to end on real photos and edits made from them with sharp: edits that keep
 * faces in place pass the face rule; translated, zoomed and face-removed edits fail it; photos
 * without a person are `no_faces`; the overall verdict also needs a real change.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHANGE_RULE_VERSION, MIN_REGION_FRACTION, NO_CHANGE_FRACTION } from '../../pipeline/checks/change-check.ts';
import { ARTIFACT_RULE_VERSION, checkVersion, clearSourceCache, runHardChecks, type HardCheckOptions } from '../../pipeline/checks/index.ts';
import { DETECTOR_VERSION } from '../../pipeline/faces/blazeface.ts';
import { FACE_RULE_VERSION } from '../../pipeline/faces/face-check.ts';
import { ImageError } from '../../pipeline/errors/index.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/images');
const fixture = (name: string) => readFileSync(path.join(fixtures, name));
const astronaut = fixture('astronaut.png');
const opts: HardCheckOptions = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: DEFAULT_MAX_PIXELS };

/** A region edit away from the face: a green 120×90 block in the bottom-right corner. */
async function withRegionEdit(img: Buffer): Promise<Buffer> {
  const { width, height } = await sharp(img).metadata();
  const block = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#10d050' } }).png().toBuffer();
  return sharp(img)
    .composite([{ input: block, left: width! - 130, top: height! - 100 }])
    .png()
    .toBuffer();
}

/** The whole picture moved right by `d` px (left edge filled grey): every face shifts by d. */
async function translated(img: Buffer, d: number): Promise<Buffer> {
  const { width, height } = await sharp(img).metadata();
  const moved = await sharp(img).extend({ left: d, background: '#808080' }).png().toBuffer();
  return sharp(moved).extract({ left: 0, top: 0, width: width!, height: height! }).png().toBuffer();
}

let faceW = 0; // the detected astronaut face width, for the analytic IoU

beforeAll(async () => {
  const r = await runHardChecks(astronaut, await withRegionEdit(astronaut), opts);
  expect(r.source.faces).toHaveLength(1);
  faceW = r.source.faces[0]!.box[2];
});

describe('edits that keep the face in place pass the face rule', () => {
  it('the same pixels in another file: registration finds the identity, so IoU is exactly 1', async () => {
    const copy = await sharp(astronaut).webp({ lossless: true }).toBuffer();
    const r = await runHardChecks(astronaut, copy, opts);
    expect(r.faceCheck.minIoU).toBe(1);
    expect(r.faceCheck.matches[0]).toMatchObject({ method: 'registration', transform: { tx: 0, ty: 0, s: 1 } });
    expect(r.changeCheck.status).toBe('no_change');
  });

  it('a JPEG re-encode (q75): face pass, but only compression noise changed, so not passed', async () => {
    const r = await runHardChecks(astronaut, await sharp(astronaut).jpeg({ quality: 75 }).toBuffer(), opts);
    expect(r.faceCheck.status).toBe('pass');
    expect(r.faceCheck.minIoU).toBeGreaterThan(0.9);
    expect(['no_change', 'noise_only']).toContain(r.changeCheck.status);
    expect(r.passed).toBe(false);
  });

  it('a tone change plus a region edit: passes both rules', async () => {
    const edit = await sharp(await withRegionEdit(astronaut)).modulate({ brightness: 1.15, saturation: 0.7 }).gamma(1.4).jpeg({ quality: 90 }).toBuffer();
    const r = await runHardChecks(astronaut, edit, opts);
    expect(r.faceCheck.status).toBe('pass');
    expect(r.changeCheck.status).toBe('pass');
    expect(r.passed).toBe(true);
    // Registration settles the face alone (its box correlates enough to stand unconfirmed), so the
    // edit's detections could not change the verdict and the edit is not searched.
    expect(r.faceCheck.matches).toMatchObject([{ source: 0, edit: null, iou: r.faceCheck.minIoU, method: 'registration' }]);
    expect(r.faceCheck.editSearched).toBe(false);
    expect(r.edit.faces).toEqual([]);
    expect(r.faceCheck.minIoU).toBeGreaterThan(0.98); // measured by registration: the tone change does not move the box
    // Searched anyway (inspect), the detection found over the face is the one the match names, and the verdict is the same.
    const full = await runHardChecks(astronaut, edit, { ...opts, fullEditDetection: true });
    expect(full.faceCheck.editSearched).toBe(true);
    expect(full.faceCheck.matches).toMatchObject([{ source: 0, edit: 0, iou: r.faceCheck.minIoU, method: 'registration' }]);
  });

  it.each([
    ['black and white', (s: Sharp) => s.grayscale()],
    ['sepia', (s: Sharp) => s.recomb([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])],
    ['a 120° hue shift', (s: Sharp) => s.modulate({ hue: 120 })],
    ['a cool tint', (s: Sharp) => s.tint('#6080ff')],
  ])('a colour edit (%s): the face stays put', async (_name, edit) => {
    const r = await runHardChecks(astronaut, await edit(sharp(astronaut)).jpeg({ quality: 90 }).toBuffer(), opts);
    expect(r.faceCheck.status).toBe('pass');
    expect(r.changeCheck.status).toBe('pass');
  });

  it.each([0.6, 1.5])('a uniform resize ×%s: edit boxes come back in source pixels and match', async (k) => {
    const edit = await sharp(await withRegionEdit(astronaut)).resize(Math.round(512 * k)).jpeg({ quality: 90 }).toBuffer();
    const worker = await runHardChecks(astronaut, edit, opts);
    expect(worker.faceCheck.status).toBe('pass');
    expect(worker.faceCheck.matches[0]!.transform!.s).toBeCloseTo(1, 1); // the frame's scale is mapped before registration
    const r = await runHardChecks(astronaut, edit, { ...opts, fullEditDetection: true });
    expect(r.edit.width).toBe(Math.round(512 * k));
    expect(r.faceCheck.status).toBe('pass');
    const [sx, , sw] = r.source.faces[0]!.box;
    const [ex, , ew] = r.edit.faces[0]!.box;
    expect(Math.abs(ex - sx)).toBeLessThan(5);
    expect(Math.abs(ew - sw)).toBeLessThan(8);
    expect(r.passed).toBe(true);
  });

  it('an edit delivered EXIF-rotated (orientation 6) is compared upright', async () => {
    const stored = await sharp(await withRegionEdit(astronaut)).rotate(-90).png().toBuffer();
    const edit = await sharp(stored).jpeg({ quality: 92 }).withMetadata({ orientation: 6 }).toBuffer();
    const r = await runHardChecks(astronaut, edit, opts);
    expect(r.faceCheck.status).toBe('pass');
    expect(r.passed).toBe(true);
  });

  it('a 2 px shift (analytic IoU ≈ 0.96) still passes', async () => {
    const r = await runHardChecks(astronaut, await translated(astronaut, 2), opts);
    expect((faceW - 2) / (faceW + 2)).toBeGreaterThan(0.95);
    expect(r.faceCheck.status).toBe('pass');
  });
});

describe('edits that move or remove a face fail', () => {
  it.each([20, 35])('a translation by %s px: fail, with the IoU near the analytic (w−d)/(w+d)', async (d) => {
    const analytic = (faceW - d) / (faceW + d);
    expect(analytic).toBeLessThan(0.75);
    const r = await runHardChecks(astronaut, await translated(astronaut, d), opts);
    expect(r.faceCheck.status).toBe('fail');
    expect(r.faceCheck.minIoU!).toBeGreaterThan(analytic - 0.1);
    expect(r.faceCheck.minIoU!).toBeLessThan(analytic + 0.1);
    expect(r.passed).toBe(false);
  });

  it('a zoom (central 80 % blown up to full size): fail', async () => {
    const zoomed = await sharp(astronaut).extract({ left: 51, top: 51, width: 410, height: 410 }).resize(512, 512).png().toBuffer();
    const r = await runHardChecks(astronaut, zoomed, opts);
    // The face is still there, bigger and elsewhere: registration finds the zoom's scale (512 / 410).
    expect(r.faceCheck.matches[0]).toMatchObject({ method: 'registration' });
    expect(r.faceCheck.matches[0]!.transform!.s).toBeCloseTo(512 / 410, 1);
    expect(r.faceCheck.status).toBe('fail');
    const full = await runHardChecks(astronaut, zoomed, { ...opts, fullEditDetection: true });
    expect(full.edit.faces).toHaveLength(1);
    expect(full.faceCheck.minIoU).toBe(r.faceCheck.minIoU);
    expect(r.faceCheck.minIoU!).toBeLessThan(0.8);
  });

  it('the face painted out: fail, with the source face unmatched', async () => {
    const [x, y, w, h] = (await runHardChecks(astronaut, await withRegionEdit(astronaut), opts)).source.faces[0]!.box;
    const paint = await sharp({ create: { width: Math.round(w * 1.3), height: Math.round(h * 1.3), channels: 3, background: '#9a8070' } }).png().toBuffer();
    const edit = await sharp(astronaut).composite([{ input: paint, left: Math.round(x - 0.15 * w), top: Math.round(y - 0.15 * h) }]).png().toBuffer();
    const r = await runHardChecks(astronaut, edit, opts);
    expect(r.faceCheck.status).toBe('fail');
    // The region is found, but the face box no longer correlates with the source's: not kept.
    expect(r.faceCheck.matches).toMatchObject([{ source: 0, edit: null, iou: 0, method: 'registration', changed: true }]);
    expect(r.changeCheck.status).toBe('pass');
    expect(r.passed).toBe(false);
  });

  it('two faces, one moved: the pair fails and the match list says which', async () => {
    const half = await sharp(astronaut).resize(400).png().toBuffer();
    const pairOf = (rightShift: number) =>
      sharp({ create: { width: 800, height: 400, channels: 3, background: '#404040' } })
        .composite([
          { input: half, left: 0, top: 0 },
          { input: half, left: 400 + rightShift, top: 0 },
        ])
        .png()
        .toBuffer();
    const source = await pairOf(0);
    const edit = await sharp(await pairOf(0)).extract({ left: 0, top: 0, width: 800, height: 400 }).png().toBuffer();
    const moved = await sharp({ create: { width: 800, height: 400, channels: 3, background: '#404040' } })
      .composite([
        { input: half, left: 0, top: 0 },
        { input: await sharp(half).extract({ left: 0, top: 0, width: 370, height: 400 }).png().toBuffer(), left: 430, top: 0 },
      ])
      .png()
      .toBuffer();
    const same = await runHardChecks(source, edit, opts);
    expect(same.source.faces).toHaveLength(2);
    expect(same.faceCheck.status).toBe('pass');
    const r = await runHardChecks(source, moved, opts);
    expect(r.faceCheck.status).toBe('fail');
    const byX = r.faceCheck.matches.map((m) => ({ x: r.source.faces[m.source]!.box[0], iou: m.iou })).sort((a, b) => a.x - b.x);
    expect(byX[0]!.iou).toBeGreaterThan(0.9); // the left face stayed
    expect(byX[1]!.iou).toBeLessThan(0.75); // the right one moved 30 px
  });

  it('the background replaced around the face: registration cannot settle it, so the edit is searched and the detector measures it', async () => {
    const [x, y, w, h] = (await runHardChecks(astronaut, await withRegionEdit(astronaut), opts)).source.faces[0]!.box.map(Math.round) as [number, number, number, number];
    const face = await sharp(astronaut).extract({ left: x, top: y, width: w, height: h }).toBuffer();
    const edit = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#3070c0' } }).composite([{ input: face, left: x, top: y }]).png().toBuffer();
    const r = await runHardChecks(astronaut, edit, opts);
    expect(r.faceCheck.editSearched).toBe(true);
    expect(r.edit.faces).toHaveLength(1);
    expect(r.faceCheck.matches).toMatchObject([{ source: 0, edit: 0, method: 'detector' }]);
    expect(r.faceCheck.status).toBe('pass'); // the face itself did not move
  });

  it('an exempt category records the failure but does not fail the pair on it', async () => {
    const r = await runHardChecks(astronaut, await translated(astronaut, 35), { ...opts, exemptFaceCheck: true });
    expect(r.faceCheck.status).toBe('fail');
    expect(r.faceCheckExempt).toBe(true);
    expect(r.passed).toBe(true);
  });
});

describe('fullEditDetection (what inspect shows)', () => {
  it('lists a face added away from the source face, with the same verdict and IoU as the worker path', async () => {
    const small = await sharp(astronaut).resize(140).png().toBuffer();
    const edit = await sharp(astronaut).composite([{ input: small, left: 360, top: 360 }]).png().toBuffer();
    const worker = await runHardChecks(astronaut, edit, opts);
    const inspect = await runHardChecks(astronaut, edit, { ...opts, fullEditDetection: true });
    expect(inspect.faceCheck.status).toBe(worker.faceCheck.status);
    expect(inspect.faceCheck.minIoU).toBe(worker.faceCheck.minIoU);
    expect(inspect.faceCheck.status).toBe('pass');
    expect(worker.faceCheck.editSearched).toBe(false); // registration settled the face: nothing to confirm
    expect(worker.edit.faces).toEqual([]);
    expect(inspect.edit.faces).toHaveLength(2);
    expect(inspect.faceCheck.extraEditFaces).toBe(1);
    const added = inspect.edit.faces.find((f) => f.box[0] > 360)!;
    expect(added.box[0]).toBeLessThan(500);
  });
});

describe('photos without a person', () => {
  it.each(['chelsea.png', 'coffee.png', 'rocket.jpg'])('%s with a region edit: no_faces, passed', async (name) => {
    const src = fixture(name);
    const r = await runHardChecks(src, await withRegionEdit(src), opts);
    expect(r.faceCheck).toMatchObject({ status: 'no_faces', minIoU: null, matches: [] });
    expect(r.source.faces).toEqual([]);
    expect(r.changeCheck.status).toBe('pass');
    expect(r.passed).toBe(true);
  });
});

describe('the source kept across the candidates of a request', () => {
  it('gives the same report from a kept source as from a fresh decode', async () => {
    const edit = await withRegionEdit(astronaut);
    clearSourceCache();
    const cold = await runHardChecks(astronaut, edit, opts);
    const warm = await runHardChecks(astronaut, edit, opts);
    expect(warm).toEqual(cold);
    const other = await runHardChecks(astronaut, await translated(astronaut, 35), opts);
    expect(other.faceCheck.status).toBe('fail');
    expect(other.source).toEqual(cold.source);
  });
});

describe('bad inputs', () => {
  it('a truncated source throws ImageError naming the given subject, every time (failures are not kept)', async () => {
    for (const subject of ['blob:abc123', 'blob:fff000']) {
      const err = await runHardChecks(fixture('truncated.jpg'), astronaut, opts, { source: subject, edit: 'blob:def456' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).subject).toBe(subject);
    }
  });

  it('an edit over the pixel limit throws ImageError naming the edit', async () => {
    const big = await sharp(astronaut).resize(2000).jpeg().toBuffer();
    const err = await runHardChecks(astronaut, big, { ...opts, maxImagePixels: 1_000_000 }, { edit: 'edit.jpg' }).catch((e: unknown) => e);
    expect((err as ImageError).oneLine()).toMatch(/^edit\.jpg: too many pixels/);
  });
});

describe('check version', () => {
  const base = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: DEFAULT_MAX_PIXELS };
  it('names every rule with the detector version and the thresholds it runs with', () => {
    const v = checkVersion(base);
    expect(v).toBe(
      `${FACE_RULE_VERSION}/uncertain-fail(detector=${DETECTOR_VERSION}/fine,iou=0.9)+${CHANGE_RULE_VERSION}(px=40,noChange=${NO_CHANGE_FRACTION},minRegion=${MIN_REGION_FRACTION})` +
        `+${ARTIFACT_RULE_VERSION}(mode=on,fail=0.9)`,
    );
  });
  it('changes with the face threshold, the face search, the change threshold; not with the pixel limit or the exemption', () => {
    const v = checkVersion(base);
    expect(checkVersion({ ...base, faceIoUThreshold: 0.95 })).not.toBe(v);
    expect(checkVersion({ ...base, faceSearch: 'fast' })).not.toBe(v);
    expect(checkVersion({ ...base, changePixelThreshold: 30 })).not.toBe(v);
    expect(checkVersion({ ...base, faceUncertain: 'pass' })).not.toBe(v);
    expect(checkVersion({ ...base, artifactMode: 'record' })).not.toBe(v);
    expect(checkVersion({ ...base, maxImagePixels: 1000 })).toBe(v);
    expect(checkVersion({ ...base, exemptFaceCheck: true })).toBe(v);
  });
});
