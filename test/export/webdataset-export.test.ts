/**
 * WebDataset and Parquet exports against a real Postgres: shards read back with Python's
 * `tarfile`, checked against the manifest and the ledger; reproducibility; filters; the exports
 * tables.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { rows } from '../../db/client.ts';
import { findExportDir, streamDpoRows, streamSftRows } from '../../db/repositories/export.repository.ts';
import { runExport, type ExportOptions, type ExportResult } from '../../pipeline/export/index.ts';
import type { Manifest } from '../../pipeline/export/manifest.ts';
import { splitOf } from '../../pipeline/export/split.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, readTarsWithPython, JUDGE_MODEL, PROMPT_HASH, RUBRIC, RULE, type Ledger, type PyShard } from './fixture.ts';

let tdb: TestDb;
let ledger: Ledger;
let work: string;

const base = (kind: 'sft' | 'dpo', outDir: string, extra: Partial<ExportOptions> = {}): ExportOptions => ({
  kind,
  outDir,
  shardSamples: 5,
  valFraction: 0.3,
  format: 'webdataset',
  rubric: RUBRIC,
  ...extra,
});

beforeAll(async () => {
  tdb = await createTestDb();
  ledger = await fillLedger(tdb.db);
  work = await mkdtemp(path.join(os.tmpdir(), 'vc-export-'));
});

afterAll(async () => {
  await tdb?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (ledger) await rm(ledger.root, { recursive: true, force: true });
});

async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Checks shards (read by Python) against the manifest and the WebDataset conventions. */
function checkShards(kind: 'sft' | 'dpo', manifest: Manifest, shards: PyShard[]) {
  const suffixes = kind === 'sft' ? ['src.jpg', 'edit.jpg', 'txt', 'json'] : ['src.jpg', 'chosen.jpg', 'rejected.jpg', 'txt', 'json'];
  const records: Record<string, unknown>[] = [];
  for (const shard of shards) {
    const entry = manifest.shardlist.find((s) => path.basename(shard.file) === s.url)!;
    expect(entry, shard.file).toBeDefined();
    expect(shard.size).toBe(entry.filesize);
    expect(shard.sha256).toBe(entry.sha256);
    expect(entry.kind).toBe(kind);
    expect(entry.url).toMatch(new RegExp(`^${kind}-${entry.split}-\\d{6}\\.tar$`));
    // members grouped by key, in order, with the expected suffixes; reproducible headers
    const keys: string[] = [];
    for (const m of shard.members) {
      expect(m).toMatchObject({ type: '0', mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, magic: 'ustar\u000000' });
      const key = m.name.slice(0, m.name.indexOf('.'));
      expect(key).not.toContain('.');
      if (keys[keys.length - 1] !== key) keys.push(key);
    }
    expect([...keys].sort()).toEqual(keys); // sorted
    expect(keys.length).toBe(entry.nsamples);
    for (const [i, key] of keys.entries()) {
      const ms = shard.members.slice(i * suffixes.length, (i + 1) * suffixes.length);
      expect(ms.map((m) => m.name)).toEqual(suffixes.map((s) => `${key}.${s}`));
      for (const m of ms.filter((x) => x.name.endsWith('.jpg'))) expect(m.jpeg, m.name).toBe(true);
      const json = ms.find((m) => m.name.endsWith('.json'))!.json!;
      const txt = ms.find((m) => m.name.endsWith('.txt'))!.text!;
      expect(json.key).toBe(key);
      expect(json.split).toBe(entry.split);
      expect(json.instruction).toBe(txt);
      expect(json.split).toBe(splitOf(json.source_sha256 as string, manifest.filters.val_fraction as number));
      records.push(json);
    }
  }
  // every field in every sample, never null, one type per field (recursively)
  const typeOf = (v: unknown): string => (Array.isArray(v) ? `array<${v.map(typeOf).sort()[0] ?? 'number'}>` : v === null ? 'null' : typeof v);
  const shape = (o: Record<string, unknown>, prefix = ''): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, shape(v as Record<string, unknown>, `${prefix}${k}.`));
      else out[`${prefix}${k}`] = typeOf(v);
    }
    return out;
  };
  // the fields ARCHITECTURE.md promises (stable contract)
  const required = ['key', 'kind', 'split', 'instruction', 'category', 'source_sha256', 'rubric', 'rule_version', 'face_check.status', 'face_check.min_iou', 'change_check.status', 'change_check.changed_fraction'];
  const perKind =
    kind === 'sft'
      ? ['edit_sha256', 'seed', 'axes.instruction', 'axes.preservation', 'axes.quality']
      : ['chosen_sha256', 'rejected_sha256', 'chosen_seed', 'rejected_seed', 'chosen_axes.instruction', 'chosen_axes.preservation', 'chosen_axes.quality', 'rejected_axes.quality'];
  const first = shape(records[0]!);
  expect(Object.keys(first)).toEqual(expect.arrayContaining([...required, ...perKind]));
  expect(Object.values(first)).not.toContain('null');
  for (const r of records) expect(shape(r)).toEqual(first);
  return records;
}

