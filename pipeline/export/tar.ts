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
/** Bytes per arena: one positional write and one hash message each. */
export const ARENA_BYTES = 8 * 1024 * 1024; // 8 MiB
/**
 * Arenas in the process: while one fills, up to three full ones are being written and hashed
 * (test/bench/README.md has the measurements behind the number).
 */
export const ARENAS = 4;

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

/**
 * The constant part of every header: mode 0644, uid/gid 0, mtime 0, typeflag `0`, `ustar\0`
 * `00`, devmajor/devminor 0, the checksum field as spaces; name, size and prefix left zero.
 * A header is this template plus those three fields and the checksum, so writing one allocates
 * nothing.
 */
const TEMPLATE = (() => {
  const h = Buffer.alloc(TAR_BLOCK);
  writeOctal(h, 0o644, 100, 8); // mode
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, 0, 136, 12); // mtime
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii'); // typeflag: regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  // uname (265) and gname (297) stay empty
  writeOctal(h, 0, 329, 8); // devmajor
  writeOctal(h, 0, 337, 8); // devminor
  return h;
})();
const TEMPLATE_SUM = TEMPLATE.reduce((n, b) => n + b, 0);
/** Largest size the 11 octal digits of the size field hold. */
const MAX_SIZE = 8 ** 11 - 1;

/** The 512-byte ustar header of a regular file. Names over 100 bytes use the prefix field. */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  writeTarHeader(h, 0, name, size);
  return h;
}

