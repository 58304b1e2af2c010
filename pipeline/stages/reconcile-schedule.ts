/**
 * Reconcile by itself: every worker of the fleet looks every few seconds for a Redis lock
 * (`PREFIX:reconcile:lock`, SET NX with an expiry of one period); the one that takes it runs
 * reconcile and leaves the lock to expire, so the fleet reconciles once per period, one worker at
 * a time, and a lost job comes back without a person. A reconcile that outlasts the period keeps
 * extending its lock while it runs.
 */
import type { Config } from '../config.ts';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeError } from '../errors/index.ts';
import { reconcileRuns } from '../metrics.ts';
import type { QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';
import { reconcile, type ReconcileSummary } from './reconcile.ts';

/** How often a worker looks for the lock: a quarter of the period, between 1 s and 60 s. */
export function lockPollMs(everyMs: number): number {
  return Math.min(60_000, Math.max(1000, Math.floor(everyMs / 4)));
}

// Extends the lock (PEXPIRE) only while it still holds this worker's token.
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface ReconcileSchedule {
  /** Stops looking for the lock and waits for a reconcile in progress (aborted) to end. */
  stop(): Promise<void>;
}

/** Starts the schedule for this worker; `everyMs` > 0. */
export function scheduleReconcile(
  deps: { db: Db; queues: QueueSet; config: Pick<Config, 'judge'> },
  everyMs: number,
  hooks: { onRun?: (s: ReconcileSummary) => void; onError?: (why: string) => void } = {},
): ReconcileSchedule {
  const redis: Redis = deps.queues.connection;
  const key = `${deps.queues.prefix}:reconcile:lock`;
  const token = randomBytes(8).toString('hex');
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  let stopped = false;

  const tick = async () => {
    if (running || stopped) return;
    const got = await redis.set(key, token, 'PX', everyMs, 'NX').catch(() => null);
    if (got !== 'OK' || stopped) return;
    running = (async () => {
      const keep = setInterval(() => void redis.eval(EXTEND, 1, key, token, String(everyMs)).catch(() => 0), Math.max(500, Math.floor(everyMs / 2)));
      try {
        const s = await reconcile(deps, { signal: abort.signal });
        reconcileRuns.inc({ outcome: 'done' });
        hooks.onRun?.(s);
      } catch (err) {
        if (abort.signal.aborted) return;
        reconcileRuns.inc({ outcome: 'failed' });
        hooks.onError?.(describeError(err));
      } finally {
        clearInterval(keep);
        running = undefined;
      }
    })();
  };

  // jittered, so a fleet started at once does not poll in step
  const poll = lockPollMs(everyMs);
  const timer = setInterval(() => void tick(), Math.round(poll * (0.9 + 0.2 * Math.random())));
  timer.unref();
  void tick();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      abort.abort(new Error('worker stopping'));
      await running;
    },
  };
}
