/**
 * The tar writer's shared arena pool under load: three exports at once in one process (so their
 * shards, and each export's finishing shard and the next one, share the same few arenas), with
 * members from a few hundred bytes to past an arena's size. A reused arena would corrupt a member
 * and the shard's off-thread hash together, so the shard sha256 alone would not show it: every
 * member is read back with Python's `tarfile` and its sha256 compared with the blob it came from.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { runExport, type ExportOptions } from '../../pipeline/export/index.ts';
import type { Manifest } from '../../pipeline/export/manifest.ts';
import { ARENA_BYTES } from '../../pipeline/export/tar.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, readTarsWithPython, RUBRIC, type Ledger } from './fixture.ts';

const MiB = 1024 * 1024;
/**
 * Member sizes, cycled over the blobs: tiny, odd, block-aligned, a few MiB (several per arena,
 * so arenas are handed on mid-shard), just under, exactly at and just over an arena.
 */
const SIZES = [300, 70_001, 3 * MiB + 511, 512 * 9, ARENA_BYTES - 1536, 1 * MiB + 7, 2_000, ARENA_BYTES - 512, 5 * MiB, 40_000, ARENA_BYTES + 3, 777];

let tdb: TestDb;
let ledger: Ledger;
let work: string;
/** sha256 → size of every blob the ledger points at (what the blob store holds). */
const stored = new Map<string, number>();

/** A blob store entry of `size` random bytes behind a JPEG signature (the export copies stored JPEGs as they are). */
async function putBlob(size: number): Promise<{ sha256: string; key: string }> {
  const bytes = randomBytes(size);
  bytes[0] = 0xff;
  bytes[1] = 0xd8;
  bytes[2] = 0xff;
  const b = await ledger.blobs.put(bytes, 'jpg');
  stored.set(b.sha256, size);
  return b;
}

beforeAll(async () => {
  tdb = await createTestDb();
  ledger = await fillLedger(tdb.db, { nSources: 6, perSource: 2 });
  work = await mkdtemp(path.join(os.tmpdir(), 'vc-arena-'));
  // Every source and candidate points at a fresh blob of one of SIZES.
  let i = 0;
  for (const { id } of await rows<{ id: number }>(tdb.db, sql`SELECT id FROM sources ORDER BY id`)) {
    const b = await putBlob(SIZES[i++ % SIZES.length]!);
    await tdb.db.execute(sql`UPDATE sources SET sha256 = ${b.sha256}, blob = ${b.key}, format = 'jpeg' WHERE id = ${id}`);
  }
  for (const { id } of await rows<{ id: number }>(tdb.db, sql`SELECT id FROM candidates ORDER BY id`)) {
    const b = await putBlob(SIZES[i++ % SIZES.length]!);
    await tdb.db.execute(sql`UPDATE candidates SET sha256 = ${b.sha256}, blob = ${b.key} WHERE id = ${id}`);
  }
}, 120_000);

afterAll(async () => {
  await tdb?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (ledger) await rm(ledger.root, { recursive: true, force: true });
});

const SHA_FIELD: Record<string, string> = { src: 'source_sha256', edit: 'edit_sha256', chosen: 'chosen_sha256', rejected: 'rejected_sha256' };

describe('tar arenas under concurrent shards', () => {
  it('writes every member byte for byte as the blob store holds it, and each shard as its reported sha256', async () => {
    const base = { valFraction: 0.3, format: 'webdataset', rubric: RUBRIC } as const;
    const runs: ExportOptions[] = [
      { ...base, kind: 'sft', outDir: path.join(work, 'sft-a'), shardSamples: 2 },
      { ...base, kind: 'dpo', outDir: path.join(work, 'dpo'), shardSamples: 3 },
      { ...base, kind: 'sft', outDir: path.join(work, 'sft-b'), shardSamples: 100, shardBytes: 12 * MiB },
    ];
    const results = await Promise.all(runs.map((o) => runExport(tdb.db, ledger.blobs, o)));

    let members = 0;
    let bigMembers = 0;
    for (const [n, result] of results.entries()) {
      expect(result.samples, runs[n]!.outDir).toBeGreaterThan(0);
      const manifest = JSON.parse(await readFile(result.manifestPath, 'utf8')) as Manifest;
      const shards = await readTarsWithPython(manifest.shardlist.map((s) => path.join(result.outDir, s.url)));
      expect(shards.length).toBe(manifest.shardlist.length);
      for (const shard of shards) {
        const entry = manifest.shardlist.find((s) => s.url === path.basename(shard.file))!;
        // the writer's size and off-thread sha256 are the file's
        expect([shard.size, shard.sha256]).toEqual([entry.filesize, entry.sha256]);
        const bySample = new Map<string, typeof shard.members>();
        for (const m of shard.members) {
          const key = m.name.slice(0, m.name.indexOf('.'));
          bySample.set(key, [...(bySample.get(key) ?? []), m]);
        }
        expect(bySample.size).toBe(entry.nsamples);
        for (const [key, ms] of bySample) {
          const json = ms.find((m) => m.name === `${key}.json`)!.json!;
          expect(ms.find((m) => m.name === `${key}.txt`)!.text).toBe(json.instruction);
          for (const m of ms.filter((x) => x.name.endsWith('.jpg'))) {
            const want = json[SHA_FIELD[m.name.slice(key.length + 1, -'.jpg'.length)]!] as string;
            expect(stored.has(want), `${m.name}: ${want} is a stored blob`).toBe(true);
            expect([m.name, m.sha256, m.size]).toEqual([m.name, want, stored.get(want)]);
            members++;
            if (m.size > ARENA_BYTES / 2) bigMembers++;
          }
        }
      }
    }
    // the load the test means to create: many members, many over half an arena
    expect(members).toBeGreaterThan(100);
    expect(bigMembers).toBeGreaterThan(30);
  }, 120_000);
});

