/**
 * The `vibe-curate export` command as a child process: an export killed (SIGKILL) after its
 * first shard is rerun and ends byte-identical to a clean export without rewriting the shards
 * that were complete; `--json`; bad flags exit 2 with one line naming the flag.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportResult } from '../../pipeline/export/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, RUBRIC, type Ledger } from './fixture.ts';
import { sleep } from '../../pipeline/sleep.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/vibe-curate.mjs');

let tdb: TestDb;
let ledger: Ledger;
let dataDir: string;

beforeAll(async () => {
  tdb = await createTestDb();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'vc-export-cli-'));
  ledger = await fillLedger(tdb.db, { nSources: 10, perSource: 2, root: path.join(dataDir, 'blobs') });
});

afterAll(async () => {
  await tdb?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    // The ledger holds viescore-v1 judgments: what a deployment with a VLM judge configured has
    // (export never calls the judge, so the URL need not answer).
    env: { ...process.env, DATABASE_URL: tdb.url, DATA_DIR: dataDir, JUDGE_URL: 'http://127.0.0.1:9', JUDGE_RUBRIC: RUBRIC, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

describe('vibe-curate export', () => {
  it('resumes an export killed halfway and ends byte-identical to a clean one', async () => {
    const out = path.join(dataDir, 'resumed');
    const clean = path.join(dataDir, 'clean');
    const args = (dir: string) => ['export', '--kind', 'dpo', '--out', dir, '--shard-samples', '3', '--val-fraction', '0.2', '--json'];

    // 1. start a throttled export and SIGKILL it as soon as its first shard is complete
    const run1 = cli(args(out), { VIBE_EXPORT_SAMPLE_DELAY_MS: '60' });
    const deadline = Date.now() + 30_000;
    let firstShard: string | undefined;
    while (!firstShard && Date.now() < deadline) {
      await sleep(20);
      firstShard = (await readdir(out).catch(() => [] as string[])).find((f) => f.endsWith('.tar'));
    }
    expect(firstShard, 'a shard appeared').toBeDefined();
    run1.child.kill('SIGKILL');
    const killed = await run1.done;
    expect(killed.signal).toBe('SIGKILL');
    const afterKill = await readdir(out);
    expect(afterKill).not.toContain('manifest.json');
    const complete = afterKill.filter((f) => f.endsWith('.tar'));
    const before = new Map(await Promise.all(complete.map(async (f) => [f, (await stat(path.join(out, f))).ino] as const)));

    // 2. rerun with the same arguments, and a clean export elsewhere
    const rerun = await cli(args(out)).done;
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    const resumed = JSON.parse(rerun.stdout) as ExportResult;
    const fresh = await cli(args(clean)).done;
    expect(fresh.code).toBe(0);
    const cleanResult = JSON.parse(fresh.stdout) as ExportResult;

    expect(resumed.samples).toBe(2 * ledger.requests - 2);
    expect(complete.length).toBeLessThan(resumed.shards.length); // it was really interrupted
    expect(resumed.shards).toEqual(cleanResult.shards);
    const files = (await readdir(out)).filter((f) => !f.startsWith('.')).sort();
    expect(files).toEqual([...resumed.shards.map((s) => s.url), 'manifest.json'].sort());
    for (const s of resumed.shards) {
      expect(await sha(path.join(out, s.url))).toBe(s.sha256);
      expect(await sha(path.join(clean, s.url))).toBe(s.sha256);
    }
    // shards complete before the kill were kept, not rewritten
    for (const [f, ino] of before) expect((await stat(path.join(out, f))).ino, f).toBe(ino);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as { shardlist: unknown };
    const cleanManifest = JSON.parse(await readFile(path.join(clean, 'manifest.json'), 'utf8')) as { shardlist: unknown };
    expect(manifest.shardlist).toEqual(cleanManifest.shardlist);
  });

  it('prints a summary without --json', async () => {
    const r = await cli(['export', '--kind', 'sft', '--out', path.join(dataDir, 'plain'), '--shard-samples', '100']).done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^export plain: ${ledger.sftExpected} sft samples, [\\d.]+ MB \\(train \\d+ samples in 1 shard\\(s\\)`));
    expect(r.stdout).toContain(`manifest: ${path.join(dataDir, 'plain', 'manifest.json')}`);
  });

  it('rejects bad flags with exit 2 and one line naming the flag', async () => {
    const cases: [string[], string][] = [
      [['--kind', 'both', '--out', 'x'], '--kind'],
      [['--kind', 'sft'], '--out'],
      [['--kind', 'sft', '--out', 'x', '--shard-samples', '0'], '--shard-samples'],
      [['--kind', 'sft', '--out', 'x', '--shard-bytes', '1e3'], '--shard-bytes'],
      [['--kind', 'sft', '--out', 'x', '--val-fraction', '1.5'], '--val-fraction'],
      [['--kind', 'sft', '--out', 'x', '--min-axis', 'beauty=3'], '--min-axis'],
      [['--kind', 'sft', '--out', 'x', '--format', 'parquet'], '--format'],
      [['--kind', 'dpo', '--out', 'x', '--max-side', '-4'], '--max-side'],
    ];
    const results = await Promise.all(cases.map(([a]) => cli(['export', ...a]).done));
    for (const [i, r] of results.entries()) {
      const flag = cases[i]![1];
      expect(r.code, flag).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, flag).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^vibe-curate: ${flag}: `));
    }
  });
});
