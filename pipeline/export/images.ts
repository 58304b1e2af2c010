/**
 * The bytes of a member image: the stored blob as it is when it is a JPEG and nothing asks for a
 * re-encode; otherwise decoded with sharp (EXIF orientation applied), shrunk to fit `maxSide`
 * when asked, and encoded as a baseline JPEG at quality 95, so `KEY.*.jpg` always holds a JPEG.
 * sharp runs on libuv's thread pool, so a few of these in flight at once use several cores.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type { BlobStore } from '../blobs.ts';
import { ImageError } from '../errors/index.ts';
import type { MemberRef } from './sample.ts';

export interface EncodeOptions {
  /** Longest side in pixels after re-encoding; images are never enlarged. */
  maxSide?: number;
  /** Re-encode JPEGs too (at quality 95). */
  reencodeJpeg?: boolean;
}

export const JPEG_QUALITY = 95;

const isJpegKey = (key: string) => /\.jpe?g$/i.test(key);

/** Whether `ref` goes through sharp under `enc` (false: copied byte for byte). */
export function needsEncode(ref: MemberRef, enc: EncodeOptions): boolean {
  return Boolean(enc.maxSide || enc.reencodeJpeg || !isJpegKey(ref.blobKey));
}

/** Reads (and maybe re-encodes) one member image. */
export async function loadImage(blobs: BlobStore, ref: MemberRef, enc: EncodeOptions): Promise<Buffer> {
  const file = blobs.path(ref.blobKey);
  let bytes: Buffer;
  try {
    // a synchronous read: for the small files of a local blob store one call beats fs.promises'
    // open/fstat/read/close round trips to the thread pool
    bytes = readFileSync(file);
  } catch (err) {
    throw new ImageError(`blob missing: ${(err as Error).message}`, { subject: file, cause: err });
  }
  if (!needsEncode(ref, enc)) return bytes;
  try {
    let img = sharp(bytes, { failOn: 'error' }).rotate();
    if (enc.maxSide) img = img.resize({ width: enc.maxSide, height: enc.maxSide, fit: 'inside', withoutEnlargement: true });
    return await img.jpeg({ quality: JPEG_QUALITY, mozjpeg: false, progressive: false, chromaSubsampling: '4:2:0' }).toBuffer();
  } catch (err) {
    throw new ImageError(`cannot re-encode: ${(err as Error).message}`, { subject: file, cause: err });
  }
}

/**
 * Maps `items` through `fn` with at most `window` calls in flight, yielding results in input
 * order. Memory holds at most `window` results.
 */
export async function* orderedMap<T, R>(items: Iterable<T>, fn: (item: T) => Promise<R>, window: number): AsyncGenerator<R> {
  const inflight: Promise<R>[] = [];
  const it = items[Symbol.iterator]();
  let done = false;
  const fill = () => {
    while (!done && inflight.length < window) {
      const next = it.next();
      if (next.done) {
        done = true;
        break;
      }
      const p = fn(next.value);
      p.catch(() => {}); // surfaced when awaited in order
      inflight.push(p);
    }
  };
  fill();
  while (inflight.length) {
    const head = inflight.shift()!;
    const value = await head;
    fill();
    yield value;
  }
}
