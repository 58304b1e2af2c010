/**
 * A minimal, deterministic, streaming ustar writer for WebDataset shards. Every entry is a
 * regular file with mode 0644, uid/gid 0, empty user and group names and mtime 0, so the same
 * entries always give the same bytes. Data goes to a file handle in batches (each write awaited:
 * backpressure is the disk's) and is hashed on the way (in a worker thread, overlapping the
 * writes), so a shard's sha256 and size are known the moment it is closed without reading it back.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ImageError, InputError } from '../errors/index.ts';
import { OffThreadSha256 } from './hash-worker.ts';

export const TAR_BLOCK = 512;
/** Records of 20 blocks, as GNU tar and Python's tarfile write them. */
export const TAR_RECORD = 20 * TAR_BLOCK;
/** Bytes per arena (two per writer): one positional write and one hash message each. */
export const ARENA_BYTES = 8 * 1024 * 1024; // 8 MiB

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
  writeTarHeader(h, 0, name, size);
  return h;
}

/** Writes the header of `name` (`size` bytes) into `target` at `at`. */
export function writeTarHeader(target: Buffer, at: number, name: string, size: number): void {
  const h = target.subarray(at, at + TAR_BLOCK);
  h.fill(0);
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
}

interface Arena {
  sab: SharedArrayBuffer;
  buf: Buffer;
  used: number;
  /** Settles when the arena's last batch is written and hashed (then it may be refilled). */
  busy: Promise<void>;
}

const newArena = (size: number): Arena => {
  const sab = new SharedArrayBuffer(size);
  return { sab, buf: Buffer.from(sab), used: 0, busy: Promise.resolve() };
};

/**
 * Arenas of finished writers, reused by the next: the hash worker keeps a handle on every
 * shared buffer it was sent until it happens to collect garbage, so fresh arenas per shard
 * would pile up; reused ones cost nothing extra.
 */
const spare: Arena[] = [];
const takeArena = (): Arena => {
  const a = spare.pop() ?? newArena(ARENA_BYTES);
  a.used = 0;
  a.busy = Promise.resolve();
  return a;
};

/**
 * Writes one tar file. Call `add` / `addFile` for each member in order, then `close` (or
 * `abort`). Members are assembled in two shared-memory arenas of ARENA_BYTES: while one is
 * written (positional writes) and hashed (in the hash worker), the next fills. Files are read
 * straight into an arena, so memory stays at the two arenas and no garbage piles up per image.
 */
export class TarWriter {
  private readonly hash = new OffThreadSha256();
  private readonly arenas: [Arena, Arena] = [takeArena(), takeArena()];
  private cur = 0;
  /** Bytes handed to earlier batches (their file offset). */
  private flushed = 0;

  private constructor(private readonly fh: FileHandle) {}

  /** Creates (truncates) `file` for writing. */
  static async create(file: string): Promise<TarWriter> {
    return new TarWriter(await open(file, 'w'));
  }

  /** Bytes in the tar so far (headers and padding included). */
  get bytes(): number {
    return this.flushed + this.arenas[this.cur].used;
  }

  /** Appends a regular-file member with `data`. */
  async add(name: string, data: Buffer): Promise<void> {
    await this.member(name, data.length, (buf, off) => {
      data.copy(buf, off);
    });
  }

  /** Appends a regular-file member with the bytes of `file`, read straight into the arena. */
  async addFile(name: string, file: string): Promise<void> {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new ImageError(`cannot read: ${(err as Error).message}`, { subject: file, cause: err });
    }
    try {
      const size = fstatSync(fd).size;
      await this.member(name, size, (buf, off) => {
        let got = 0;
        while (got < size) {
          const n = readSync(fd, buf, off + got, size - got, got);
          if (n === 0) throw new ImageError(`file shrank while read (${got} of ${size} bytes)`, { subject: file });
          got += n;
        }
      });
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the end-of-archive blocks and record padding, closes the file; returns size and sha256. */
  async close(): Promise<{ bytes: number; sha256: string }> {
    const end = tarTotalBytes(this.bytes) - this.bytes;
    const a = (await this.room(end))!;
    a.buf.fill(0, a.used, a.used + end);
    a.used += end;
    this.flush(a);
    await Promise.all(this.arenas.map((x) => x.busy));
    spare.push(...this.arenas);
    await this.fh.close();
    return { bytes: this.flushed, sha256: await this.hash.digest() };
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    await Promise.all(this.arenas.map((x) => x.busy.catch(() => {})));
    spare.push(...this.arenas);
    this.hash.digest().catch(() => {}); // ends the worker's session
    await this.fh.close().catch(() => {});
  }

  private async member(name: string, size: number, fill: (buf: Buffer, off: number) => void): Promise<void> {
    const need = tarMemberBytes(size);
    const a = await this.room(need);
    const target = a ?? newArena(need); // a member larger than an arena gets a one-off arena
    if (!a) await Promise.all(this.arenas.map((x) => x.busy));
    writeTarHeader(target.buf, target.used, name, size);
    fill(target.buf, target.used + TAR_BLOCK);
    target.buf.fill(0, target.used + TAR_BLOCK + size, target.used + need);
    target.used += need;
    if (!a) {
      this.flush(target);
      await target.busy;
    }
  }

  /** The current arena if `need` bytes fit, after flushing it and switching when they do not; null if they never fit. */
  private async room(need: number): Promise<Arena | null> {
    let a = this.arenas[this.cur];
    if (a.used + need <= a.buf.length) return a;
    if (a.used) {
      this.flush(a);
      this.cur ^= 1;
      a = this.arenas[this.cur];
      await a.busy;
      a.used = 0;
    }
    return need <= a.buf.length ? a : null;
  }

  /** Starts writing and hashing `a`'s bytes at the next file offset. */
  private flush(a: Arena): void {
    const len = a.used;
    const position = this.flushed;
    this.flushed += len;
    const write = async () => {
      let off = 0;
      while (off < len) {
        const { bytesWritten } = await this.fh.write(a.buf, off, len - off, position + off);
        off += bytesWritten;
      }
    };
    a.busy = Promise.all([this.hash.update(a.sab, 0, len), write()]).then(() => undefined);
    a.busy.catch(() => {}); // surfaced when awaited
  }
}
