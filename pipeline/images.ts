/**
 * Image validation and decoding for the hard checks (and anyone else who takes an image from
 * outside). `probeImage` reads only the header and the file's tail, so it is cheap enough to
 * run on every input; `decodeImage` gives raw 8-bit sRGB with the EXIF orientation applied.
 *
 * What is accepted:
 * - JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF (whatever this sharp build reads).
 * - CMYK, 16-bit, grayscale and palette images are converted to 8-bit sRGB on decode; alpha is
 *   flattened onto white (transparent pixels often hold arbitrary colour).
 * - Animated GIF/WebP: the first frame is used (an edit of a still frame is still an edit);
 *   `ImageInfo.pages` says how many frames there were. The pixel limit counts the first frame.
 *
 * What is refused with `ImageError` (subject = the file or id given): an empty file, bytes that
 * are not an image, a truncated file (JPEG without its FFD9 end marker, PNG without IEND, GIF
 * without its trailer, WebP shorter than its RIFF header says — a resize can silently miss a cut
 * tail, so the tail is checked explicitly), and images over `maxPixels` (decompression bombs).
 */
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { ImageError, InputError } from './errors/index.ts';
import { DEFAULT_MAX_PIXELS } from './limits.ts';

export { DEFAULT_MAX_PIXELS };

export interface ImageInfo {
  format: string;
  /** Pixels, after the EXIF orientation is applied. */
  width: number;
  height: number;
  /** Frames in an animated image (1 for a still). Only the first is decoded. */
  pages?: number;
}

/** Raw interleaved RGB, 8 bits per channel, EXIF orientation applied. */
export interface DecodedImage extends ImageInfo {
  data: Buffer;
  channels: 3;
}

const ACCEPTED = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif']);

/** Checks the bytes are a complete, decodable-looking image within the pixel limit. */
export async function probeImage(bytes: Buffer, subject: string, opts: { maxPixels?: number } = {}): Promise<ImageInfo> {
  return (await probe(bytes, subject, opts)).info;
}

/** probeImage plus whether decoding needs a conversion to reach 8-bit sRGB, 3 channels. */
async function probe(bytes: Buffer, subject: string, opts: { maxPixels?: number }): Promise<{ info: ImageInfo; plain: boolean }> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new ImageError('empty file (0 bytes)', { subject });
  let meta: Metadata;
  try {
    // limitInputPixels: false here: the limit is checked below with a clearer message.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    const sniffed = sniff(bytes);
    const why = sniffed
      ? `${/premature end|truncated/i.test(firstLine(err)) ? 'truncated' : 'corrupt'} ${sniffed} (${firstLine(err)})`
      : `not an image (${firstLine(err)})`;
    throw new ImageError(why, { subject, cause: err });
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED.has(format)) throw new ImageError(`unsupported image format ${format}`, { subject });
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w <= 0 || h <= 0) throw new ImageError(`image has no pixels (${w}×${h})`, { subject });
  if (w * h > maxPixels) {
    throw new ImageError(`too many pixels: ${w}×${h} = ${mp(w * h)} MP exceeds the limit of ${mp(maxPixels)} MP`, { subject });
  }
  const cut = truncation(bytes, format);
  if (cut) throw new ImageError(`truncated ${format.toUpperCase()}: ${cut}`, { subject });
  const swap = (meta.orientation ?? 1) >= 5;
  const plain = !meta.hasAlpha && meta.space === 'srgb' && meta.depth === 'uchar' && meta.channels === 3 && !meta.icc;
  return { info: { format, width: swap ? h : w, height: swap ? w : h, pages: meta.pages ?? 1 }, plain };
}

/**
 * Validates and decodes to raw 8-bit sRGB (3 channels), EXIF orientation applied, alpha
 * flattened onto white. `maxSide` downsizes (never enlarges) so the long side is at most that.
 */
