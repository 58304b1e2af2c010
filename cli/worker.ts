/**
 * `vibe-curate worker [--queues generate,check,judge,select] [--concurrency N]`: processes the
 * chosen queues until SIGTERM or SIGINT, then closes the workers (active jobs finish, nothing
 * new is taken) and exits 0. Run it on as many machines as you like against one Redis,
 * Postgres and blob volume. Each worker serves /metrics on METRICS_PORT, and one worker of the
 * fleet at a time runs reconcile every RECONCILE_EVERY.
 */
import type { Command } from 'commander';
import { InputError } from '../pipeline/errors/index.ts';
import { isQueueName, QUEUE_NAMES, type QueueName } from '../pipeline/jobs.ts';
import { enableProcessMetrics, gpuSlots, labelThisProcess, startMetricsServer } from '../pipeline/metrics.ts';
import { scheduleReconcile } from '../pipeline/stages/reconcile-schedule.ts';
import { startWorkers } from '../workers/main.ts';
import { untilSignal, type CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';

/** `generate,check` → the queue names; InputError naming the flag otherwise. */
export function parseQueueList(v: string): QueueName[] {
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new InputError(`expected a comma-separated list of ${QUEUE_NAMES.join(', ')}`, { subject: '--queues' });
  for (const n of names) if (!isQueueName(n)) throw new InputError(`unknown queue '${n}' (expected ${QUEUE_NAMES.join(', ')})`, { subject: '--queues' });
  return [...new Set(names)] as QueueName[];
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description('process jobs of the chosen queues until SIGTERM/SIGINT')
    .option('--queues <list>', 'comma-separated queues', QUEUE_NAMES.join(','))
    .option('--concurrency <n>', 'jobs at once per queue (default: GPU_SLOTS, CHECK_CONCURRENCY, 2 × JUDGE_CONCURRENCY, 2)')
    .action(async (flags: { queues: string; concurrency?: string }) => {
      const which = parseQueueList(flags.queues);
      let concurrency: number | undefined;
      if (flags.concurrency !== undefined) {
        concurrency = /^\d+$/.test(flags.concurrency.trim()) ? Number(flags.concurrency) : NaN;
        if (!(concurrency >= 1 && concurrency <= 1000)) throw new InputError(`expected an integer from 1 to 1000, got '${flags.concurrency}'`, { subject: '--concurrency' });
      }
      const cfg = ctx.config();
      const h = await ctx.db();
      const { set, redisUrl } = await commandQueues(ctx);
      enableProcessMetrics();
      const lastError = new Map<string, number>();
      const running = await startWorkers({
        db: h.db,
        blobs: ctx.blobs(),
        config: cfg,
        queues: set,
        redisUrl,
        which,
        concurrency,
        onError: (q, err) => {
          const key = `${q}:${err.message}`;
          const now = Date.now();
          if (now - (lastError.get(key) ?? 0) < 10_000) return; // the same error at most every 10 s
          lastError.set(key, now);
          process.stderr.write(`vibe-curate: worker ${q}: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
        },
      });
      if (h.kind === 'pglite') {
        process.stderr.write(`worker: embedded PGlite in ${h.where}: no other process may open it while this worker runs; set DATABASE_URL to run workers beside enqueue, status or more workers\n`);
      }
      gpuSlots.set(cfg.inference.gpuSlots);
      let metrics: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
      if (cfg.worker.metricsPort > 0) {
        const name = labelThisProcess();
        try {
          metrics = await startMetricsServer(cfg.worker.metricsPort);
        } catch (err) {
          await running.close();
          throw new InputError(`cannot listen: ${(err as Error).message}`, { subject: `METRICS_PORT=${cfg.worker.metricsPort}` });
        }
        process.stderr.write(`worker: metrics at ${metrics.url} (process="${name}")\n`);
      }
      const schedule =
        cfg.worker.reconcileEveryMs > 0
          ? scheduleReconcile({ db: h.db, queues: set, config: cfg }, cfg.worker.reconcileEveryMs, {
              onRun: (r) => {
                const n = Object.values(r.enqueued).reduce((a, b) => a + b, 0);
                if (n || r.settled) process.stderr.write(`worker: reconcile enqueued ${n} job(s), settled ${r.settled}\n`);
              },
              onError: (why) => process.stderr.write(`vibe-curate: worker reconcile: ${why}\n`),
            })
          : undefined;
      const inference = running.builtinInferenceUrl ? `, built-in inference core at ${running.builtinInferenceUrl}` : '';
      process.stderr.write(`worker: ${which.join(',')} (prefix ${set.prefix}, ${h.kind}${inference}); SIGTERM or SIGINT to stop\n`);
      const sig = await untilSignal();
      process.stderr.write(`worker: ${sig}, finishing active jobs\n`);
      await schedule?.stop();
      await running.close();
      await metrics?.close();
      process.stderr.write('worker: stopped\n');
    });
}
