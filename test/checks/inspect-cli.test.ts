/**
 * `vibe-curate inspect` as a user runs it: the real CLI in a child process (JSON in the shape
 * ARCHITECTURE.md promises, a short summary, a bad image's exit 2 and one line), then the same
 * command function in-process for the many bad-input and configuration cases (each child
 * process costs seconds of start-up).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectPair, type InspectOptions } from '../../cli/inspect.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { describeError, exitCodeFor } from '../../pipeline/errors/index.ts';

const root = path.join(import.meta.dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/images');
const astronautPath = path.join(fixtures, 'astronaut.png');
const tmp = mkdtempSync(path.join(tmpdir(), 'vibe-inspect-'));
const file = (name: string) => path.join(tmp, name);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(JUDGE_|FACE_|CHANGE_|MAX_IMAGE)/.test(k)));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'bin/vibe-curate.mjs'), ...args],
      { cwd: root, env: { ...clean, DATA_DIR: path.join(tmp, 'data'), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const block = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#10d050' } }).png().toBuffer();
  writeFileSync(file('edit.jpg'), await sharp(astronautPath).composite([{ input: block, left: 380, top: 410 }]).jpeg({ quality: 90 }).toBuffer());
  writeFileSync(file('bright.jpg'), await sharp(astronautPath).modulate({ brightness: 1.3 }).jpeg({ quality: 90 }).toBuffer());
  const moved = await sharp(astronautPath).extend({ left: 20, background: '#808080' }).png().toBuffer();
  writeFileSync(file('moved.png'), await sharp(moved).extract({ left: 0, top: 0, width: 512, height: 512 }).png().toBuffer());
  writeFileSync(file('empty.jpg'), '');
  writeFileSync(file('notes.png'), 'this is text\n');
  const jpeg = await sharp(astronautPath).jpeg().toBuffer();
  writeFileSync(file('cut.jpg'), jpeg.subarray(0, jpeg.length - 3000));
  mkdirSync(file('folder.jpg'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('inspect --json', () => {
  it('prints one JSON object in the documented shape', async () => {
    const r = await cli(['inspect', '--source', astronautPath, '--edit', file('edit.jpg'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown> & {
      source: { width: number; height: number; faces: { box: number[]; score: number }[] };
      edit: { width: number; height: number; faces: { box: number[]; score: number }[] };
      faceCheck: { status: string; minIoU: number | null; threshold: number; matches: { source: number; edit: number | null; iou: number }[] };
      changeCheck: { status: string; changedFraction: number };
      artifactCheck: { status: string; score: number; period: number | null; region: { kind: string; box: number[] } | null };
      judge: unknown;
    };
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['source', 'edit', 'faceCheck', 'changeCheck', 'artifactCheck', 'judge']));
    expect(out.source).toMatchObject({ width: 512, height: 512 });
    expect(out.source.faces).toHaveLength(1);
    expect(Object.keys(out.source.faces[0]!).sort()).toEqual(['box', 'score']);
    expect(out.source.faces[0]!.box).toHaveLength(4);
    expect(out.edit.faces).toHaveLength(1);
    expect(out.faceCheck.status).toBe('pass');
    expect(out.faceCheck.threshold).toBe(0.9);
    expect(out.faceCheck.matches).toHaveLength(1);
    expect(out.faceCheck.matches[0]).toMatchObject({ source: 0, edit: 0 });
    expect(out.faceCheck.minIoU).toBeGreaterThan(0.9);
    expect(out.changeCheck.status).toBe('pass');
    expect(out.changeCheck.changedFraction).toBeGreaterThan(0.02);
    expect(out.artifactCheck.status).toBe('pass');
    expect(out.artifactCheck.score).toBeLessThan(0.9);
    expect(out.artifactCheck.period).toBeGreaterThanOrEqual(2);
    expect(out.artifactCheck.region?.box).toHaveLength(4);
    expect(out.judge).toBeNull();
    expect(out).not.toHaveProperty('faceCheck.editFacesInSourceCoords');
  });

  it('says per face how it was measured: registration with its confidence and transform, and the move it found', async () => {
    type Match = { iou: number; method: string; confidence: number; transform: { tx: number; ty: number; s: number } | null };
    const still = JSON.parse((await cli(['inspect', '--source', astronautPath, '--edit', file('bright.jpg'), '--json'])).stdout) as { faceCheck: { matches: Match[] } };
    const m = still.faceCheck.matches[0]!;
    expect(m.method).toBe('registration');
    expect(m.confidence).toBeGreaterThan(0.95);
    expect(Math.abs(m.transform!.tx) + Math.abs(m.transform!.ty)).toBeLessThan(0.5);
    expect(m.iou).toBeGreaterThan(0.98);
    // moved.png: the picture shifted 20 px to the right; the transform says so.
    const moved = JSON.parse((await cli(['inspect', '--source', astronautPath, '--edit', file('moved.png'), '--json'])).stdout) as { faceCheck: { status: string; matches: Match[] } };
    const mm = moved.faceCheck.matches[0]!;
    expect(mm.method).toBe('registration');
    expect(mm.transform!.tx).toBeCloseTo(20, 0);
    expect(mm.transform!.ty).toBeCloseTo(0, 0);
    expect(mm.transform!.s).toBeCloseTo(1, 2);
  });

});

describe('inspect without --json', () => {
  it('prints a short summary', async () => {
    const r = await cli(['inspect', '--source', astronautPath, '--edit', file('moved.png')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(8);
    expect(r.stdout).toMatch(/^grid {4}pass {2}score -?\d\.\d\d \(threshold 0\.9\)/m);
    expect(lines[0]).toMatch(/^source .*astronaut\.png {2}512×512, 1 face$/);
    expect(r.stdout).toMatch(/^faces {3}fail {2}min IoU 0\.\d{3} \(threshold 0\.9\)$/m);
    expect(r.stdout).toMatch(/^ {2}face 1 {2}IoU 0\.\d{3} by registration \(NCC (1\.000|0\.9\d\d)\), moved \+(19\.[5-9]\d|20\.[0-4]\d), [−+]0\.\d\d px, scale 1\.00\d$/m);
    expect(lines.at(-1)).toBe('verdict fails the hard checks');
  });
});

describe('bad inputs through the real CLI', () => {
  it('truncated.jpg: exit 2, nothing on stdout, one line naming the file', async () => {
    const bad = path.join(fixtures, 'truncated.jpg');
    const r = await cli(['inspect', '--source', bad, '--edit', astronautPath, '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^vibe-curate: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated JPEG[^\n]*\n$`));
  });
});

/** The command in-process, ending as main.ts ends it: exit code and the stderr line. */
async function inspectInProcess(opts: InspectOptions, env: Record<string, string> = {}) {
  try {
    return { code: 0, result: await inspectPair(opts, loadConfig({ DATA_DIR: path.join(tmp, 'data'), ...env })), line: '' };
  } catch (err) {
    return { code: exitCodeFor(err), result: null, line: `vibe-curate: ${describeError(err)}` };
  }
}

