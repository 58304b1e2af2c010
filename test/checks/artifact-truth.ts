/**
 * Ground truth for the artifact check, shared by its test and its bench. Positives: clean edits
 * from the built-in editor with its own 'checkerboard' defect added at chosen cells (periods
 * 2–16 px) and amplitudes, encoded as the editor encodes that defect (JPEG q90, 4:4:4).
 * Negatives: the clean edits themselves, of the photo fixtures and of the textured photographs
 * (brick, grass, gravel; and the brick wall shrunk so its courses repeat every few pixels).
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { checkerboard, decodeSource, renderDecoded, type RgbPixels } from '../../pipeline/builtin/editor.ts';
import { parseInstruction } from '../../pipeline/builtin/instruction-grammar.ts';
import { TWIN_INSTRUCTIONS } from '../builtin/twins.ts';

export const PHOTOS = ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'hubble_deep_field.jpg', 'rocket.jpg'];
/** Real photographs of periodic textures (CC0, see test/fixtures/images/LICENSES.md), and the brick wall at 1/2 and 1/4 scale. */
export const TEXTURES: { name: string; file: string; side: number }[] = [
  { name: 'brick', file: 'textures/brick.png', side: 384 },
  { name: 'brick 1/2', file: 'textures/brick.png', side: 256 },
  { name: 'brick 1/4', file: 'textures/brick.png', side: 128 },
  { name: 'grass', file: 'textures/grass.png', side: 384 },
  { name: 'gravel', file: 'textures/gravel.png', side: 384 },
];

export interface TruthSource {
  name: string;
  /** PNG bytes (lossless), `side` px on the long side. */
  bytes: Buffer;
  pixels: RgbPixels;
  textured: boolean;
}

export async function loadTruthSources(side = 384): Promise<TruthSource[]> {
  const items = [...PHOTOS.map((f) => ({ name: f, file: f, side, textured: false })), ...TEXTURES.map((t) => ({ ...t, side: Math.round((t.side * side) / 384), textured: true }))];
  return Promise.all(
    items.map(async (it) => {
      const bytes = await sharp(readFileSync(new URL(`../fixtures/images/${it.file}`, import.meta.url)))
        .resize({ width: it.side, height: it.side, fit: 'inside' })
        .png()
        .toBuffer();
      return { name: it.name, bytes, pixels: await decodeSource(bytes), textured: it.textured };
    }),
  );
}

export interface TruthCase {
  label: 'positive' | 'negative';
  source: TruthSource;
  instruction: string;
  /** Positives: the checkerboard's cell (px; period = 2·cell) and amplitude (grey levels). */
  cell?: number;
  amp?: number;
  /** The edit's encoded bytes. */
  edit: Buffer;
}

/** A clean edit by the built-in editor (strength 1, no defect), as pixels and as its JPEG. */
export async function cleanEdit(src: TruthSource, instruction: string): Promise<{ bytes: Buffer; pixels: RgbPixels }> {
  const spec = parseInstruction(instruction);
  if (!spec) throw new Error(`instruction not understood: ${instruction}`);
  const bytes = (await renderDecoded(src.pixels, spec, { strength: 1, defects: [] })).bytes;
  return { bytes, pixels: await decodeSource(bytes) };
}

/** The clean edit with the editor's checkerboard defect at `cell` and `amp`, encoded as the editor encodes that defect. */
export async function checkeredEdit(clean: RgbPixels, cell: number, amp: number): Promise<Buffer> {
  const out = checkerboard(clean, cell, amp);
  return sharp(out.data, { raw: { width: out.width, height: out.height, channels: 3 } }).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
}

/**
 * Every clean edit of every source (negatives), and for `positiveInstructions` of each source
 * the checkered edit at every cell × amplitude (positives).
 */
export async function buildTruth(
  sources: TruthSource[],
  opts: { negativeInstructions?: string[]; positiveInstructions: string[]; cells: number[]; amps: number[] },
): Promise<TruthCase[]> {
  const out: TruthCase[] = [];
  const negatives = opts.negativeInstructions ?? TWIN_INSTRUCTIONS;
  for (const source of sources) {
    for (const instruction of new Set([...negatives, ...opts.positiveInstructions])) {
      const clean = await cleanEdit(source, instruction);
      if (negatives.includes(instruction)) out.push({ label: 'negative', source, instruction, edit: clean.bytes });
      if (!opts.positiveInstructions.includes(instruction)) continue;
      for (const cell of opts.cells) {
        for (const amp of opts.amps) out.push({ label: 'positive', source, instruction, cell, amp, edit: await checkeredEdit(clean.pixels, cell, amp) });
      }
    }
  }
  return out;
}
