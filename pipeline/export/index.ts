/**
 * `runExport`: SFT picks or DPO pairs from the ledger into WebDataset tar shards (or Parquet for
 * DPO) plus `manifest.json`, recorded in `exports` / `export_shards`.
 *
 * Layout: everything goes straight into `outDir` (one kind per directory, e.g. `OUT/sft` and
 * `OUT/dpo`): `KIND-SPLIT-NNNNNN.tar` (or `.parquet`), `manifest.json`, and a hidden
 * `.vibe-export-state.json` that makes reruns resumable. The export's NAME (as served at
 * `/exports/NAME/…`) is the basename of `outDir`.
 *
 * Streaming: rows come a page at a time in key order; a split's current shard holds only sample
 * metadata until it is full, then its images are read a few at a time into a file stream.
 * Atomic: a shard is written to `NAME.tmp` and renamed; the manifest is removed at the start
 * and written last. Resumable and reproducible: shard boundaries depend only on the rows and the
 * arguments; a shard whose content id (a hash of its samples and encoding) and checksum match the
 * state file is kept as it is, so an interrupted rerun ends byte-identical to a clean run.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import {
  beginExport,
  countExportSamples,
  failExport,
  finishExport,
  latestRuleVersion,
  selectionParamsOf,
  streamDpoRows,
  streamSftRows,
  type Axis,
  type ExportFilter,
} from '../../db/repositories/export.repository.ts';
import type { Db } from '../../db/client.ts';
import { inSnapshot, type SnapshotInfo } from '../../db/repositories/snapshot.repository.ts';
import { groupNewSources, nearDupStats, ungroupedSourceIds } from '../../db/repositories/near-dup.repository.ts';
import { DEFAULT_NEAR_DUP_DISTANCE } from '../near-dup/bands.ts';
import type { BlobStore } from '../blobs.ts';
import { InputError } from '../errors/index.ts';
import { TOOL_VERSION } from '../package-root.ts';
import { needsEncode, type EncodeOptions } from './images.ts';
import { MANIFEST_FILE, totalsOf, writeManifest, type Manifest, type ShardEntry } from './manifest.ts';
import { writeParquetShard } from './parquet.ts';
import { dpoSample, sftSample, type SampleMeta } from './sample.ts';
import type { Split } from './split.ts';
import { sampleTarBytes, writeTarShard, type ShardWriteResult } from './webdataset.ts';
import { sleep } from '../sleep.ts';

/** The package version, stamped into manifests and content ids. */
export { TOOL_VERSION };

export interface ExportOptions {
  kind: 'sft' | 'dpo';
  outDir: string;
  /** Samples per shard (default 1000). */
  shardSamples: number;
  /** Cut a shard before it would pass this many bytes (images counted as stored). */
  shardBytes?: number;
  /** Fraction of sources (0–1) that go to the `val` split (default 0.05). */
  valFraction: number;
  /** Minimum canonical axis (0–10) of the SFT edit / DPO chosen edit. */
  minAxis?: Partial<Record<Axis, number>>;
  /** Only samples a human accepted (see db/repositories/export.repository.ts for the rule). */
  reviewedOnly?: boolean;
  format: 'webdataset' | 'parquet';
  /** Re-encode images to fit this many pixels on their longest side. */
  maxSide?: number;
  /** Re-encode JPEGs as well (non-JPEG blobs are always re-encoded to JPEG). */
  reencodeJpeg?: boolean;
  rubric: string;
  /** The judge model and prompt hash of the judge version read; default: those of the newest selection / pair of the rubric. */
  judgeModel?: string;
  promptHash?: string;
  /** Default: the first of preferRuleVersions with rows, else the rule version of the newest selection / pair for the rubric (and judge version). */
  ruleVersion?: string;
  /** NEAR_DUP_DISTANCE: sources left ungrouped (an enqueue cut short) are grouped with it first. */
  nearDupDistance?: number;
  /** Without ruleVersion: rule versions to export in this order of preference when they have rows (SELECT_RULES). */
  preferRuleVersions?: readonly string[];
  /**
   * An ensemble's judges (select-ensemble-v1): rubric, judgeModel and promptHash then name the
   * ensemble's composite version, the samples' axes are its first judge's, and the manifest
   * records every judge version.
   */
  judges?: { rubric: string; model: string; promptHash: string }[];
  onProgress?: (samples: number, total: number) => void;
  /** Milliseconds to wait after each written sample (a throttle; tests use it to interrupt). */
  sampleDelayMs?: number;
  /** Requests per page read from the ledger (default 500). */
  pageSize?: number;
  /** Write into a non-empty directory that holds no export of this kind and format (`--force`). */
  force?: boolean;
  /** Called once the export's snapshot is taken (its exported id lets other connections read the same snapshot). */
  onSnapshot?: (snap: SnapshotInfo) => void | Promise<void>;
}