export async function decodeImage(
  bytes: Buffer,
  subject: string,
  opts: { maxPixels?: number; maxSide?: number } = {},
): Promise<DecodedImage> {
  const { info, plain } = await probe(bytes, subject, opts);
  try {
    let pipe = sharp(bytes, { limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS, failOn: 'truncated' }).rotate();
    // Already 8-bit sRGB without alpha or a profile: skip the conversions (a third of the decode time).
    if (!plain) pipe = pipe.flatten({ background: '#ffffff' }).toColourspace('srgb');
    if (opts.maxSide && Math.max(info.width, info.height) > opts.maxSide) {
      pipe = pipe.resize({ width: opts.maxSide, height: opts.maxSide, fit: 'inside', withoutEnlargement: true });
    }
    const { data, info: out } = await pipe.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (out.channels !== 3) throw new Error(`decoder gave ${out.channels} channels`);
    return { format: info.format, width: out.width, height: out.height, pages: info.pages, data, channels: 3 };
  } catch (err) {
    throw new ImageError(`cannot decode ${info.format.toUpperCase()} (${firstLine(err)})`, { subject, cause: err });
  }
}

/** 256 MiB: a larger file is refused before it is read into memory. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Reads a file and probes it. Missing files and directories are InputError; bad contents (and
 * files over `maxBytes`) are ImageError; both name the path.
 */
export async function readImageFile(path: string, opts: { maxPixels?: number; maxBytes?: number } = {}): Promise<Buffer> {
  let bytes: Buffer;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new InputError('is a directory, expected an image file', { subject: path });
    if (st.size > maxBytes) throw new ImageError(`file too large: ${st.size} bytes, the limit is ${maxBytes}`, { subject: path });
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof InputError || err instanceof ImageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : firstLine(err);
    throw new InputError(why, { subject: path, cause: err });
  }
  await probeImage(bytes, path, opts);
  return bytes;
}

/** Why the file looks cut short, or null when its tail is intact. Cheap: looks at the tail only. */
function truncation(bytes: Buffer, format: string): string | null {
  switch (format) {
    case 'jpeg': {
      const end = trimPadding(bytes);
      if (end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9) return null;
      // Data appended after the image (motion photos, vendor trailers): accept when an end
      // marker follows the last start-of-scan marker.
      const eoi = bytes.lastIndexOf(EOI);
      const sos = bytes.lastIndexOf(SOS);
      if (eoi > 0 && sos > 0 && eoi > sos) return null;
      return 'no end-of-image marker (FFD9)';
    }
    case 'png': {
      const at = bytes.lastIndexOf(IEND, Math.max(0, bytes.length - 1));
      return at >= 0 && at + 8 <= bytes.length ? null : 'no IEND chunk';
    }
    case 'gif':
      return bytes[trimPadding(bytes) - 1] === 0x3b ? null : 'no trailer byte (3B)';
    case 'webp': {
      if (bytes.length < 12) return 'shorter than its header';
      const declared = bytes.readUInt32LE(4) + 8;
      return bytes.length >= declared ? null : `RIFF header declares ${declared} bytes, file has ${bytes.length}`;
    }
    default:
      return null; // TIFF/HEIF: offsets are checked by the decoder (failOn: 'truncated')
  }
}

const EOI = Buffer.from([0xff, 0xd9]);
const SOS = Buffer.from([0xff, 0xda]);
const IEND = Buffer.from('IEND', 'latin1');

/** End index with trailing zero/newline padding removed (some writers pad files). */
function trimPadding(bytes: Buffer): number {
  let end = bytes.length;
  const floor = Math.max(0, end - 4096);
  while (end > floor && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return end;
}

/** The format the first bytes announce, for a clearer message when the header is broken. */
function sniff(b: Buffer): string | null {
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xd8) return 'JPEG';
  if (b.length >= 4 && b.readUInt32BE(0) === 0x89504e47) return 'PNG';
  if (b.length >= 4 && b.toString('latin1', 0, 4) === 'GIF8') return 'GIF';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'WebP';
  return null;
}

function mp(pixels: number): string {
  return (pixels / 1e6).toFixed(pixels < 1e6 ? 3 : 1);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}
