/**
 * Content-addressed blob store: `ROOT/ab/abcdef….ext`, named by the sha256 of the bytes. A write
 * goes to a temp file in the same folder and is renamed into place, so concurrent writers of the
 * same bytes (two workers retrying one stage) never leave a partial or corrupt file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { VibeError } from './errors/index.ts';

export interface StoredBlob {
  sha256: string;
  /** Path relative to the store root: `ab/abcdef….jpg`. What the database keeps. */
  key: string;
  bytes: number;
  /** False when the blob was already there (the write was a no-op). */
  created: boolean;
}

export function sha256Hex(bytes: Buffer | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const KEY_RE = /^[0-9a-f]{2}\/[0-9a-f]{64}\.[a-z0-9]{1,5}$/;

export class BlobStore {
  constructor(readonly root: string) {}

  /** Stores `bytes` under their hash with extension `ext` (`jpg`, `png`, …). Idempotent. */
  async put(bytes: Buffer, ext: string): Promise<StoredBlob> {
    const sha256 = sha256Hex(bytes);
    const cleanExt = ext.replace(/^\./, '').toLowerCase();
    const key = `${sha256.slice(0, 2)}/${sha256}.${cleanExt}`;
    const file = this.path(key);
    if (await isFileOfSize(file, bytes.length)) return { sha256, key, bytes: bytes.length, created: false };
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file); // atomic on one filesystem; the same bytes replace the same bytes
    } catch (err) {
      await rm(tmp, { force: true });
      throw new VibeError('INTERNAL', `cannot write blob: ${(err as Error).message}`, { subject: file, cause: err });
    }
    return { sha256, key, bytes: bytes.length, created: true };
  }

  /** Reads a blob by its key. */
  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      throw new VibeError('NOT_FOUND', `blob missing: ${(err as Error).message}`, { subject: key, cause: err });
    }
  }

  stream(key: string, opts?: { start?: number; end?: number }): Readable {
    return createReadStream(this.path(key), opts);
  }

  /** Absolute path of a key; refuses anything that is not a well-formed key (no traversal). */
  path(key: string): string {
    if (!KEY_RE.test(key)) throw new VibeError('BAD_INPUT', 'not a blob key', { subject: key });
    return path.join(this.root, key);
  }
}

async function isFileOfSize(file: string, size: number): Promise<boolean> {
  try {
    const s = await stat(file);
    return s.isFile() && s.size === size;
  } catch {
    return false;
  }
}
