/**
 * The grid-artifact check against its ground truth (artifact-truth.ts): the built-in editor's
 * checkerboard defect at periods 2–16 px and amplitudes from 6 grey levels must be found (recall
 * ≥ 95 %), clean edits of the same photos and of textured photographs must not be (≤ 1 %); and
 * through `runHardChecks`, what ARTIFACT_CHECK=on|record|off does to the verdict.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ARTIFACT_RULE_VERSION, artifactCheck } from '../../pipeline/checks/artifact-check.ts';
import { changeCheck } from '../../pipeline/checks/change-check.ts';
import { checkVersion, runHardChecks, type HardCheckOptions } from '../../pipeline/checks/index.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { decodeImage } from '../../pipeline/images.ts';
import { buildTruth, checkeredEdit, cleanEdit, loadTruthSources } from './artifact-truth.ts';
import { DEFAULT_MAX_PIXELS } from '../../pipeline/images.ts';

const opts: HardCheckOptions = { faceIoUThreshold: 0.9, changePixelThreshold: 40, maxImagePixels: DEFAULT_MAX_PIXELS };

describe('artifact check: ground truth', () => {
  it('finds ≥ 95 % of checkerboards (periods 2–16, amplitude ≥ 6) and flags ≤ 1 % of clean edits, textured photos included', async () => {
    const all = await loadTruthSources(256);
    const sources = all.filter((s) => ['astronaut.png', 'coffee.png', 'hubble_deep_field.jpg', 'brick', 'brick 1/4', 'grass', 'gravel'].includes(s.name));
    const cases = await buildTruth(sources, {
      negativeInstructions: ['Brighten the image', 'Increase the contrast', 'Sharpen the details', 'Posterize it to 4 levels like a pop-art print', 'Mirror the image horizontally', 'Zoom in 1.5x on the center', 'Rotate the image 90 degrees clockwise', 'Invert the colors like a film negative'],
      positiveInstructions: ['Make the colors warmer, like golden hour', 'Flip it upside down vertically'],
      cells: [1, 2, 3, 4, 5, 6, 7, 8],
      amps: [6, 12],
    });
    let tp = 0;
    let pos = 0;
    let fp = 0;
    let neg = 0;
    const periods = new Set<number>();
    for (const c of cases) {
      const [src, edit] = await Promise.all([decodeImage(c.source.bytes, c.source.name), decodeImage(c.edit, 'edit')]);
      const cc = await changeCheck(src, edit, { pixelThreshold: 40 });
      const r = artifactCheck(src, edit, { changeBox: cc.largestComponentBox, faceBoxes: [] }, 'on');
      if (c.label === 'positive') {
        pos++;
        if (r.status === 'fail') {
          tp++;
          if (r.period === 2 * c.cell!) periods.add(r.period);
        }
      } else {
        neg++;
        if (r.status === 'fail') fp++;
      }
    }
    expect(pos).toBe(7 * 2 * 8 * 2);
    expect(neg).toBe(7 * 8);
    expect(tp / pos).toBeGreaterThanOrEqual(0.95);
    expect(fp / neg).toBeLessThanOrEqual(0.01);
    // It names the period it found: every injected period 2–16 px is reported right at least once.
    expect([...periods].sort((a, b) => a - b)).toEqual([2, 4, 6, 8, 10, 12, 14, 16]);
  }, 120_000);

  it("a texture the source already shows is not a grid: brick's own courses pass, the same brick with a checkerboard fails", async () => {
    const [brick] = await loadTruthSources(384).then((s) => s.filter((x) => x.name === 'brick 1/4'));
    const clean = await cleanEdit(brick!, 'Increase the contrast');
    const src = await decodeImage(brick!.bytes, 'brick');
    const ok = artifactCheck(src, await decodeImage(clean.bytes, 'edit'), { changeBox: null, faceBoxes: [] }, 'on');
    expect(ok.status).toBe('pass');
    const bad = artifactCheck(src, await decodeImage(await checkeredEdit(clean.pixels, 3, 8), 'edit'), { changeBox: null, faceBoxes: [] }, 'on');
    expect(bad).toMatchObject({ status: 'fail', period: 6, pattern: 'checker', region: { kind: 'image' } });
  });
});

describe('artifact check in the hard checks', () => {
  const astronaut = readFileSync(new URL('../fixtures/images/astronaut.png', import.meta.url));

  async function checkered(amp: number): Promise<Buffer> {
    const src = await loadTruthSources(512).then((s) => s.find((x) => x.name === 'astronaut.png')!);
    return checkeredEdit((await cleanEdit(src, 'Make the colors warmer, like golden hour')).pixels, 2, amp);
  }

  it('on: a checkered edit fails the hard checks although faces and change pass; the face region is measured', async () => {
    const r = await runHardChecks(astronaut, await checkered(8), { ...opts, artifactMode: 'on' });
    expect(r.faceCheck.status).toBe('pass');
    expect(r.changeCheck.status).toBe('pass');
    expect(r.artifactCheck).toMatchObject({ status: 'fail', period: 4, pattern: 'checker', enforced: true, mode: 'on', ruleVersion: ARTIFACT_RULE_VERSION });
    expect(['change', 'face']).toContain(r.artifactCheck.region!.kind);
    expect(r.passed).toBe(false);
  });

  it('record: the same edit is measured and stored as a fail but passes; off: not measured', async () => {
    const edit = await checkered(8);
    const rec = await runHardChecks(astronaut, edit, { ...opts, artifactMode: 'record' });
    expect(rec.artifactCheck).toMatchObject({ status: 'fail', enforced: false, mode: 'record' });
    expect(rec.passed).toBe(true);
    const off = await runHardChecks(astronaut, edit, { ...opts, artifactMode: 'off' });
    expect(off.artifactCheck).toMatchObject({ status: 'off', score: 0, period: null, region: null, enforced: false });
    expect(off.passed).toBe(true);
  });

  it('a clean edit of the face photo passes', async () => {
    const clean = await sharp(astronaut).modulate({ brightness: 1.2 }).jpeg({ quality: 90 }).toBuffer();
    const r = await runHardChecks(astronaut, clean, { ...opts, artifactMode: 'on' });
    expect(r.artifactCheck.status).toBe('pass');
    expect(r.artifactCheck.score).toBeLessThan(r.artifactCheck.threshold);
    expect(r.passed).toBe(true);
  });

  it('the check version depends on the mode; ARTIFACT_CHECK is parsed and refused when bad', () => {
    const on = checkVersion({ ...opts, artifactMode: 'on' });
    const record = checkVersion({ ...opts, artifactMode: 'record' });
    const off = checkVersion({ ...opts, artifactMode: 'off' });
    expect(on).toContain(`+${ARTIFACT_RULE_VERSION}(mode=on,`);
    expect(record).toContain(`+${ARTIFACT_RULE_VERSION}(mode=record,`);
    expect(off).not.toContain(ARTIFACT_RULE_VERSION);
    expect(new Set([on, record, off]).size).toBe(3);
    expect(loadConfig({}).checks.artifactMode).toBe('on');
    expect(loadConfig({ ARTIFACT_CHECK: 'record' }).checks.artifactMode).toBe('record');
    expect(() => loadConfig({ ARTIFACT_CHECK: 'maybe' })).toThrow('ARTIFACT_CHECK=maybe: expected on, off or record');
  });
});