export interface ExportResult {
  name: string;
  outDir: string;
  shards: ShardEntry[];
  samples: number;
  bytes: number;
  manifestPath: string;
}

export const STATE_FILE = '.vibe-export-state.json';

interface ShardState {
  contentId: string;
  sha256: string;
  filesize: number;
  nsamples: number;
}
interface State {
  /** What the directory holds: one kind and format per directory (absent in state files of older versions). */
  kind?: 'sft' | 'dpo';
  format?: 'webdataset' | 'parquet';
  shards: Record<string, ShardState>;
}

/** Checks the options; throws InputError naming the field. */
export function validateExportOptions(o: ExportOptions): void {
  const bad = (field: string, why: string) => {
    throw new InputError(why, { subject: field });
  };
  if (o.kind !== 'sft' && o.kind !== 'dpo') bad('kind', `expected sft or dpo, got ${String(o.kind)}`);
  if (o.format !== 'webdataset' && o.format !== 'parquet') bad('format', `expected webdataset or parquet, got ${String(o.format)}`);
  if (o.format === 'parquet' && o.kind !== 'dpo') bad('format', 'parquet is written for --kind dpo only');
  if (!o.outDir) bad('outDir', 'expected a directory');
  if (!Number.isInteger(o.shardSamples) || o.shardSamples < 1) bad('shardSamples', `expected a positive integer, got ${o.shardSamples}`);
  if (o.shardBytes !== undefined && (!Number.isInteger(o.shardBytes) || o.shardBytes < 1)) bad('shardBytes', `expected a positive integer, got ${o.shardBytes}`);
  if (!(o.valFraction >= 0 && o.valFraction <= 1)) bad('valFraction', `expected a number from 0 to 1, got ${o.valFraction}`);
  if (o.maxSide !== undefined && (!Number.isInteger(o.maxSide) || o.maxSide < 1)) bad('maxSide', `expected a positive integer, got ${o.maxSide}`);
  for (const [axis, v] of Object.entries(o.minAxis ?? {})) {
    if (!['instruction', 'preservation', 'quality'].includes(axis)) bad('minAxis', `unknown axis ${axis}`);
    if (typeof v !== 'number' || !(v >= 0 && v <= 10)) bad('minAxis', `${axis}: expected a number from 0 to 10, got ${v}`);
  }
  if (!o.rubric) bad('rubric', 'expected a rubric name');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function loadState(dir: string): Promise<State> {
  return (await readState(dir)) ?? { shards: {} };
}

/** The state file of `dir`, or null when there is none (or it is not one of ours). */
async function readState(dir: string): Promise<State | null> {
  try {
    const s = JSON.parse(await readFile(path.join(dir, STATE_FILE), 'utf8')) as State;
    return s && typeof s.shards === 'object' && s.shards ? s : null;
  } catch {
    return null;
  }
}

/**
 * Never clobbers: `outDir` must be missing, empty, or an export directory of the same kind and
 * format (its state file says so: then the export resumes). Anything else is refused naming
 * `--out`, unless `force`.
 */
async function guardOutDir(outDir: string, kind: 'sft' | 'dpo', format: 'webdataset' | 'parquet', force: boolean): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new InputError(`${outDir} is a file, not a directory`, { subject: '--out' });
    throw err;
  }
  if (entries.length === 0 || force) return;
  const state = await readState(outDir);
  if (!state) {
    throw new InputError(`${outDir} is not empty and holds no vibe-curate export (no ${STATE_FILE}); choose an empty or new directory, or pass --force`, {
      subject: '--out',
    });
  }
  if ((state.kind && state.kind !== kind) || (state.format && state.format !== format)) {
    throw new InputError(`${outDir} holds a ${state.kind ?? kind} ${state.format ?? format} export; write ${kind} ${format} into another directory, or pass --force`, {
      subject: '--out',
    });
  }
}

