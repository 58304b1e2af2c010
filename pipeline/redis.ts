/**
 * Finding Redis: REDIS_URL when set; else redis://127.0.0.1:6379; else, when nothing answers
 * there and `redis-server` is on PATH, a private one on a free port that stops with the program.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { VibeError } from './errors/index.ts';
import { sleep } from './sleep.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface RedisTarget {
  url: string;
  /** Set when we started a private redis-server. */
  private?: ChildProcess;
  stop(): Promise<void>;
}

/** Opens a BullMQ-ready ioredis connection (maxRetriesPerRequest null, as BullMQ workers need). */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}

/** Resolves which Redis to use, starting a private one when allowed and needed. */
export async function resolveRedis(configured: string | undefined): Promise<RedisTarget> {
  if (configured) {
    if (!(await answers(configured))) {
      throw new VibeError('BAD_CONFIG', `nothing answers at ${configured}: start Redis (docker compose up -d redis) or fix REDIS_URL`, {
        subject: 'REDIS_URL',
      });
    }
    return { url: configured, stop: async () => {} };
  }
  if (await answers(DEFAULT_REDIS_URL)) return { url: DEFAULT_REDIS_URL, stop: async () => {} };
  return startPrivateRedis();
}

async function answers(url: string, timeoutMs = 1500): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function startPrivateRedis(): Promise<RedisTarget> {
  const port = await freePort();
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const started = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => resolve(true));
  });
  if (!started) {
    throw new VibeError(
      'BAD_CONFIG',
      'no Redis answers at redis://127.0.0.1:6379 and redis-server is not on PATH: run `docker compose up -d redis` or install the redis-server package, or set REDIS_URL',
      { subject: 'REDIS_URL' },
    );
  }
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(url, 200)); i++) await sleep(100);
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  process.once('exit', () => child.kill('SIGKILL'));
  return { url, private: child, stop };
}
