/**
 * Twin candidates for the metric judge: the built-in editor renders the same edit of the same
 * source twice, clean and with one known defect, and the judge must rank the clean one higher
 * on the axis the defect hurts (weak/overdone → instruction, shift/zoom → preservation,
 * checkerboard/noise/blocky → quality). Shared by the test and the bench.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { DEFECTS, renderEdit, variantForSeed, type Defect, type EditVariant } from '../../pipeline/builtin/editor.ts';
import { parseInstruction, type EditOp } from '../../pipeline/builtin/instruction-grammar.ts';
import type { AxisName, Judge, Judgment } from '../../pipeline/judge/index.ts';

export const TWIN_IMAGES = ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'hubble_deep_field.jpg', 'rocket.jpg'];

/** One instruction per op of the built-in grammar, in EDIT_OPS order. */
export const TWIN_INSTRUCTIONS: string[] = [
  'Convert the photo to black and white',
  'Give it a sepia tone like an old photograph',
  'Make the colors warmer, like golden hour',
  'Give the image a cooler, bluish tint',
  'Brighten the image',
  'Make it darker, as if taken at dusk',
  'Increase the contrast',
  'Reduce the contrast for a faded matte look',
  'Make the colors more vivid',
  'Mute the colors',
  'Shift the hue by 120 degrees',
  'Blur the whole picture',
  'Sharpen the details',
  'Posterize it to 4 levels like a pop-art print',
  'Add a thick red border around the picture',
  'Add a caption that says "Hello world" at the bottom',
  'Mirror the image horizontally',
  'Flip it upside down vertically',
  'Rotate the image 90 degrees clockwise',
  'Zoom in 1.5x on the center',
  'Invert the colors like a film negative',
];

export const HURT_AXIS: Record<Defect, AxisName> = {
  weak: 'instruction',
  overdone: 'instruction',
  shift: 'preservation',
  zoom: 'preservation',
  checkerboard: 'quality',
  noise: 'quality',
  blocky: 'quality',
};

/** The fixture images, downscaled to `side` px on the long side (PNG, lossless). */
export async function loadTwinSources(side = 256, names = TWIN_IMAGES): Promise<{ name: string; bytes: Buffer }[]> {
  return Promise.all(
    names.map(async (name) => ({
      name,
      bytes: await sharp(readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url)))
        .resize({ width: side, height: side, fit: 'inside' })
        .png()
        .toBuffer(),
    })),
  );
}

/** The `k`-th seed (from 1) whose variant carries `defect`, as variantForSeed draws it: realistic strengths and magnitudes. */
export function defectVariant(defect: Defect, k: number): EditVariant {
  let found = 0;
  for (let seed = 1; seed < 100_000; seed++) {
    const v = variantForSeed(seed);
    if (v.defects[0] === defect && ++found === k) return v;
  }
  throw new Error(`no seed with defect ${defect}`);
}

export interface TwinResult {
  image: string;
  instruction: string;
  op: EditOp;
  defect: Defect;
  axis: AxisName;
  clean: Judgment;
  defective: Judgment;
  /** Mean absolute pixel difference between the two renders (levels); below 0.5 the defect did not show. */
  visibleDiff: number;
  /** Clean strictly above defective on the hurt axis. */
  win: boolean;
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((buf) => sharp(buf).removeAlpha().raw().toBuffer()));
  if (x!.length !== y!.length) return Infinity;
  let s = 0;
  for (let i = 0; i < x!.length; i++) s += Math.abs(x![i]! - y![i]!);
  return s / x!.length;
}

/** Renders and judges every (image × instruction × defect) twin; the defect variant cycles through seeds so magnitudes vary. */
export async function runTwins(
  judge: Judge,
  sources: { name: string; bytes: Buffer }[],
  instructions: string[],
  defects: readonly Defect[] = DEFECTS,
): Promise<TwinResult[]> {
  const out: TwinResult[] = [];
  let k = 0;
  for (const src of sources) {
    for (const instruction of instructions) {
      const spec = parseInstruction(instruction);
      if (!spec) throw new Error(`instruction not understood: ${instruction}`);
      const cleanCache = new Map<number, { bytes: Buffer; j: Judgment }>();
      for (const defect of defects) {
        k++;
        const v = defectVariant(defect, 1 + (k % 7));
        const cleanStrength = defect === 'weak' || defect === 'overdone' ? 1 : v.strength;
        let clean = cleanCache.get(cleanStrength);
        if (!clean) {
          const bytes = (await renderEdit(src.bytes, spec, { strength: cleanStrength, defects: [] })).bytes;
          clean = { bytes, j: await judge.judge({ source: src.bytes, edit: bytes, instruction }) };
          cleanCache.set(cleanStrength, clean);
        }
        const bad = (await renderEdit(src.bytes, spec, v)).bytes;
        const defective = await judge.judge({ source: src.bytes, edit: bad, instruction });
        const axis = HURT_AXIS[defect];
        const win = clean.j.ok && defective.ok && clean.j.axes[axis] > defective.axes[axis];
        out.push({ image: src.name, instruction, op: spec.op, defect, axis, clean: clean.j, defective, visibleDiff: await meanAbsDiff(clean.bytes, bad), win });
      }
    }
  }
  return out;
}

/** Twins whose defect actually changed the pixels (the others cannot be told apart by anyone). */
export const visible = (t: TwinResult): boolean => t.visibleDiff >= 0.5;