describe('SFT export', () => {
  let result: ExportResult;
  let manifest: Manifest;
  let shards: PyShard[];
  let records: Record<string, unknown>[];

  beforeAll(async () => {
    result = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-a')));
    manifest = await readManifest(result.outDir);
    shards = await readTarsWithPython(result.shards.map((s) => path.join(result.outDir, s.url)));
    records = checkShards('sft', manifest, shards);
  });

  it('writes every selected pick once, in both splits, with sizes and checksums matching the manifest', () => {
    expect(result.samples).toBe(ledger.sftExpected);
    expect(records.length).toBe(ledger.sftExpected);
    expect(new Set(records.map((r) => r.key)).size).toBe(records.length);
    expect(manifest.totals.samples).toBe(ledger.sftExpected);
    expect(manifest.totals.bytes).toBe(shards.reduce((n, s) => n + s.size, 0));
    expect(Object.keys(manifest.totals.splits).sort()).toEqual(['train', 'val']);
    expect(manifest).toMatchObject({ kind: 'sft', format: 'webdataset', rubric: RUBRIC, rule_version: RULE, tool: { name: 'vibe-curate', version: '0.1.0' } });
    expect(manifest.shardlist.every((s) => s.nsamples <= 5)).toBe(true);
    expect(Date.parse(manifest.created_at)).toBeGreaterThan(0);
  });

  it('keeps each source in one split', () => {
    const splitsBySource = new Map<string, Set<unknown>>();
    for (const r of records) {
      const s = splitsBySource.get(r.source_sha256 as string) ?? new Set();
      s.add(r.split);
      splitsBySource.set(r.source_sha256 as string, s);
    }
    expect([...splitsBySource.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set(records.map((r) => r.split))).toEqual(new Set(['train', 'val']));
  });

  it('carries the ledger fields: the picked edit, its axes, checks and review; the rejected pick is left out', async () => {
    const first = records.find((r) => r.request_id === ledger.requestIds[1])!;
    expect(first).toMatchObject({
      kind: 'sft',
      seed: 0,
      rubric: RUBRIC,
      rule_version: RULE,
      axes: { instruction: 9, preservation: 8.5, quality: 8 },
      scores: { artifacts: 9, editing_success: 9, naturalness: 9, over_editing: 9 },
      face_check: { status: 'pass', n_faces: 1, threshold: 0.9 },
      change_check: { status: 'pass', changed_fraction: 0.25, largest_component_share: 0.5 },
      review: 'accept',
    });
    expect((first.face_check as { min_iou: number }).min_iou).toBeCloseTo(0.95, 5);
    expect(records.some((r) => r.request_id === ledger.requestIds[0])).toBe(false);
    // the stored JPEG goes in byte for byte; the PNG source is re-encoded to JPEG
    const [cand] = await rows<{ sha256: string; blob: string }>(tdb.db, sql`SELECT sha256, blob FROM candidates WHERE id = ${ledger.candidateIds[1]![0]!}`);
    const member = shards.flatMap((s) => s.members).find((m) => m.name === `${first.key}.edit.jpg`)!;
    expect(member.sha256).toBe(cand!.sha256);
    expect(sha(await ledger.blobs.get(cand!.blob))).toBe(member.sha256);
    const png = records.find((r) => r.request_id === ledger.requestIds[6])!; // source 3 is a PNG
    const srcMember = shards.flatMap((s) => s.members).find((m) => m.name === `${png.key}.src.jpg`)!;
    expect(srcMember.jpeg).toBe(true);
    expect(srcMember.sha256).not.toBe(png.source_sha256);
  });

  it('records the export and its shards in Postgres, and a rerun updates the same row', async () => {
    const again = await runExport(tdb.db, ledger.blobs, base('sft', result.outDir));
    expect(again.shards).toEqual(result.shards);
    const ex = await rows<{ id: number; name: string; status: string; samples: number; bytes: number; manifest_sha256: string }>(
      tdb.db,
      sql`SELECT id, name, status, samples, bytes, manifest_sha256 FROM exports WHERE out_dir = ${result.outDir}`,
    );
    expect(ex).toHaveLength(1);
    expect(ex[0]).toMatchObject({ name: 'sft-a', status: 'done', samples: result.samples, bytes: result.bytes });
    expect(ex[0]!.manifest_sha256).toBe(sha(await readFile(result.manifestPath)));
    const sh = await rows<{ path: string; sha256: string; samples: number; bytes: number }>(
      tdb.db,
      sql`SELECT path, sha256, samples, bytes FROM export_shards WHERE export_id = ${ex[0]!.id} ORDER BY path`,
    );
    expect(sh.map((s) => [s.path, s.sha256, s.samples, s.bytes])).toEqual(result.shards.map((s) => [s.url, s.sha256, s.nsamples, s.filesize]));
    expect(await findExportDir(tdb.db, 'sft-a')).toBe(result.outDir);
  });

  it('gives byte-identical shards on a second export into another directory', async () => {
    const other = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-b')));
    expect(other.shards).toEqual(result.shards);
    for (const s of result.shards) {
      expect(sha(await readFile(path.join(other.outDir, s.url)))).toBe(s.sha256);
    }
  });

  it('cuts shards by bytes, filters by axes and by review', async () => {
    const oneShard = manifest.shardlist[0]!.filesize;
    const bySize = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-bytes'), { shardSamples: 1000, shardBytes: Math.floor(oneShard / 2) }));
    expect(bySize.samples).toBe(ledger.sftExpected);
    expect(bySize.shards.length).toBeGreaterThan(2);
    expect(bySize.shards.every((s) => s.filesize <= Math.floor(oneShard / 2) || s.nsamples === 1)).toBe(true);

    const q = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-q'), { minAxis: { quality: 8.5 } }));
    const qRecords = (await readTarsWithPython(q.shards.map((s) => path.join(q.outDir, s.url)))).flatMap((s) => s.members).filter((m) => m.json);
    expect(qRecords.length).toBe(q.samples);
    expect(q.samples).toBeGreaterThan(0);
    expect(q.samples).toBeLessThan(ledger.sftExpected);
    expect(qRecords.every((m) => (m.json!.axes as { quality: number }).quality >= 8.5)).toBe(true);
    expect((await readManifest(q.outDir)).filters).toMatchObject({ min_axis: { quality: 8.5 } });

    const reviewed = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-reviewed'), { reviewedOnly: true }));
    expect(reviewed.samples).toBe(1);
  });

  it('re-encodes to a max side when asked', async () => {
    const small = await runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'sft-small'), { maxSide: 16 }));
    const py = 'import tarfile,sys\nt=tarfile.open(sys.argv[1])\nm=[x for x in t.getmembers() if x.name.endswith(".edit.jpg")][0]\nsys.stdout.buffer.write(t.extractfile(m).read())';
    const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', py, path.join(small.outDir, small.shards[0]!.url)], { encoding: 'buffer' });
    const meta = await sharp(stdout).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 16, 16]);
  });
});

