/**
 * Prometheus metrics (prom-client): jobs by queue and outcome, stage latency, inference and
 * judge errors, and queue depths by state. One registry per process; the dashboard's
 * `/metrics` calls `collectQueueDepths` and then serves `metricsRegistry.metrics()`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { QUEUE_NAMES } from './jobs.ts';
import { queueDepths, type QueueDepths, type QueueSet } from './queues.ts';

/** The registry every pipeline metric lives in. */
export const metricsRegistry = new Registry();

let defaultsOn = false;
/** Adds Node's process metrics (event-loop lag, heap, CPU) once; long-running commands call it. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'vibe_' });
}

/** Jobs finished by a worker of this process, by queue and outcome (done, skipped, retry, failed, rate_limited). */
export const jobsTotal = new Counter({
  name: 'vibe_jobs_total',
  help: 'Jobs processed, by queue and outcome',
  labelNames: ['queue', 'outcome'] as const,
  registers: [metricsRegistry],
});

/** Wall time of one stage job, seconds. */
export const stageSeconds = new Histogram({
  name: 'vibe_stage_duration_seconds',
  help: 'Duration of one stage job in seconds',
  labelNames: ['stage'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [metricsRegistry],
});

/** Inference-core call errors by error code (RATE_LIMITED, REMOTE_RETRYABLE, REMOTE_FINAL, BAD_IMAGE). */
export const inferenceErrors = new Counter({
  name: 'vibe_inference_errors_total',
  help: 'Inference core errors, by code',
  labelNames: ['code'] as const,
  registers: [metricsRegistry],
});

/** Judge errors by code (transport errors, and unparseable replies recorded as failed judgments). */
export const judgeErrors = new Counter({
  name: 'vibe_judge_errors_total',
  help: 'Judge errors, by code',
  labelNames: ['code'] as const,
  registers: [metricsRegistry],
});

/** HTTP calls to the inference core, by outcome (ok, rate_limited, refused, error): one per attempt. */
export const inferenceCalls = new Counter({
  name: 'vibe_inference_calls_total',
  help: 'HTTP calls to the inference core, by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** HTTP calls to the judge, by outcome (ok, bad_reply, rate_limited, refused, error): one per attempt. */
export const judgeCalls = new Counter({
  name: 'vibe_judge_calls_total',
  help: 'HTTP calls to the judge, by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Generate jobs of this process waiting on the inference core right now (each holds one GPU slot). */
export const gpuSlotsInUse = new Gauge({
  name: 'vibe_gpu_slots_in_use',
  help: 'GPU slots (generate jobs in flight) this process holds',
  registers: [metricsRegistry],
});

/** GPU_SLOTS: the global cap on generate jobs, all workers together. */
export const gpuSlots = new Gauge({
  name: 'vibe_gpu_slots',
  help: 'GPU slots of the fleet (GPU_SLOTS)',
  registers: [metricsRegistry],
});

/** Reconcile runs this process made (the scheduled ones: one worker of the fleet per period). */
export const reconcileRuns = new Counter({
  name: 'vibe_reconcile_runs_total',
  help: 'Scheduled reconcile runs made by this process, by outcome',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

/** Jobs in each queue by state, as of the last `collectQueueDepths`. */
export const queueJobs = new Gauge({
  name: 'vibe_queue_jobs',
  help: 'Jobs in each queue, by state',
  labelNames: ['queue', 'state'] as const,
  registers: [metricsRegistry],
});

/** Reads the queue depths from Redis, sets `vibe_queue_jobs`, and returns them. */
export async function collectQueueDepths(set: QueueSet): Promise<QueueDepths> {
  const depths = await queueDepths(set);
  for (const q of QUEUE_NAMES) {
    for (const [state, n] of Object.entries(depths[q])) queueJobs.set({ queue: q, state }, n);
  }
  return depths;
}

/** The exposition text of every metric, after refreshing the queue depths when a queue set is given. */
export async function metricsText(set?: QueueSet): Promise<{ contentType: string; body: string }> {
  if (set) await collectQueueDepths(set);
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}

/** The label that tells processes apart in one Prometheus: `host:pid`. Set on every metric. */
export function labelThisProcess(): string {
  const name = `${os.hostname()}:${process.pid}`;
  metricsRegistry.setDefaultLabels({ process: name });
  return name;
}

/**
 * Serves `GET /metrics` (this process's registry) on `port` at `host` (port 0: any free port).
 * A worker runs one, so job counters and latencies are scraped where they are counted.
 */
export async function startMetricsServer(port: number, host = '0.0.0.0'): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    metricsRegistry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
