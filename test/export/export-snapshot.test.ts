/**
 * Point-in-time export and a protected --out:
 * - reviews that land while an export runs (a page at a time) do not reach it: the samples are
 *   exactly those of the ledger at the snapshot the manifest records, read independently through
 *   the exported snapshot, and the high-water ids match that snapshot;
 * - `export --out` refuses a non-empty directory it did not create, and one holding another
 *   kind, with exit 2 naming --out and nothing touched; `--force` overrides; its own directory
 *   resumes.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewCandidates } from '../../db/repositories/review.repository.ts';
import { runExport } from '../../pipeline/export/index.ts';
import type { Manifest } from '../../pipeline/export/manifest.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, JUDGE_MODEL, PROMPT_HASH, readTarsWithPython, RUBRIC, RULE, type Ledger } from './fixture.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/vibe-curate.mjs');

let tdb: TestDb;
let ledger: Ledger;
let dir: string;

beforeAll(async () => {
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-export-snap-'));
  ledger = await fillLedger(tdb.db, { nSources: 8, perSource: 2, root: path.join(dir, 'blobs') });
});
afterAll(async () => {
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The edit sha256 of every SFT sample the ledger holds as `client` sees it (independent of the export's SQL). */
async function sftEdits(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ sha256: string }>(
    `SELECT c.sha256 FROM selections s JOIN candidates c ON c.id = s.candidate_id
     WHERE s.rubric = $1 AND s.rule_version = $2
       AND (SELECT v.verdict FROM reviews v WHERE v.candidate_id = c.id ORDER BY v.id DESC LIMIT 1) IS DISTINCT FROM 'reject'
     ORDER BY 1`,
    [RUBRIC, RULE],
  );
  return r.rows.map((x) => x.sha256);
}

describe('a point-in-time export', () => {
  it('exports the ledger at its snapshot while reviews land, and records the snapshot', async () => {
    const out = path.join(dir, 'snap');
    const reader = new pg.Client({ connectionString: tdb.url });
    await reader.connect();
    let atSnapshot: { edits: string[]; highWater: Record<string, number> } | undefined;
    let reviewed: Promise<unknown> | undefined;
    try {
      const result = await runExport(tdb.db, ledger.blobs, {
        kind: 'sft',
        outDir: out,
        shardSamples: 4,
        valFraction: 0,
        format: 'webdataset',
        rubric: RUBRIC,
        pageSize: 2, // a read per two requests: a late page would see the reviews without a snapshot
        sampleDelayMs: 30,
        onSnapshot: async (snap) => {
          expect(snap.exportedId).toMatch(/\S/);
          await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          await reader.query(`SET TRANSACTION SNAPSHOT '${snap.exportedId}'`);
          const hw = await reader.query<Record<string, string>>(
            `SELECT ${['requests', 'candidates', 'checks', 'judgments', 'selections', 'pairs', 'reviews'].map((t) => `(SELECT coalesce(max(id), 0) FROM ${t}) AS ${t}`).join(', ')}`,
          );
          atSnapshot = { edits: await sftEdits(reader), highWater: Object.fromEntries(Object.entries(hw.rows[0]!).map(([k, v]) => [k, Number(v)])) };
          await reader.query('COMMIT');
        },
        onProgress: (n) => {
          // after the first samples, a reviewer rejects the picks of the last requests
          if (n >= 1 && !reviewed) {
            const late = ledger.candidateIds.slice(-4).map((seeds) => seeds[0]!);
            reviewed = reviewCandidates(tdb.db, { candidateIds: late, reviewer: 'ana', verdict: 'reject', note: 'late', judge: { rubric: RUBRIC, model: JUDGE_MODEL, promptHash: PROMPT_HASH } });
          }
        },
      });
      await reviewed;
      expect(atSnapshot).toBeDefined();
      const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest.snapshot.high_water).toEqual(atSnapshot!.highWater);
      expect(Date.parse(manifest.snapshot.at)).toBeLessThanOrEqual(Date.parse(manifest.created_at));
      expect(manifest.versions.selection.rule_version).toBe(RULE);
      expect(manifest.versions.judge.rubric).toBe(RUBRIC);
      expect(manifest.versions.judge.models.length).toBeGreaterThan(0);

      const shards = await readTarsWithPython(result.shards.map((s) => path.join(out, s.url)));
      const exported = shards.flatMap((s) => s.members.filter((m) => m.json).map((m) => String(m.json!.edit_sha256))).sort();
      expect(exported).toEqual(atSnapshot!.edits);
      // the reviews did land meanwhile: the live ledger has fewer samples and more reviews now
      const live = await sftEdits(reader);
      expect(live.length).toBeLessThan(exported.length);
      const maxReview = await reader.query<{ m: string }>('SELECT max(id) AS m FROM reviews');
      expect(Number(maxReview.rows[0]!.m)).toBeGreaterThan(manifest.snapshot.high_water.reviews!);
    } finally {
      await reader.end();
    }
  }, 60_000);
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: tdb.url, DATA_DIR: dir, JUDGE_URL: 'http://127.0.0.1:9', JUDGE_RUBRIC: RUBRIC },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('export --out', () => {
  it('never clobbers a directory it did not write, nor another kind; --force overrides; its own resumes', async () => {
    // a user's directory with files named like ours
    const user = path.join(dir, 'user');
    await mkdir(user);
    await writeFile(path.join(user, 'manifest.json'), '{"mine": true}');
    await writeFile(path.join(user, 'sft-train-000099.tar'), 'not a shard');
    const refused = await cli(['export', '--kind', 'sft', '--out', user]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^vibe-curate: --out: .*user is not empty and holds no vibe-curate export .*--force\n$/);
    expect(await readFile(path.join(user, 'manifest.json'), 'utf8')).toBe('{"mine": true}');
    expect(await readFile(path.join(user, 'sft-train-000099.tar'), 'utf8')).toBe('not a shard');

    // an sft export, then a dpo export into the same directory
    const sft = path.join(dir, 'sft');
    expect((await cli(['export', '--kind', 'sft', '--out', sft, '--shard-samples', '5'])).code).toBe(0);
    const sftFiles = (await readdir(sft)).sort();
    const other = await cli(['export', '--kind', 'dpo', '--out', sft]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^vibe-curate: --out: .*sft holds a sft webdataset export; write dpo webdataset into another directory, or pass --force\n$/);
    expect((await readdir(sft)).sort()).toEqual(sftFiles);

    // its own directory: the export runs again (resumes)
    const again = await cli(['export', '--kind', 'sft', '--out', sft, '--shard-samples', '5', '--json']);
    expect(again.code).toBe(0);
    expect((await readdir(sft)).sort()).toEqual(sftFiles);

    // --force writes into the user's directory
    const forced = await cli(['export', '--kind', 'sft', '--out', user, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(await readFile(path.join(user, 'manifest.json'), 'utf8'))).toHaveProperty('shardlist');
  }, 120_000);
});