describe('bad inputs: exit 2 and one line naming the file', () => {
  it.each([
    ['a JPEG cut before FFD9', () => file('cut.jpg'), /truncated JPEG: no end-of-image marker/],
    ['zero bytes', () => file('empty.jpg'), /empty file/],
    ['a text file', () => file('notes.png'), /not an image/],
    ['a missing file', () => file('nope.jpg'), /no such file/],
    ['a directory', () => file('folder.jpg'), /is a directory/],
  ])('%s', async (_label, which, why) => {
    const bad = which();
    for (const opts of [
      { source: astronautPath, edit: bad },
      { source: bad, edit: astronautPath },
    ]) {
      const r = await inspectInProcess(opts);
      expect(r.code).toBe(2);
      expect(r.line.startsWith(`vibe-curate: ${bad}: `)).toBe(true);
      expect(r.line).toMatch(why);
      expect(r.line).not.toContain('\n');
    }
  });

  it('a pixel limit from MAX_IMAGE_PIXELS', async () => {
    const r = await inspectInProcess({ source: astronautPath, edit: file('edit.jpg') }, { MAX_IMAGE_PIXELS: '100000' });
    expect(r.code).toBe(2);
    expect(r.line).toBe(`vibe-curate: ${astronautPath}: too many pixels: 512×512 = 0.262 MP exceeds the limit of 0.100 MP`);
  });

  it('--judge without --instruction', async () => {
    const r = await inspectInProcess({ source: astronautPath, edit: file('edit.jpg'), judge: true });
    expect(r.code).toBe(2);
    expect(r.line).toBe('vibe-curate: --instruction: required with --judge');
  });
});

describe('configuration and the judge', () => {
  it('FACE_IOU_THRESHOLD is honoured: a 20 px move fails at 0.9 and passes at 0.5', async () => {
    const strict = await inspectInProcess({ source: astronautPath, edit: file('moved.png') });
    expect(strict.result!.faceCheck).toMatchObject({ status: 'fail', threshold: 0.9 });
    const loose = await inspectInProcess({ source: astronautPath, edit: file('moved.png') }, { FACE_IOU_THRESHOLD: '0.5' });
    expect(loose.result!.faceCheck).toMatchObject({ status: 'pass', threshold: 0.5 });
  });

  it('FACE_EXEMPT_CATEGORIES with --category: the failure is recorded, the pair not failed on it', async () => {
    const r = await inspectInProcess({ source: astronautPath, edit: file('moved.png'), category: 'portrait' }, { FACE_EXEMPT_CATEGORIES: 'portrait,style' });
    expect(r.result).toMatchObject({ faceCheckExempt: true, passed: true, faceCheck: { status: 'fail' } });
  });

  it('--judge uses the configured judge (built-in metric judge here) and adds its rubric and axes', async () => {
    const r = await inspectInProcess({ source: astronautPath, edit: file('bright.jpg'), instruction: 'Brighten the image', judge: true });
    expect(r.code).toBe(0);
    expect(r.result!.judge).toMatchObject({ ok: true, rubric: 'metric-v1' });
    const judge = r.result!.judge as { axes: Record<string, number> };
    for (const axis of ['instruction', 'preservation', 'quality']) {
      expect(judge.axes[axis]).toBeGreaterThanOrEqual(0);
      expect(judge.axes[axis]).toBeLessThanOrEqual(10);
    }
  });
});
