/**
 * The export on embedded PGlite (the default database when DATABASE_URL is unset, as in the
 * demo) gives the same shards as on Postgres for the same ledger.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbHandle } from '../../db/client.ts';
import { findExportDir } from '../../db/repositories/export.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { runExport, type ExportOptions } from '../../pipeline/export/index.ts';
import { createPgliteDb, createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, readTarsWithPython, RUBRIC } from './fixture.ts';

let lite: DbHandle;
let pg: TestDb;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vc-export-lite-'));
  [lite, pg] = await Promise.all([createPgliteDb(), createTestDb()]);
  // the same ledger (same blobs, same ids) in both databases
  await fillLedger(lite.db, { nSources: 5, perSource: 2, root: path.join(work, 'blobs') });
  await fillLedger(pg.db, { nSources: 5, perSource: 2, root: path.join(work, 'blobs') });
});

afterAll(async () => {
  await lite?.close();
  await pg?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('export on PGlite', () => {
  it('writes the same SFT and DPO shards as Postgres and records the export', async () => {
    const blobs = new BlobStore(path.join(work, 'blobs'));
    for (const kind of ['sft', 'dpo'] as const) {
      const opts = (dir: string): ExportOptions => ({ kind, outDir: path.join(work, dir, kind), shardSamples: 4, valFraction: 0.3, format: 'webdataset', rubric: RUBRIC });
      const a = await runExport(lite.db, blobs, opts('lite'));
      const b = await runExport(pg.db, blobs, opts('pg'));
      expect(a.samples).toBeGreaterThan(0);
      expect(a.shards).toEqual(b.shards);
      const read = await readTarsWithPython(a.shards.map((s) => path.join(a.outDir, s.url)));
      expect(read.map((r) => r.sha256)).toEqual(a.shards.map((s) => s.sha256));
      expect(await findExportDir(lite.db, kind)).toBe(a.outDir);
    }
  });
});
