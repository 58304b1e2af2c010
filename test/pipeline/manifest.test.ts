import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifestLine, readManifest, resolveImageRef } from '../../pipeline/manifest.ts';
import { demoRequests } from '../../cli/demo.ts';
import { baseSeedOf } from '../../pipeline/stages/enqueue.ts';

describe('parseManifestLine', () => {
  it('accepts a line with image, instruction and optional category, trimming them', () => {
    expect(parseManifestLine(' {"image": " a.png ", "instruction": " Blur it ", "category": "detail"} ', 7)).toEqual({
      ok: true,
      entry: { line: 7, image: 'a.png', instruction: 'Blur it', category: 'detail' },
    });
    expect(parseManifestLine('{"image":"a.png","instruction":"x"}', 1)).toMatchObject({ ok: true, entry: { category: '' } });
  });

  it('skips blank lines', () => {
    expect(parseManifestLine('   ', 3)).toBeNull();
  });

  it.each([
    ['{"image": "a.png", "instruction": ', /^bad JSON/],
    ['[1,2]', /^expected a JSON object/],
    ['{"instruction": "x"}', /^image: missing/],
    ['{"image": "", "instruction": "x"}', /^image: expected a non-empty string/],
    ['{"image": 3, "instruction": "x"}', /^image: expected a non-empty string/],
    ['{"image": "a.png"}', /^instruction: missing/],
    ['{"image": "a.png", "instruction": "   "}', /^instruction: expected a non-empty string/],
    ['{"image": "a.png", "instruction": "x", "category": 5}', /^category: expected a string/],
  ])('rejects %s with the reason and its line number', (text, why) => {
    const r = parseManifestLine(text, 42);
    expect(r).toMatchObject({ ok: false, line: 42 });
    expect((r as { error: string }).error).toMatch(why);
  });
});

describe('readManifest', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vc-manifest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('streams lines with their 1-based numbers, blank lines skipped but counted', async () => {
    const file = path.join(dir, 'm.jsonl');
    writeFileSync(file, '\uFEFF{"image":"a.png","instruction":"x"}\r\n\n{bad\n{"image":"b.png","instruction":"y"}');
    const got = [];
    for await (const l of readManifest(file)) got.push(l.ok ? `${l.entry.line}:${l.entry.image}` : `${l.line}:error`);
    expect(got).toEqual(['1:a.png', '3:error', '4:b.png']);
  });

  it('names a missing manifest', async () => {
    const it = readManifest(path.join(dir, 'nope.jsonl'));
    await expect(it.next()).rejects.toThrow(/no such file/);
  });
});

describe('resolveImageRef', () => {
  it('resolves relative paths against the manifest folder and keeps URLs', () => {
    expect(resolveImageRef('img/a.png', '/data/m')).toEqual({ kind: 'file', path: '/data/m/img/a.png' });
    expect(resolveImageRef('/abs/a.png', '/data/m')).toEqual({ kind: 'file', path: '/abs/a.png' });
    expect(resolveImageRef('file:///x/a.png', '/data')).toEqual({ kind: 'file', path: '/x/a.png' });
    expect(resolveImageRef('https://h/a.png', '/data')).toEqual({ kind: 'url', url: 'https://h/a.png' });
    expect(() => resolveImageRef('s3://bucket/a.png', '/data')).toThrow(/unsupported URL scheme/);
  });
});

describe('deterministic requests', () => {
  it('gives a request the same seeds every time, different ones for another instruction, inside an int4', () => {
    const a = baseSeedOf('ab'.repeat(32), 'Blur it');
    expect(baseSeedOf('ab'.repeat(32), 'Blur it')).toBe(a);
    expect(baseSeedOf('ab'.repeat(32), 'Sharpen it')).not.toBe(a);
    expect(a + 16).toBeLessThan(2 ** 31);
  });

  it('demo requests are distinct image × instruction pairs, consecutive ones differing in both', () => {
    const imgs = ['a.png', 'b.png', 'c.png'];
    const r = demoRequests(60, imgs);
    expect(r).toHaveLength(60);
    expect(new Set(r.map((x) => `${x.image}|${x.instruction}`)).size).toBe(60);
    for (let i = 1; i < r.length; i++) expect(r[i]!.image === r[i - 1]!.image && r[i]!.instruction === r[i - 1]!.instruction).toBe(false);
    expect(demoRequests(60, imgs)).toEqual(r);
  });
});
