/**
 * Queues in the dashboard: BullMQ's own board at /queues, and a sampler that reads every
 * queue's job counts every few seconds into a ring buffer, which the overview charts as queue
 * depth and throughput (completed jobs per second between two samples).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';
import { QUEUE_NAMES, type QueueName } from '../../pipeline/jobs.ts';
import { collectQueueDepths, metricsText } from '../../pipeline/metrics.ts';
import { openQueues, type QueueDepths } from '../../pipeline/queues.ts';

export interface QueueSample {
  /** Unix milliseconds. */
  t: number;
  counts: QueueDepths;
}

export interface QueueSampler {
  history(): { queues: readonly QueueName[]; intervalMs: number; samples: QueueSample[] };
  /** Takes one sample now (the timer calls this). */
  sample(): Promise<void>;
  /** Prometheus text with the queue depths refreshed first. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The board sub-app for /queues. */
  board: Hono;
  close(): Promise<void>;
}

/**
 * Opens the stage queues on `redisUrl` and samples their depths every `intervalMs` (default
 * 5 000 ms = 5 s), keeping the newest `capacity` samples (default 720 = 1 h at 5 s).
 */
export function startQueueSampler(o: { redisUrl: string; prefix: string; intervalMs?: number; capacity?: number }): QueueSampler {
  const intervalMs = o.intervalMs ?? 5_000;
  const capacity = o.capacity ?? 720;
  const set = openQueues(o.redisUrl, o.prefix);
  const ring: QueueSample[] = [];
  let busy = false;

  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      ring.push({ t: Date.now(), counts: await collectQueueDepths(set) });
      if (ring.length > capacity) ring.splice(0, ring.length - capacity);
    } catch {
      // Redis unreachable: this sample is missing from the chart
    } finally {
      busy = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), intervalMs);
  timer.unref();

  const serverAdapter = new HonoAdapter(serveStatic);
  serverAdapter.setBasePath('/queues');
  // @bull-board/hono pins its own copy of @bull-board/api: the same shape, another declaration.
  const adapter = serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'];
  const boardQueues = QUEUE_NAMES.map((name) => new BullMQAdapter(set.queues[name] as unknown as Queue));
  createBullBoard({ queues: boardQueues, serverAdapter: adapter, options: { uiConfig: { boardTitle: 'vibe-curate queues' } } });

  return {
    history: () => ({ queues: QUEUE_NAMES, intervalMs, samples: ring.slice() }),
    sample,
    metrics: () => metricsText(set),
    board: serverAdapter.registerPlugin() as unknown as Hono,
    async close() {
      clearInterval(timer);
      await set.close().catch(() => {});
    },
  };
}
