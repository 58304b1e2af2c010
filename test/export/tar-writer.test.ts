/**
 * The ustar writer alone: members of awkward sizes and a long name read back by Python's
 * `tarfile` and GNU tar, with the size and sha256 the writer reports.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_RECORD, TarWriter, tarHeader, tarMemberBytes, tarTotalBytes } from '../../pipeline/export/tar.ts';
import { readTarsWithPython } from './fixture.ts';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-tar-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TarWriter', () => {
  it('writes members that Python tarfile and GNU tar read back byte for byte', async () => {
    const longName = `${'d'.repeat(60)}/${'n'.repeat(90)}.json`;
    const members: [string, Buffer][] = [
      ['empty.txt', Buffer.alloc(0)],
      ['one.bin', Buffer.from([7])],
      ['block.bin', Buffer.alloc(512, 1)],
      ['big.bin', Buffer.alloc(5 * 1024 * 1024 + 3, 2)], // fills most of an 8 MiB arena
      ['huge.bin', Buffer.alloc(9 * 1024 * 1024 + 5, 3)], // larger than an arena: a one-off arena
      ['from-file.bin', Buffer.from('read straight from a file\n')], // added with addFile
      ['unicode.txt', Buffer.from('fais-le en été ☀', 'utf8')],
      [longName, Buffer.from('{"a":1}')],
    ];
    const file = path.join(dir, 'a.tar');
    const tar = await TarWriter.create(file);
    for (const [name, data] of members) {
      if (name === 'from-file.bin') {
        await writeFile(path.join(dir, 'src.bin'), data);
        await tar.addFile(name, path.join(dir, 'src.bin'));
      } else await tar.add(name, data);
    }
    const { bytes, sha256 } = await tar.close();
    const onDisk = await readFile(file);
    expect(bytes).toBe(onDisk.length);
    expect(bytes % TAR_RECORD).toBe(0);
    expect(bytes).toBe(tarTotalBytes(members.reduce((n, [, d]) => n + tarMemberBytes(d.length), 0)));
    expect(sha256).toBe(createHash('sha256').update(onDisk).digest('hex'));

    const [py] = await readTarsWithPython([file]);
    expect(py!.members.map((m) => [m.name, m.size, m.sha256])).toEqual(
      members.map(([n, d]) => [n, d.length, createHash('sha256').update(d).digest('hex')]),
    );
    const { stdout } = await run('tar', ['-tvf', file]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(members.length);
    expect(lines[0]).toMatch(/^-rw-r--r-- 0\/0\s+0 1970-01-01 00:00 empty\.txt$/);
    expect(lines[lines.length - 1]).toContain(longName);
  });

  it('gives identical bytes for identical members and refuses names that cannot fit', async () => {
    expect(tarHeader('a.jpg', 10).equals(tarHeader('a.jpg', 10))).toBe(true);
    expect(() => tarHeader('x'.repeat(101), 1)).toThrow(/too long/);
    const tar = await TarWriter.create(path.join(dir, 'b.tar'));
    await expect(tar.addFile('gone.jpg', path.join(dir, 'missing.jpg'))).rejects.toThrow(/missing\.jpg/);
    await tar.abort();
  });
});
