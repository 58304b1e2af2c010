/**
 * The only place that opens a database: Postgres through node-postgres when a URL is given,
 * else embedded PGlite in a directory (one process at a time). Both get the same schema and the
 * same drizzle-kit migrations.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { maskUrl, VibeError } from '../pipeline/errors/index.ts';
import { lockPgliteDir } from './pglite-lock.ts';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;
/** What repositories take: a drizzle database over either driver. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Where it lives: the URL (password hidden) or the PGlite directory. */
  where: string;
  /** The Postgres URL (unset for PGlite). */
  url?: string;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

/** Opens Postgres when `databaseUrl` is set, else PGlite in `pgliteDir` (`memory://` for in-memory). */
export async function openDb(opts: { databaseUrl?: string; pgliteDir: string; poolSize?: number }): Promise<DbHandle> {
  if (opts.databaseUrl) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    // int8 (bigint, count(*)) arrives as a JS number: ids and counts stay far below 2^53.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    pg.types.setTypeParser(1700, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    pool.on('error', () => {}); // an idle client dropped by the server: the pool replaces it
    try {
      // Connect now, so a wrong URL fails here with its cause rather than inside the first query.
      await pool.query('SELECT 1');
    } catch (err) {
      await pool.end().catch(() => {});
      throw databaseError(opts.databaseUrl, err);
    }
    const db = drizzle(pool, { schema }) as unknown as Db;
    return { db, kind: 'postgres', where: maskUrl(opts.databaseUrl), url: opts.databaseUrl, close: () => pool.end() };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const dir = opts.pgliteDir;
  let unlock = () => {};
  if (!dir.startsWith('memory://')) {
    mkdirSync(dir, { recursive: true });
    unlock = lockPgliteDir(dir); // before PGlite touches a file: a refused process writes nothing
  }
  let client: InstanceType<typeof PGlite>;
  try {
    client = new PGlite(dir, {
      parsers: { 20: (v: string) => Number(v), 1700: (v: string) => Number(v) },
    });
    await client.waitReady;
  } catch (err) {
    unlock();
    throw err;
  }
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    where: dir,
    close: async () => {
      try {
        await client.close();
      } finally {
        unlock();
      }
    },
  };
}

/**
 * A connection failure as one line naming the variable, the URL with its password masked, and
 * the cause: `DATABASE_URL=postgres://user:***@host/db: connection refused`.
 */
export function databaseError(url: string, err: unknown): VibeError {
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] };
  const code = e.code ?? e.errors?.[0]?.code;
  let why: string;
  switch (code) {
    case 'ECONNREFUSED':
      why = 'connection refused';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      why = 'unknown host';
      break;
    case 'ETIMEDOUT':
      why = 'connection timed out';
      break;
    case '28P01':
    case '28000':
      why = 'authentication failed';
      break;
    case '3D000':
      why = 'database does not exist';
      break;
    default:
      why = (e.message ?? String(err)).replace(/\s*\n\s*/g, ' ');
  }
  // pg's own messages may quote the URL's parts; never the password.
  const password = safePassword(url);
  if (password) why = why.split(password).join('***');
  return new VibeError('INTERNAL', why, { subject: `DATABASE_URL=${maskUrl(url)}`, cause: err });
}

function safePassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/** Applies every migration not yet applied. Safe to run twice and from several processes at once. */
export async function migrate(handle: DbHandle): Promise<{ applied: number }> {
  const before = await appliedCount(handle.db);
  if (handle.kind === 'postgres' && handle.url) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate: run } = await import('drizzle-orm/node-postgres/migrator');
    // One dedicated connection holds an advisory lock so concurrent migrators (several workers
    // starting at once) run one after the other; the later ones find nothing to do.
    const client = new pg.Client({ connectionString: handle.url });
    await client.connect();
    try {
      await client.query('SELECT pg_advisory_lock(724311)');
      await run(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
    } finally {
      await client.end();
    }
  } else {
    const { migrate: run } = await import('drizzle-orm/pglite/migrator');
    await run(handle.db as never, { migrationsFolder: MIGRATIONS_DIR });
  }
  return { applied: (await appliedCount(handle.db)) - before };
}

async function appliedCount(db: Db): Promise<number> {
  const [exists] = await rows<{ t: string | null }>(db, sql`SELECT to_regclass('drizzle.__drizzle_migrations')::text AS t`);
  if (!exists?.t) return 0;
  const [res] = await rows<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
  return Number(res?.n ?? 0);
}

/** Rows of a raw query, whichever driver ran it. */
export async function rows<T extends Record<string, unknown>>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> {
  const res = (await db.execute(query)) as unknown as { rows: T[] };
  return res.rows;
}
