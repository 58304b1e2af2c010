/**
 * The enqueue stage: manifest entries → sources (stored by content hash) → requests (unique per
 * source, instruction, model) → `generate` jobs, in batches (one INSERT per table and one
 * `addBulk` per batch). A bad line is reported and skipped; re-running a manifest adds nothing.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { sha256Hex, type BlobStore } from '../blobs.ts';
import { describeError, InputError } from '../errors/index.ts';
import { probeImage, readImageFile } from '../images.ts';
import { resolveImageRef, type ManifestEntry, type ManifestLine } from '../manifest.ts';
import { enqueueJobs, type QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';
import { insertRequests } from '../../db/repositories/requests.repository.ts';
import { upsertSources, type NewSource } from '../../db/repositories/sources.repository.ts';
import { groupNewSources } from '../../db/repositories/near-dup.repository.ts';
import { bandKeys, DEFAULT_NEAR_DUP_DISTANCE } from '../near-dup/bands.ts';
import { phashOfImage, toSignedString } from '../near-dup/phash.ts';

export interface EnqueueOptions {
  db: Db;
  blobs: BlobStore;
  queues: QueueSet;
  /** Candidates per request (K). */
  candidates: number;
  /** Inference model name stored with each request (part of its unique key). */
  model: string;
  /** Folder relative image paths are resolved against (the manifest's folder). */
  baseDir: string;
  maxPixels: number;
  /** Hamming distance (bits of 64) within which sources are near-duplicates (NEAR_DUP_DISTANCE; default 6). */
  nearDupDistance?: number;
  /** Per image download, milliseconds. */
  fetchTimeoutMs?: number;
  /** Largest image download, bytes. */
  maxDownloadBytes?: number;
  /** Lines per batch (one INSERT per table and one addBulk each). */
  batchSize?: number;
  /** Images loaded at once (files and downloads). */
  loadConcurrency?: number;
  onReject?: (line: number, why: string) => void;
  /** Called after each batch with the number of lines handled so far. */
  onProgress?: (lines: number) => void;
  signal?: AbortSignal;
}

export interface EnqueueSummary {
  /** Manifest lines read (blank lines excluded). */
  lines: number;
  /** Requests created now. */
  added: number;
  /** Requests that already existed (the same source, instruction and model). */
  present: number;
  /** Lines rejected (bad JSON, missing field, unreadable or not an image). */
  rejected: number;
  /** Generate jobs handed to BullMQ (added ones, plus present ones still pending). */
  enqueued: number;
  /** Ids of the requests of every accepted line, in manifest order. */
  requestIds: number[];
}

const DEFAULT_BATCH = 1000;
const DEFAULT_FETCH_TIMEOUT_MS = 30_000; // 30 s per download
const DEFAULT_MAX_DOWNLOAD = 64 * 1024 * 1024; // 64 MiB
const CACHE_ENTRIES = 10_000; // distinct image references remembered per run

/** Deterministic first seed of a request: the same source and instruction always get the same seeds. */
export function baseSeedOf(sourceSha256: string, instruction: string): number {
  const h = createHash('sha256').update(sourceSha256).update('\n').update(instruction).digest();
  return h.readUInt32BE(0) & 0x3fffffff; // < 2^30: seed + K stays inside a Postgres integer
}

const EXT: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif', tiff: 'tif', heif: 'heic', avif: 'avif' };

interface LoadedSource {
  source: NewSource;
}

