/**
 * A minimal, deterministic, streaming ustar writer for WebDataset shards. Every entry is a
 * regular file with mode 0644, uid/gid 0, empty user and group names and mtime 0, so the same
 * entries always give the same bytes. Data goes to a file handle in batches (each write awaited:
 * backpressure is the disk's) and is hashed on the way, so a shard's sha256 and size are known
 * the moment it is closed without reading it back.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '../errors/index.ts';

export const TAR_BLOCK = 512;
/** Records of 20 blocks, as GNU tar and Python's tarfile write them. */
export const TAR_RECORD = 20 * TAR_BLOCK;
const FLUSH_BYTES = 4 * 1024 * 1024; // 4 MiB per writev
const ZEROS = Buffer.alloc(TAR_RECORD);

/** Bytes one member of `size` bytes takes in a tar: its header plus data padded to 512. */
export function tarMemberBytes(size: number): number {
  return TAR_BLOCK + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/** Total size of a tar whose members take `memberBytes`: end blocks and record padding added. */
export function tarTotalBytes(memberBytes: number): number {
  return Math.ceil((memberBytes + 2 * TAR_BLOCK) / TAR_RECORD) * TAR_RECORD;
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  // width includes the trailing NUL: `width - 1` octal digits, zero-padded
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new InputError(`value ${value} does not fit a ${width}-byte tar field`);
  buf.write(digits.padStart(width - 1, '0'), offset, 'ascii');
  buf[offset + width - 1] = 0;
}

/** The 512-byte ustar header of a regular file. Names over 100 bytes use the prefix field. */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  let base = name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new InputError('tar member name too long', { subject: name });
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  writeOctal(h, 0o644, 100, 8); // mode
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, size, 124, 12); // size
  writeOctal(h, 0, 136, 12); // mtime
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii'); // typeflag: regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  // uname (265) and gname (297) stay empty
  writeOctal(h, 0, 329, 8); // devmajor
  writeOctal(h, 0, 337, 8); // devminor
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0'), 148, 'ascii');
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** Writes one tar file. Call `add` for each member in order, then `close` (or `abort`). */
export class TarWriter {
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;

  private constructor(private readonly fh: FileHandle) {}

  /** Creates (truncates) `file` for writing. */
  static async create(file: string): Promise<TarWriter> {
    return new TarWriter(await open(file, 'w'));
  }

  /** Bytes handed to the writer so far (headers and padding included). */
  get bytes(): number {
    return this.written + this.pendingBytes;
  }

  /** Appends a regular-file member. */
  async add(name: string, data: Buffer): Promise<void> {
    this.push(tarHeader(name, data.length));
    if (data.length) this.push(data);
    const pad = (TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK;
    if (pad) this.push(ZEROS.subarray(0, pad));
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush();
  }

  /** Writes the end-of-archive blocks and record padding, closes the file; returns size and sha256. */
  async close(): Promise<{ bytes: number; sha256: string }> {
    const end = tarTotalBytes(this.bytes) - this.bytes;
    for (let left = end; left > 0; left -= TAR_RECORD) this.push(ZEROS.subarray(0, Math.min(left, TAR_RECORD)));
    await this.flush();
    await this.fh.close();
    return { bytes: this.written, sha256: this.hash.digest('hex') };
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    this.pending = [];
    await this.fh.close().catch(() => {});
  }

  private push(buf: Buffer): void {
    this.hash.update(buf);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
  }

  private async flush(): Promise<void> {
    let bufs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    while (bufs.length) {
      // writev takes at most IOV_MAX (1024) buffers at a time
      const batch = bufs.slice(0, 1024);
      bufs = bufs.slice(1024);
      let total = 0;
      for (const b of batch) total += b.length;
      let { bytesWritten } = await this.fh.writev(batch);
      this.written += bytesWritten;
      // a short write: finish the rest buffer by buffer
      if (bytesWritten < total) {
        const rest = Buffer.concat(batch).subarray(bytesWritten);
        let off = 0;
        while (off < rest.length) {
          ({ bytesWritten } = await this.fh.write(rest, off));
          off += bytesWritten;
          this.written += bytesWritten;
        }
      }
    }
  }
}
