/**
 * What every command gets: the parsed configuration, lazily opened database and Redis, and the
 * one-line error convention (`vibe-curate: subject: why`, exit 2 for bad input, 1 at run time).
 */
import { BlobStore } from '../pipeline/blobs.ts';
import type { Config } from '../pipeline/config.ts';
import type { DbHandle } from '../db/client.ts';
import type { RedisTarget } from '../pipeline/redis.ts';

export class CliContext {
  private cfg?: Config;
  private configModule?: typeof import('../pipeline/config.ts');
  private dbHandle?: Promise<DbHandle>;
  private redisTarget?: Promise<RedisTarget>;
  private readonly cleanups: (() => Promise<void>)[] = [];
  verbose = false;

  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  /**
   * Imports what every command needs before it runs (the configuration's parser). Kept out of the
   * module's imports so `vibe-curate --help` loads none of it.
   */
  async load(): Promise<void> {
    this.configModule ??= await import('../pipeline/config.ts');
  }

  /** The configuration, parsed on first use (a bad value throws ConfigError `KEY=value: why`). */
  config(): Config {
    if (!this.configModule) throw new Error('CliContext.load() must be awaited before config()');
    this.cfg ??= this.configModule.loadConfig(this.env);
    return this.cfg;
  }

  /** Opens (and migrates) the database once. */
  db(opts: { migrate?: boolean } = { migrate: true }): Promise<DbHandle> {
    this.dbHandle ??= (async () => {
      const c = this.config();
      const { migrate, openDb } = await import('../db/client.ts');
      const h = await openDb({ databaseUrl: c.databaseUrl, pgliteDir: c.pgliteDir });
      this.cleanups.push(() => h.close());
      if (opts.migrate !== false) await migrate(h);
      return h;
    })();
    return this.dbHandle;
  }

  /** The Redis to use (maybe a private one started now). */
  redis(): Promise<RedisTarget> {
    this.redisTarget ??= (async () => {
      const { resolveRedis } = await import('../pipeline/redis.ts');
      const t = await resolveRedis(this.config().redisUrl);
      this.cleanups.push(() => t.stop());
      return t;
    })();
    return this.redisTarget;
  }

  blobs(): BlobStore {
    return new BlobStore(this.config().blobDir);
  }

  /** Registers something to close when the command ends. Closed in reverse order. */
  onClose(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    while (this.cleanups.length) {
      const fn = this.cleanups.pop()!;
      await fn().catch(() => {});
    }
  }
}

/** Resolves when the process gets SIGTERM or SIGINT (for long-running commands). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