/** Streams manifest lines into requests and generate jobs. */
export async function enqueueManifest(lines: AsyncIterable<ManifestLine> | Iterable<ManifestLine>, o: EnqueueOptions): Promise<EnqueueSummary> {
  const out: EnqueueSummary = { lines: 0, added: 0, present: 0, rejected: 0, enqueued: 0, requestIds: [] };
  const batchSize = o.batchSize ?? DEFAULT_BATCH;
  // One load per distinct image reference in this run: a manifest may name one image many times.
  const cache = new Map<string, Promise<LoadedSource>>();
  let batch: ManifestEntry[] = [];
  // The jobs of one batch go to Redis while the next batch is read and written to Postgres.
  let adding: Promise<void> = Promise.resolve();
  const reject = (line: number, why: string) => {
    out.rejected++;
    o.onReject?.(line, why);
  };
  const flush = async () => {
    if (!batch.length) return;
    const entries = batch;
    batch = [];
    const ids = await handleBatch(entries, o, cache, out, reject);
    await adding;
    const linesSoFar = out.lines;
    adding = enqueueJobs(o.queues, 'generate', ids.map((requestId) => ({ requestId }))).then((n) => {
      out.enqueued += n;
      o.onProgress?.(linesSoFar);
    });
    adding.catch(() => {}); // awaited at the next flush or the end; never an unhandled rejection meanwhile
  };
  for await (const l of lines) {
    if (o.signal?.aborted) throw o.signal.reason;
    out.lines++;
    if (!l.ok) reject(l.line, l.error);
    else batch.push(l.entry);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  await adding;
  return out;
}

async function handleBatch(
  entries: ManifestEntry[],
  o: EnqueueOptions,
  cache: Map<string, Promise<LoadedSource>>,
  out: EnqueueSummary,
  reject: (line: number, why: string) => void,
): Promise<number[]> {
  const loaded = await pLimit(o.loadConcurrency ?? 8).map(entries, async (e) => {
    try {
      const ref = resolveImageRef(e.image, o.baseDir);
      const key = ref.kind === 'url' ? ref.url : ref.path;
      let p = cache.get(key);
      if (!p) {
        if (cache.size >= CACHE_ENTRIES) cache.clear();
        p = loadSource(e.image, ref, o);
        cache.set(key, p);
      }
      return await p;
    } catch (err) {
      reject(e.line, describeError(err));
      return undefined;
    }
  });
  const ok = entries.flatMap((e, i) => (loaded[i] ? [{ e, s: loaded[i]!.source }] : []));
  if (!ok.length) return [];
  const ids = await upsertSources(o.db, ok.map((x) => x.s));
  // the rows (hash and band keys) are committed: now join their near-duplicate groups
  await groupNewSources(o.db, [...new Set(ids.values())], o.nearDupDistance ?? DEFAULT_NEAR_DUP_DISTANCE);
  const reqs = await insertRequests(
    o.db,
    ok.map(({ e, s }) => ({
      sourceId: ids.get(s.sha256)!,
      instruction: e.instruction,
      category: e.category,
      candidatesWanted: o.candidates,
      model: o.model,
      baseSeed: baseSeedOf(s.sha256, e.instruction),
    })),
  );
  const toEnqueue: number[] = [];
  for (const r of reqs) {
    if (r.created) out.added++;
    else out.present++;
    out.requestIds.push(r.id);
    if (r.created || r.status === 'pending') toEnqueue.push(r.id);
  }
  return [...new Set(toEnqueue)];
}

async function loadSource(origin: string, ref: ReturnType<typeof resolveImageRef>, o: EnqueueOptions): Promise<LoadedSource> {
  const bytes = ref.kind === 'file' ? await readImageFile(ref.path, { maxPixels: o.maxPixels }) : await download(ref.url, o);
  const subject = ref.kind === 'file' ? ref.path : ref.url;
  const info = await probeImage(bytes, subject, { maxPixels: o.maxPixels });
  const stored = await o.blobs.put(bytes, EXT[info.format] ?? info.format);
  const hash = await phashOfImage(bytes);
  return {
    source: {
      sha256: stored.sha256 || sha256Hex(bytes),
      blob: stored.key,
      width: info.width,
      height: info.height,
      format: info.format,
      bytes: bytes.length,
      origin,
      phash: toSignedString(hash),
      phashBands: bandKeys(hash, o.nearDupDistance ?? DEFAULT_NEAR_DUP_DISTANCE),
    },
  };
}

async function download(url: string, o: EnqueueOptions): Promise<Buffer> {
  const timeoutMs = o.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const max = o.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `download timed out after ${timeoutMs} ms` : `download failed: ${e.cause?.code ?? e.message}`;
    throw new InputError(why, { subject: url, cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new InputError(`download failed: HTTP ${res.status}`, { subject: url });
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw new InputError(`download larger than ${max} bytes (${declared})`, { subject: url });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > max) throw new InputError(`download larger than ${max} bytes`, { subject: url });
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`download failed: ${(err as Error).message}`, { subject: url, cause: err });
  }
  return Buffer.concat(chunks);
}
