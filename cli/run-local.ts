/**
 * Runs the whole pipeline in this process, to completion: enqueue (manifest lines or request
 * objects), then generate → check → judge → select workers on a private queue prefix, until
 * every request is selected or failed for good. What `demo` and the dashboard's end-to-end
 * tests use. Postgres keeps every result, so a second run over the same requests does nothing
 * new; the private queue keys are deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../pipeline/blobs.ts';
import type { Config } from '../pipeline/config.ts';
import { parseManifestLines, type ManifestLine } from '../pipeline/manifest.ts';
import { QUEUE_NAMES } from '../pipeline/jobs.ts';
import { deletePrefixKeys, openQueues, queueDepths } from '../pipeline/queues.ts';
import { enqueueManifest, type EnqueueSummary } from '../pipeline/stages/enqueue.ts';
import { reconcile } from '../pipeline/stages/reconcile.ts';
import { selectionSettings } from '../pipeline/select/index.ts';
import type { Db } from '../db/client.ts';
import { getFunnel, type Funnel } from '../db/repositories/funnel.repository.ts';
import { runProgress, type RunProgress } from '../db/repositories/requests.repository.ts';
import { startWorkers } from '../workers/main.ts';

/** One request given as an object instead of a manifest line. */
export interface LocalRequest {
  /** A path (relative to `baseDir`) or an http(s) URL. */
  image: string;
  instruction: string;
  category?: string;
}

export interface LocalPipelineOptions {
  db: Db;
  blobs: BlobStore;
  config: Config;
  redisUrl: string;
  /** JSONL manifest lines (line numbers in reports count from 1). */
  manifestLines?: readonly string[];
  /** Requests as objects (used when manifestLines is not given). */
  requests?: readonly LocalRequest[];
  /** Folder relative image paths are resolved against; default the working directory. */
  baseDir?: string;
  /** Candidates per request (K); default CANDIDATES. */
  candidates?: number;
  /** BullMQ prefix; default a fresh private one, deleted at the end. */
  prefix?: string;
  onProgress?: (p: RunProgress) => void;
  /** A rejected manifest line or request: 1-based line (or index + 1) and why. */
  onReject?: (line: number, why: string) => void;
  signal?: AbortSignal;
  /** Give up after this long, milliseconds; default no limit. */
  timeoutMs?: number;
}

export interface LocalPipelineSummary {
  enqueue: EnqueueSummary;
  /** Progress of this run's requests at the end. */
  progress: RunProgress;
  /** The funnel of the whole database (the selection rubric's judgments). */
  funnel: Funnel;
  /** The rubric selection and the funnel used. */
  rubric: string;
  /** The in-process inference core's URL, when INFERENCE_URL was unset. */
  inferenceUrl?: string;
  elapsedMs: number;
}

const POLL_MS = 200; // longest wait between two progress reads
const DEPTHS_EVERY_MS = 1000; // queue depths (idle detection) at most this often
const IDLE_MS_BEFORE_RECONCILE = 2000; // 2 s with empty queues and unfinished requests

/**
 * Enqueues the given requests and runs every stage in this process until each of them is
 * selected, or failed for good (its failure is in `failures`). Resolves with the summary.
 */
export async function runLocalPipeline(o: LocalPipelineOptions): Promise<LocalPipelineSummary> {
  const t0 = performance.now();
  const prefix = o.prefix ?? `vibe-local-${process.pid}-${randomBytes(4).toString('hex')}`;
  const queues = openQueues(o.redisUrl, prefix);
  let running: Awaited<ReturnType<typeof startWorkers>> | undefined;
  try {
    running = await startWorkers({ db: o.db, blobs: o.blobs, config: o.config, queues, redisUrl: o.redisUrl, which: QUEUE_NAMES });
    const lines: Iterable<ManifestLine> = o.manifestLines
      ? parseManifestLines(o.manifestLines)
      : (o.requests ?? []).map((r, i) =>
          r.image && r.instruction?.trim()
            ? { ok: true as const, entry: { line: i + 1, image: r.image, instruction: r.instruction.trim(), category: r.category ?? '' } }
            : { ok: false as const, line: i + 1, error: r.image ? 'instruction: expected a non-empty string' : 'image: missing' },
        );
    const enqueue = await enqueueManifest(lines, {
      db: o.db,
      blobs: o.blobs,
      queues,
      candidates: o.candidates ?? o.config.inference.candidates,
      model: o.config.inference.model,
      baseDir: o.baseDir ?? process.cwd(),
      maxPixels: o.config.checks.maxImagePixels,
      nearDupDistance: o.config.nearDup.distance,
      onReject: o.onReject,
      signal: o.signal,
    });
    const ids = [...new Set(enqueue.requestIds)];
    const deadline = o.timeoutMs ? Date.now() + o.timeoutMs : Infinity;
    // A request finishes when its select job completes or one of its jobs fails for good. Once
    // as many of those events came as requests were unfinished at the last read, the wait is cut
    // short: the end of the run is seen when it happens, not up to POLL_MS later.
    let wake: (() => void) | undefined;
    let events = 0;
    let unfinished = Infinity;
    const nudge = () => {
      if (++events >= unfinished) wake?.();
    };
    for (const w of running.workers) {
      if (w.name === 'select') w.on('completed', nudge);
      w.on('failed', nudge);
    }
    let idleSince: number | undefined;
    let lastDepths = performance.now();
    const read = async () => {
      events = 0;
      const p = await runProgress(o.db, ids);
      unfinished = p.requests - p.finished;
      return p;
    };
    let progress = await read();
    for (;;) {
      o.onProgress?.(progress);
      if (progress.finished >= progress.requests) break;
      if (o.signal?.aborted) throw o.signal.reason;
      if (Date.now() > deadline) throw new Error(`run-local: gave up after ${o.timeoutMs} ms with ${progress.requests - progress.finished} requests unfinished`);
      if (events < unfinished) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, POLL_MS);
          wake = done;
        });
      }
      if (performance.now() - lastDepths >= DEPTHS_EVERY_MS) {
        lastDepths = performance.now();
        const depths = await queueDepths(queues);
        const busy = QUEUE_NAMES.some((q) => depths[q].waiting + depths[q].active + depths[q].delayed + depths[q].prioritized > 0);
        idleSince = busy ? undefined : (idleSince ?? Date.now());
        if (idleSince !== undefined && Date.now() - idleSince >= IDLE_MS_BEFORE_RECONCILE) {
          // Nothing queued yet unfinished work: a job was lost (e.g. Redis restarted). Postgres knows what is left.
          await reconcile({ db: o.db, queues, config: o.config });
          idleSince = undefined;
        }
      }
      progress = await read();
    }
    const settings = selectionSettings(o.config);
    return {
      enqueue,
      progress,
      funnel: await getFunnel(o.db, settings),
      rubric: settings.judge.rubric,
      inferenceUrl: running.builtinInferenceUrl,
      elapsedMs: performance.now() - t0,
    };
  } finally {
    await running?.close();
    if (!o.prefix) await deletePrefixKeys(queues.connection, prefix).catch(() => 0);
    await queues.close();
  }
}