/** Writes the header of `name` (`size` bytes) into `target` at `at`. */
export function writeTarHeader(target: Buffer, at: number, name: string, size: number): void {
  if (!(size >= 0 && size <= MAX_SIZE)) throw new InputError(`value ${size} does not fit a 12-byte tar field`);
  let base = name;
  let prefix = '';
  if (name.length > 33 && Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new InputError('tar member name too long', { subject: name });
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  TEMPLATE.copy(target, at);
  let sum = TEMPLATE_SUM;
  const n = target.write(base, at, 100, 'utf8');
  for (let i = at; i < at + n; i++) sum += target[i]!;
  if (prefix) {
    const p = target.write(prefix, at + 345, 155, 'utf8');
    for (let i = at + 345; i < at + 345 + p; i++) sum += target[i]!;
  }
  // size: 11 octal digits and a NUL (the template's)
  let v = size;
  for (let i = at + 134; i >= at + 124; i--) {
    const d = 48 + (v % 8);
    target[i] = d;
    sum += d;
    v = Math.floor(v / 8);
  }
  // checksum: 6 octal digits, NUL, space
  for (let i = at + 153; i >= at + 148; i--) {
    target[i] = 48 + (sum & 7);
    sum >>= 3;
  }
  target[at + 154] = 0;
  target[at + 155] = 0x20;
}

interface Arena {
  sab: SharedArrayBuffer;
  buf: Buffer;
  used: number;
}

const newArena = (size: number): Arena => {
  const sab = new SharedArrayBuffer(size);
  return { sab, buf: Buffer.from(sab), used: 0 };
};

/**
 * The process's arenas, shared by all writers (a shard still finishing and the next one filling):
 * at most ARENAS of them, so memory is the same whatever the export size. Reused rather than
 * freed: the hash worker keeps a handle on every shared buffer it was sent until it happens to
 * collect garbage, so fresh arenas per shard would pile up.
 */
const pool = { free: [] as Arena[], created: 0, waiting: [] as ((a: Arena) => void)[] };

/** Stands for "no current arena" (between handing one on and getting the next, and after `end`). */
const NO_ARENA: Arena = { sab: new SharedArrayBuffer(0), buf: Buffer.alloc(0), used: 0 };

/** A free arena (waits for one when all ARENAS are in use). */
function acquire(): Arena | Promise<Arena> {
  const a = pool.free.pop() ?? (pool.created < ARENAS ? (pool.created++, newArena(ARENA_BYTES)) : undefined);
  if (a) {
    a.used = 0;
    return a;
  }
  return new Promise((resolve) => pool.waiting.push(resolve));
}

/** Gives `a` back (to the first waiting writer, if any). */
function release(a: Arena): void {
  a.used = 0;
  const next = pool.waiting.shift();
  if (next) next(a);
  else pool.free.push(a);
}

/** One member for `addMembers`: bytes, a string (written as UTF-8), or a file read straight into the arena. */
export type TarMember = { name: string; data: Buffer } | { name: string; text: string } | { name: string; file: string };

/** Size and sha256 of a finished tar. */
export interface TarResult {
  bytes: number;
  sha256: string;
}

/** Reads from `fd` into `buf` at `off` until end of file or `cap` bytes; returns the count. */
function readUpTo(fd: number, buf: Buffer, off: number, cap: number): number {
  let got = 0;
  while (got < cap) {
    const n = readSync(fd, buf, off + got, cap - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Writes one tar file. Call `addMembers` (or `add` / `addFile`) for the members in order, then
 * `close` or `end` (or `abort`). Members are assembled in ARENAS shared-memory arenas of
 * ARENA_BYTES: while the full ones are written (positional writes on the thread pool) and hashed
 * (in the hash worker), the next fills. Files are read straight into an arena (no stat: read to
 * end of file, so the size is what was read) and strings are encoded into it, so a member costs
 * no allocation and memory stays at the arenas.
 */
export class TarWriter {
  private readonly hash = new OffThreadSha256();
  /** Batches handed on and not yet written and hashed (their arenas return to the pool then). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Bytes handed to earlier batches (their file offset). */
  private flushed = 0;

  private constructor(
    private readonly fh: FileHandle,
    private cur: Arena,
  ) {}

  /** Creates (truncates) `file` for writing. */
  static async create(file: string): Promise<TarWriter> {
    const fh = await open(file, 'w');
    return new TarWriter(fh, await acquire());
  }

  /** Bytes in the tar so far (headers and padding included). */
  get bytes(): number {
    return this.flushed + this.cur.used;
  }

  /** Appends a regular-file member with `data`. */
  add(name: string, data: Buffer): Promise<void> {
    return this.addMembers([{ name, data }]);
  }

  /** Appends a regular-file member with the bytes of `file`, read straight into the arena. */
  addFile(name: string, file: string): Promise<void> {
    return this.addMembers([{ name, file }]);
  }

  /** Appends `members` in order; waits only when a full arena must be handed on first. */
  async addMembers(members: readonly TarMember[]): Promise<void> {
    for (const m of members) {
      const pending = 'file' in m ? this.putFile(m.name, m.file) : this.put(m);
      if (pending) await pending;
    }
  }

  /** Writes the end-of-archive blocks and record padding, closes the file; returns size and sha256. */
  async close(): Promise<TarResult> {
    return (await this.end()).done;
  }

  /**
   * Queues the end-of-archive blocks and record padding. Resolves as soon as they are queued, with
   * `done`: the size and sha256, settled once every byte is written and hashed and the file is
   * closed. So the next tar can start filling while this one's last bytes are written. Nothing
   * may be added after `end`.
   */
  async end(): Promise<{ done: Promise<TarResult> }> {
    const end = tarTotalBytes(this.bytes) - this.bytes;
    const a = (await this.room(end))!;
    a.buf.fill(0, a.used, a.used + end);
    a.used += end;
    this.cur = NO_ARENA;
    this.flush(a);
    const done = (async () => {
      const settled = await Promise.allSettled(this.inFlight);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) {
        this.hash.digest().catch(() => {}); // ends the worker's session
        await this.fh.close().catch(() => {});
        throw failed.reason;
      }
      await this.fh.close();
      return { bytes: this.flushed, sha256: await this.hash.digest() };
    })();
    done.catch(() => {}); // surfaced when awaited
    return { done };
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    if (this.cur !== NO_ARENA) release(this.cur);
    this.cur = NO_ARENA;
    this.hash.digest().catch(() => {}); // ends the worker's session
    await this.fh.close().catch(() => {});
  }

  /** A bytes or string member: placed at once when it fits the current arena, else a promise. */
  private put(m: { name: string; data: Buffer } | { name: string; text: string }): Promise<void> | undefined {
    const size = 'data' in m ? m.data.length : Buffer.byteLength(m.text);
    const fill = 'data' in m ? (buf: Buffer, off: number) => void m.data.copy(buf, off) : (buf: Buffer, off: number) => void buf.write(m.text, off, size, 'utf8');
    const a = this.cur;
    if (a.used + tarMemberBytes(size) > a.buf.length) return this.member(m.name, size, fill);
    try {
      fill(a.buf, a.used + TAR_BLOCK);
      place(a, m.name, size);
    } catch (err) {
      return Promise.reject(err);
    }
    return undefined;
  }

  /**
   * A file member. The file is read into the current arena up to its end; when it turns out not
   * to fit there, it is sized and read again into the next arena (or a one-off one).
   */
  private putFile(name: string, file: string): Promise<void> | undefined {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      return Promise.reject(new ImageError(`cannot read: ${(err as Error).message}`, { subject: file, cause: err }));
    }
    let later: Promise<void> | undefined;
    try {
      const a = this.cur;
      const cap = a.buf.length - a.used - TAR_BLOCK;
      if (cap > 0) {
        const n = readUpTo(fd, a.buf, a.used + TAR_BLOCK, cap);
        if (n < cap) {
          place(a, name, n);
          return undefined;
        }
      }
      const size = fstatSync(fd).size;
      later = this.member(name, size, (buf, off) => {
        const got = readUpTo(fd, buf, off, size);
        if (got < size) throw new ImageError(`file shrank while read (${got} of ${size} bytes)`, { subject: file });
      }).finally(() => closeSync(fd));
      return later;
    } catch (err) {
      return Promise.reject(err);
    } finally {
      if (!later) closeSync(fd);
    }
  }

  private async member(name: string, size: number, fill: (buf: Buffer, off: number) => void): Promise<void> {
    const need = tarMemberBytes(size);
    const a = await this.room(need);
    if (a) {
      fill(a.buf, a.used + TAR_BLOCK);
      place(a, name, size);
      return;
    }
    // a member larger than an arena gets a one-off arena, written once the batches before it are
    await Promise.all(this.inFlight);
    const big = newArena(need);
    fill(big.buf, TAR_BLOCK);
    place(big, name, size);
    this.flush(big, false);
    await Promise.all(this.inFlight);
  }

  /** The current arena if `need` bytes fit, after handing it on and taking a fresh one when they do not; null if they never fit. */
  private async room(need: number): Promise<Arena | null> {
    if (this.cur.used + need <= this.cur.buf.length) return this.cur;
    if (this.cur.used) {
      const full = this.cur;
      this.cur = NO_ARENA;
      this.flush(full);
      this.cur = await acquire();
    }
    return need <= this.cur.buf.length ? this.cur : null;
  }

  /** Starts writing and hashing `a`'s bytes at the next file offset; `a` returns to the pool after (when `pooled`). */
  private flush(a: Arena, pooled = true): void {
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
    const hashed = this.hash.update(a.sab, 0, len);
    const written = write();
    const busy = Promise.all([hashed, written]).then(() => undefined);
    // Back to the pool only once both the write and the hash are done reading it, even when one
    // failed early: the other may still be reading, and a refilled arena would change its bytes.
    void Promise.allSettled([hashed, written]).then(() => {
      this.inFlight.delete(busy);
      if (pooled) release(a);
    });
    busy.catch(() => {}); // surfaced when awaited
    this.inFlight.add(busy);
  }
}

/** Writes the header and padding of a member whose `size` data bytes are in place; advances the arena. */
function place(a: Arena, name: string, size: number): void {
  writeTarHeader(a.buf, a.used, name, size);
  const need = tarMemberBytes(size);
  a.buf.fill(0, a.used + TAR_BLOCK + size, a.used + need);
  a.used += need;
}
