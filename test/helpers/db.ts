/**
 * Test databases: a fresh, migrated Postgres database per call on the local server
 * (TEST_DATABASE_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres), dropped by
 * `cleanup()`. Also an in-memory PGlite for tests that want the embedded path.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, openDb, type DbHandle } from '../../db/client.ts';

export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb extends DbHandle {
  /** The connection URL of the fresh database (for child processes). */
  url: string;
  name: string;
  cleanup(): Promise<void>;
}

/** Creates `vc_test_<random>`, migrates it and opens a pool on it. */
export async function createTestDb(opts: { poolSize?: number } = {}): Promise<TestDb> {
  const name = `vc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  const handle = await openDb({ databaseUrl: url, pgliteDir: '', poolSize: opts.poolSize });
  await migrate(handle);
  let closed = false;
  return {
    ...handle,
    url,
    name,
    async cleanup() {
      if (closed) return;
      closed = true;
      await handle.close();
      const a = new pg.Client({ connectionString: ADMIN_URL });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** A migrated in-memory PGlite. */
export async function createPgliteDb(): Promise<DbHandle> {
  const handle = await openDb({ pgliteDir: 'memory://' });
  await migrate(handle);
  return handle;
}
