/**
 * `manifest.json`, written last (to a temp name, then renamed) so its presence means the export
 * is complete: the shard list with sizes and checksums, totals per split, the filters, the rule
 * and rubric versions, creation time and tool version. Shard `url`s are relative to the
 * manifest, so the same file works on disk and over HTTP.
 */
import { createHash } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ShardEntry {
  url: string;
  nsamples: number;
  filesize: number;
  sha256: string;
  split: string;
  kind: string;
}

export interface Manifest {
  name: string;
  kind: 'sft' | 'dpo';
  format: 'webdataset' | 'parquet';
  created_at: string;
  tool: { name: 'vibe-curate'; version: string };
  rubric: string;
  rule_version: string;
  /** The judge version whose judgments and selection were exported. */
  judge: { rubric: string; model: string; prompt_hash: string };
  /** The one snapshot of the ledger every sample was read from: its time and each table's highest id. */
  snapshot: { at: string; high_water: Record<string, number> };
  /**
   * The versions the samples come from: the selection rule with the params it stored (thresholds
   * and check version included), and the judge version (models: those seen in the samples).
   */
  versions: {
    selection: { rule_version: string; params: unknown[] };
    judge: { rubric: string; model: string; prompt_hash: string; models: string[] };
  };
  filters: Record<string, unknown>;
  totals: { samples: number; bytes: number; shards: number; splits: Record<string, { samples: number; bytes: number; shards: number }> };
  shardlist: ShardEntry[];
}

export const MANIFEST_FILE = 'manifest.json';

/** Totals over a shard list, overall and per split. */
export function totalsOf(shards: ShardEntry[]): Manifest['totals'] {
  const splits: Manifest['totals']['splits'] = {};
  let samples = 0;
  let bytes = 0;
  for (const s of shards) {
    samples += s.nsamples;
    bytes += s.filesize;
    const t = (splits[s.split] ??= { samples: 0, bytes: 0, shards: 0 });
    t.samples += s.nsamples;
    t.bytes += s.filesize;
    t.shards += 1;
  }
  return { samples, bytes, shards: shards.length, splits };
}

/** Writes `manifest` into `dir` atomically; returns its path and sha256. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<{ path: string; sha256: string }> {
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const file = path.join(dir, MANIFEST_FILE);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { path: file, sha256: createHash('sha256').update(text).digest('hex') };
}