async function saveState(dir: string, state: State): Promise<void> {
  if (!state.kind) throw new Error('export state without kind');
  const file = path.join(dir, STATE_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(state));
  await rename(`${file}.tmp`, file);
}

async function isKept(file: string, st: ShardState | undefined, contentId: string): Promise<boolean> {
  if (!st || st.contentId !== contentId) return false;
  try {
    const s = await stat(file);
    return s.isFile() && s.size === st.filesize && (await sha256File(file)) === st.sha256;
  } catch {
    return false;
  }
}

/** Runs one export; see the module comment for the layout and guarantees. */
export async function runExport(db: Db, blobs: BlobStore, opts: ExportOptions): Promise<ExportResult> {
  validateExportOptions(opts);
  const outDir = path.resolve(opts.outDir);
  const name = path.basename(outDir);
  const { kind, format } = opts;
  // One judge version and one rule version: the ones asked for, else the newest selection's.
  const latest = await latestRuleVersion(db, kind, opts.rubric, { model: opts.judgeModel, promptHash: opts.promptHash }, opts.preferRuleVersions);
  const ruleVersion = opts.ruleVersion ?? latest?.ruleVersion ?? 'none';
  const judge: { rubric: string; model: string; prompt_hash: string; judges?: { rubric: string; model: string; prompt_hash: string }[] } = {
    rubric: opts.rubric,
    model: opts.judgeModel ?? latest?.judgeModel ?? 'none',
    prompt_hash: opts.promptHash ?? latest?.promptHash ?? 'none',
  };
  if (opts.judges?.length) judge.judges = opts.judges.map((j) => ({ rubric: j.rubric, model: j.model, prompt_hash: j.promptHash }));
  const filter: ExportFilter = {
    rubric: opts.rubric,
    judgeModel: judge.model,
    promptHash: judge.prompt_hash,
    ruleVersion,
    ...(opts.judges?.length ? { axesFrom: { rubric: opts.judges[0]!.rubric, judgeModel: opts.judges[0]!.model, promptHash: opts.judges[0]!.promptHash } } : {}),
    reviewedOnly: Boolean(opts.reviewedOnly),
    minAxis: opts.minAxis ?? {},
  };
  const enc: EncodeOptions = { maxSide: opts.maxSide, reencodeJpeg: Boolean(opts.reencodeJpeg) };
  const filters = {
    min_axis: filter.minAxis,
    reviewed_only: filter.reviewedOnly,
    val_fraction: opts.valFraction,
    shard_samples: opts.shardSamples,
    shard_bytes: opts.shardBytes ?? 0,
    max_side: opts.maxSide ?? 0,
    reencode_jpeg: enc.reencodeJpeg,
  };

  await guardOutDir(outDir, kind, format, Boolean(opts.force));
  await mkdir(outDir, { recursive: true });
  await rm(path.join(outDir, MANIFEST_FILE), { force: true }); // incomplete until written again
  // splits hash the near-duplicate group: first group any source an interrupted enqueue left ungrouped
  const distance = opts.nearDupDistance ?? DEFAULT_NEAR_DUP_DISTANCE;
  for (let ids = await ungroupedSourceIds(db); ids.length; ids = await ungroupedSourceIds(db)) await groupNewSources(db, ids, distance);
  const dups = await nearDupStats(db);
  const exportId = await beginExport(db, { name, kind, format, outDir, params: { rubric: opts.rubric, judge, ruleVersion, ...filters } });
  // A shard's last bytes are written, its state saved and its file renamed (its "tail") while
  // the next shard fills: at most one tail runs at a time, in shard order
  let tail: Promise<void> = Promise.resolve();
  try {
    const state: State = { ...(await loadState(outDir)), kind, format };
    await saveState(outDir, state); // the directory is this kind's from now on
    const judgeModels = new Set<string>();
    // Every read from here to the last shard sees one snapshot of the ledger (the writes to the
    // exports table go through db, before and after it).
    const { shards, snap, selectionParams } = await inSnapshot(db, async (tx, snap) => {
      await opts.onSnapshot?.(snap);
      const ext = format === 'parquet' ? 'parquet' : 'tar';
      const encodeTag = `${TOOL_VERSION}|${format}|${enc.maxSide ?? 0}|${enc.reencodeJpeg}|vips ${sharp.versions.vips}`;
      const shards: ShardEntry[] = [];
      let done = 0;
      // the total is only for progress: counted (when someone listens) while the rows stream,
      // since the count is a pass over the whole join; progress is reported once it is known
      let total = -1;
      const progress = () => {
        if (total >= 0) opts.onProgress?.(done, total);
      };
      const counted = opts.onProgress
        ? countExportSamples(tx, kind, filter).then((n) => {
            total = n;
            progress();
          })
        : Promise.resolve();
      counted.catch(() => {}); // surfaced when awaited below

      const flush = async (split: Split, index: number, metas: SampleMeta[]) => {
        const url = `${kind}-${split}-${String(index).padStart(6, '0')}.${ext}`;
        const file = path.join(outDir, url);
        const h = createHash('sha256').update(encodeTag);
        for (const m of metas) {
          h.update(`\n${m.key}\t${m.instruction}\t${m.json}`);
          for (const i of m.images) h.update(`\t${i.suffix}:${i.sha256}:${needsEncode(i, enc) ? 'enc' : 'raw'}`);
        }
        const contentId = h.digest('hex');
        const previous = tail;
        if (await isKept(file, state.shards[url], contentId)) {
          await previous;
          const st = state.shards[url]!;
          shards.push({ url, nsamples: metas.length, filesize: st.filesize, sha256: st.sha256, split, kind });
          done += metas.length;
          progress();
          return;
        }
        const tmp = `${file}.tmp`;
        const onSample = () => {
          done += 1;
          progress();
          return opts.sampleDelayMs ? sleep(opts.sampleDelayMs) : undefined;
        };
        let written: Promise<ShardWriteResult>;
        try {
          written =
            format === 'parquet'
              ? Promise.resolve(await writeParquetShard(tmp, metas, blobs, enc, `vibe-curate ${TOOL_VERSION}`, onSample))
              : (await writeTarShard(tmp, metas, blobs, enc, onSample)).done;
        } catch (err) {
          await previous.catch(() => {});
          await rm(tmp, { force: true });
          throw err;
        }
        tail = (async () => {
          try {
            await previous;
            const result = await written;
            // state first, then the rename: a shard under its final name is always in the state
            // (an entry whose file is missing or differs is simply written again)
            state.shards[url] = { contentId, sha256: result.sha256, filesize: result.bytes, nsamples: metas.length };
            await saveState(outDir, state);
            await rename(tmp, file);
            shards.push({ url, nsamples: metas.length, filesize: result.bytes, sha256: result.sha256, split, kind });
          } catch (err) {
            await written.catch(() => {});
            await rm(tmp, { force: true });
            throw err;
          }
        })();
        tail.catch(() => {}); // surfaced when awaited
        await previous;
      };

      const open: Record<Split, { index: number; metas: SampleMeta[]; bytes: number }> = {
        train: { index: 0, metas: [], bytes: 0 },
        val: { index: 0, metas: [], bytes: 0 },
      };
      const cut = async (split: Split) => {
        const sp = open[split];
        await flush(split, sp.index, sp.metas);
        open[split] = { index: sp.index + 1, metas: [], bytes: 0 };
      };
      const ctx = { kind, rubric: opts.rubric, valFraction: opts.valFraction };
      const metas: AsyncIterable<SampleMeta> =
        kind === 'sft'
          ? mapAsync(streamSftRows(tx, filter, opts.pageSize), (r) => (judgeModels.add(r.judge_model), sftSample(r, ctx)))
          : mapAsync(streamDpoRows(tx, filter, opts.pageSize), (r) => (judgeModels.add(r.chosen.judge_model), judgeModels.add(r.rejected.judge_model), dpoSample(r, ctx)));
      for await (const meta of metas) {
        const sp = open[meta.split];
        if (opts.shardBytes) {
          const sizes = await Promise.all(meta.images.map(async (i) => (await stat(blobs.path(i.blobKey))).size));
          const b = sampleTarBytes(meta, sizes);
          if (sp.metas.length && sp.bytes + b > opts.shardBytes) await cut(meta.split);
          open[meta.split].bytes += b;
        }
        open[meta.split].metas.push(meta);
        if (open[meta.split].metas.length >= opts.shardSamples) await cut(meta.split);
      }
      for (const split of ['train', 'val'] as const) if (open[split].metas.length) await cut(split);
      await tail;
      await counted;
      return { shards, snap, selectionParams: await selectionParamsOf(tx, kind, filter) };
    });

    shards.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    await removeStale(outDir, kind, new Set(shards.map((s) => s.url)), state);

    const manifest: Manifest = {
      name,
      kind,
      format,
      created_at: new Date().toISOString(),
      tool: { name: 'vibe-curate', version: TOOL_VERSION },
      rubric: opts.rubric,
      rule_version: ruleVersion,
      judge,
      snapshot: { at: snap.at, high_water: snap.highWater },
      versions: {
        selection: { rule_version: ruleVersion, params: selectionParams },
        judge: { rubric: judge.rubric, model: judge.model, prompt_hash: judge.prompt_hash, models: [...judgeModels].sort() },
      },
      filters,
      totals: totalsOf(shards),
      shardlist: shards,
      near_duplicates: { distance, groups: dups.groups, sources: dups.sources, largest: dups.largest, split_by: 'near_dup_group' },
    };
    const written = await writeManifest(outDir, manifest);
    await finishExport(db, exportId, {
      samples: manifest.totals.samples,
      bytes: manifest.totals.bytes,
      manifestSha256: written.sha256,
      shards: shards.map((s) => ({ path: s.url, split: s.split, samples: s.nsamples, bytes: s.filesize, sha256: s.sha256 })),
    });
    return { name, outDir, shards, samples: manifest.totals.samples, bytes: manifest.totals.bytes, manifestPath: written.path };
  } catch (err) {
    await tail.catch(() => {}); // no shard is renamed after this
    await failExport(db, exportId).catch(() => {});
    throw err;
  }
}

/** Removes shards of this kind (and temp files) that the finished export does not list. */
async function removeStale(dir: string, kind: string, keep: Set<string>, state: State): Promise<void> {
  const re = new RegExp(`^${kind}-(train|val)-\\d{6}\\.(tar|parquet)(\\.tmp)?$`);
  for (const f of await readdir(dir)) {
    if (re.test(f) && !keep.has(f)) await rm(path.join(dir, f), { force: true });
  }
  let changed = false;
  for (const url of Object.keys(state.shards)) {
    if (!keep.has(url)) {
      delete state.shards[url];
      changed = true;
    }
  }
  if (changed) await saveState(dir, state);
}

async function* mapAsync<T, R>(src: AsyncIterable<T>, fn: (t: T) => R): AsyncGenerator<R> {
  for await (const t of src) yield fn(t);
}
