/**
 * Manifest lines: `{"image": "path/or/url", "instruction": "text", "category": "optional"}`,
 * one JSON object per line. Parsed one line at a time (streamed with readline), each result
 * carrying its 1-based line number so a bad line is reported as `FILE:LINE: why`.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors/index.ts';

export interface ManifestEntry {
  /** 1-based line number in the manifest. */
  line: number;
  /** The image field as written (what `sources.origin` keeps). */
  image: string;
  instruction: string;
  category: string;
}

export type ManifestLine = { ok: true; entry: ManifestEntry } | { ok: false; line: number; error: string };

/** Longest accepted instruction, characters. */
export const MAX_INSTRUCTION_CHARS = 2000;

/** Parses one manifest line; `null` for a blank line (skipped silently). */
export function parseManifestLine(text: string, line: number): ManifestLine | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    return { ok: false, line, error: `bad JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, line, error: 'expected a JSON object' };
  const o = value as Record<string, unknown>;
  if (o.image === undefined) return { ok: false, line, error: 'image: missing' };
  if (typeof o.image !== 'string' || o.image.trim() === '') return { ok: false, line, error: 'image: expected a non-empty string (path or http(s) URL)' };
  if (o.instruction === undefined) return { ok: false, line, error: 'instruction: missing' };
  if (typeof o.instruction !== 'string' || o.instruction.trim() === '') return { ok: false, line, error: 'instruction: expected a non-empty string' };
  if (o.instruction.length > MAX_INSTRUCTION_CHARS) return { ok: false, line, error: `instruction: longer than ${MAX_INSTRUCTION_CHARS} characters` };
  if (o.category !== undefined && o.category !== null && typeof o.category !== 'string') return { ok: false, line, error: 'category: expected a string' };
  return {
    ok: true,
    entry: { line, image: o.image.trim(), instruction: o.instruction.trim(), category: typeof o.category === 'string' ? o.category.trim() : '' },
  };
}

/** Streams a manifest file's parsed lines (blank lines skipped). Throws InputError when the file cannot be opened. */
export async function* readManifest(file: string): AsyncGenerator<ManifestLine> {
  const s = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(err.code === 'ENOENT' ? 'no such file' : `cannot read: ${err.message}`, { subject: file, cause: err });
  });
  if (!s.isFile()) throw new InputError('not a file', { subject: file });
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    const parsed = parseManifestLine(line === 1 ? text.replace(/^\uFEFF/, '') : text, line);
    if (parsed) yield parsed;
  }
}

/** Parses in-memory manifest lines (run-local, tests). */
export function* parseManifestLines(lines: Iterable<string>): Generator<ManifestLine> {
  let line = 0;
  for (const text of lines) {
    line++;
    const parsed = parseManifestLine(text, line);
    if (parsed) yield parsed;
  }
}

export type ImageRef = { kind: 'url'; url: string } | { kind: 'file'; path: string };

/** An image field is an http(s) URL or a path, relative paths taken from the manifest's folder. */
export function resolveImageRef(image: string, baseDir: string): ImageRef {
  if (/^https?:\/\//i.test(image)) return { kind: 'url', url: image };
  if (/^file:\/\//i.test(image)) {
    try {
      return { kind: 'file', path: fileURLToPath(image) };
    } catch (err) {
      throw new InputError(`bad file URL: ${(err as Error).message}`, { subject: image, cause: err });
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(image)) throw new InputError('unsupported URL scheme (expected http, https, file or a path)', { subject: image });
  return { kind: 'file', path: path.resolve(baseDir, image) };
}