describe('streaming rows', () => {
  it('gives the same rows in the same order whatever the page size (pages split between requests)', async () => {
    const f = { rubric: RUBRIC, judgeModel: JUDGE_MODEL, promptHash: PROMPT_HASH, ruleVersion: RULE, reviewedOnly: false, minAxis: {} };
    const all = async <T,>(g: AsyncGenerator<T>) => {
      const out: T[] = [];
      for await (const r of g) out.push(r);
      return out;
    };
    const sftBig = await all(streamSftRows(tdb.db, f));
    const sftSmall = await all(streamSftRows(tdb.db, f, 3));
    expect(sftSmall).toEqual(sftBig);
    expect(sftBig.map((r) => r.request_id)).toEqual([...ledger.requestIds.slice(1)]);
    const dpoBig = await all(streamDpoRows(tdb.db, f));
    const dpoSmall = await all(streamDpoRows(tdb.db, f, 3)); // 3 pairs: a page ends inside a request
    expect(dpoSmall).toEqual(dpoBig);
    expect(dpoBig.length).toBe(2 * ledger.requests - 2);
  });
});

describe('DPO export', () => {
  it('writes chosen and rejected edits with both sides’ axes; pair and candidate reviews applied', async () => {
    const result = await runExport(tdb.db, ledger.blobs, base('dpo', path.join(work, 'dpo-a')));
    const manifest = await readManifest(result.outDir);
    const shards = await readTarsWithPython(result.shards.map((s) => path.join(result.outDir, s.url)));
    const records = checkShards('dpo', manifest, shards);
    expect(records.length).toBe(2 * ledger.requests - 2);
    for (const r of records) {
      expect(r.key).toMatch(/^r\d{9}_c\d{4}_r\d{4}$/);
      const w = r.chosen_axes as Record<string, number>;
      const l = r.rejected_axes as Record<string, number>;
      expect(w.instruction > l.instruction && w.preservation > l.preservation && w.quality > l.quality).toBe(true);
      expect(r.chosen_sha256).not.toBe(r.rejected_sha256);
    }
    const keys = records.map((r) => r.key as string);
    expect(keys).not.toContain(`r${String(ledger.requestIds[0]).padStart(9, '0')}_c0000_r0002`); // chosen rejected by review
    expect(keys).not.toContain(`r${String(ledger.requestIds[2]).padStart(9, '0')}_c0001_r0003`); // pair rejected

    const reviewed = await runExport(tdb.db, ledger.blobs, base('dpo', path.join(work, 'dpo-reviewed'), { reviewedOnly: true }));
    expect(reviewed.samples).toBe(1);
  });

  it('leaves out a pair the rule retired (rank 0) unless a reviewer accepted it', async () => {
    const pairId = ledger.pairIds[6]!; // request 3's first pair: exported while ranked
    const keyOf = async () => {
      const [p] = await rows<{ request_id: number; cw: number; cl: number }>(
        tdb.db,
        sql`SELECT p.request_id, cw.seed AS cw, cl.seed AS cl FROM pairs p JOIN candidates cw ON cw.id = p.chosen_id
            JOIN candidates cl ON cl.id = p.rejected_id WHERE p.id = ${pairId}`,
      );
      return `r${String(p!.request_id).padStart(9, '0')}_c${String(p!.cw).padStart(4, '0')}_r${String(p!.cl).padStart(4, '0')}`;
    };
    const key = await keyOf();
    const keysOf = async (dir: string) => {
      const result = await runExport(tdb.db, ledger.blobs, base('dpo', path.join(work, dir)));
      const shards = await readTarsWithPython(result.shards.map((s) => path.join(result.outDir, s.url)));
      return shards.flatMap((sh) => sh.members.map((m) => m.name.split('.')[0]!));
    };
    expect(await keysOf('dpo-ranked')).toContain(key);
    await tdb.db.execute(sql`UPDATE pairs SET rank = 0 WHERE id = ${pairId}`);
    try {
      expect(await keysOf('dpo-retired')).not.toContain(key);
      await tdb.db.execute(sql`INSERT INTO reviews (pair_id, reviewer, verdict) VALUES (${pairId}, 'ana', 'accept')`);
      expect(await keysOf('dpo-retired-accepted')).toContain(key);
    } finally {
      await tdb.db.execute(sql`DELETE FROM reviews WHERE pair_id = ${pairId} AND reviewer = 'ana'`);
      await tdb.db.execute(sql`UPDATE pairs SET rank = 1 WHERE id = ${pairId}`);
    }
  });

  it('writes Pick-a-Pic Parquet (caption, jpg_0 chosen, jpg_1 rejected, label_0 = 1) that reads back', async () => {
    const result = await runExport(tdb.db, ledger.blobs, base('dpo', path.join(work, 'dpo-parquet'), { format: 'parquet', shardSamples: 1000 }));
    expect(result.shards.map((s) => s.url).sort()).toEqual(['dpo-train-000000.parquet', 'dpo-val-000000.parquet']);
    const tarRun = await readManifest(path.join(work, 'dpo-a'));
    let n = 0;
    for (const s of result.shards) {
      const buf = await readFile(path.join(result.outDir, s.url));
      expect(sha(buf)).toBe(s.sha256);
      const file = new Uint8Array(buf).buffer;
      const meta = parquetMetadata(file);
      expect(meta.schema.slice(1).map((e) => e.name)).toEqual(['key', 'caption', 'jpg_0', 'jpg_1', 'label_0', 'src_jpg', 'json']);
      expect(meta.row_groups.length).toBe(Math.ceil(s.nsamples / 32));
      const data = (await parquetReadObjects({ file, utf8: false })) as Record<string, unknown>[];
      expect(data.length).toBe(s.nsamples);
      for (const row of data) {
        const rec = JSON.parse(row.json as string) as Record<string, string>;
        expect(row.caption).toBe(rec.instruction);
        expect(row.label_0).toBe(1);
        expect(rec.split).toBe(s.split);
        expect(sha(Buffer.from(row.jpg_0 as Uint8Array))).toBe(rec.chosen_sha256);
        expect(sha(Buffer.from(row.jpg_1 as Uint8Array))).toBe(rec.rejected_sha256);
      }
      n += data.length;
    }
    expect(n).toBe(tarRun.totals.samples);
    const again = await runExport(tdb.db, ledger.blobs, base('dpo', path.join(work, 'dpo-parquet-2'), { format: 'parquet', shardSamples: 1000 }));
    expect(again.shards).toEqual(result.shards);
    expect((await readdir(again.outDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses Parquet for SFT and bad options, naming the field', async () => {
    await expect(runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'x'), { format: 'parquet' }))).rejects.toThrow(/parquet/);
    await expect(runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'x'), { shardSamples: 0 }))).rejects.toMatchObject({ subject: 'shardSamples' });
    await expect(runExport(tdb.db, ledger.blobs, base('sft', path.join(work, 'x'), { valFraction: 2 }))).rejects.toMatchObject({ subject: 'valFraction' });
  });
});
