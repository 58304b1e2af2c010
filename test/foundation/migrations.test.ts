import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, rows } from '../../db/client.ts';
import { createPgliteDb, createTestDb, type TestDb } from '../helpers/db.ts';

const run = promisify(execFile);
/** How many migrations drizzle-kit has generated: what a fresh database gets applied. */
const MIGRATION_COUNT = (JSON.parse(readFileSync('migrations/meta/_journal.json', 'utf8')) as { entries: unknown[] }).entries.length;
const TABLES = [
  'sources', 'requests', 'candidates', 'checks', 'judgments', 'reviews',
  'selections', 'pairs', 'exports', 'export_shards', 'failures', 'source_faces', 'browser_faces',
];
const UNIQUE_KEYS: [string, string[]][] = [
  ['sources', ['sha256']],
  ['requests', ['source_id', 'instruction', 'model']],
  ['candidates', ['request_id', 'seed']],
  ['checks', ['candidate_id', 'rule_version']],
  ['judgments', ['candidate_id', 'rubric', 'judge_model', 'prompt_hash']],
  ['selections', ['request_id', 'rule_version', 'rubric', 'judge_model', 'prompt_hash']],
  ['pairs', ['chosen_id', 'rejected_id', 'rule_version', 'rubric', 'judge_model', 'prompt_hash']],
  ['export_shards', ['export_id', 'path']],
  ['browser_faces', ['image_kind', 'image_id', 'model_version']],
];

async function uniqueKeys(db: TestDb['db']): Promise<Set<string>> {
  const r = await rows<{ tbl: string; cols: string }>(
    db,
    sql`SELECT t.relname AS tbl, string_agg(a.attname, ',' ORDER BY k.ord) AS cols
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE i.indisunique AND NOT i.indisprimary
        GROUP BY t.relname, i.indexrelid`,
  );
  return new Set(r.map((x) => `${x.tbl}(${x.cols})`));
}

describe('migrations on Postgres', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('create every table of the data model', async () => {
    const r = await rows<{ table_name: string }>(
      t.db,
      sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(new Set(r.map((x) => x.table_name))).toEqual(new Set(TABLES));
  });

  it('create the unique keys that make each stage idempotent', async () => {
    const keys = await uniqueKeys(t.db);
    for (const [table, cols] of UNIQUE_KEYS) expect(keys).toContain(`${table}(${cols.join(',')})`);
  });

  it('a duplicate (request_id, seed) is rejected by the database', async () => {
    await t.db.execute(sql`INSERT INTO sources (sha256, blob, width, height, format, bytes, origin) VALUES ('s', 'b', 1, 1, 'png', 1, 'x')`);
    await t.db.execute(sql`INSERT INTO requests (source_id, instruction, candidates_wanted, model, base_seed) VALUES (1, 'i', 2, 'm', 0)`);
    const cand = sql`INSERT INTO candidates (request_id, seed, sha256, blob, width, height, generator, latency_ms) VALUES (1, 0, 'h', 'b', 1, 1, 'g', 1)`;
    await t.db.execute(cand);
    await expect(t.db.execute(cand)).rejects.toThrow();
  });

  it('a second migrate applies nothing', async () => {
    expect(await migrate(t)).toEqual({ applied: 0 });
  });

  it('`vibe-curate db migrate` runs twice against Postgres: the second run changes nothing', async () => {
    const fresh = await createTestDb();
    try {
      await fresh.db.execute(sql`DROP SCHEMA drizzle CASCADE`);
      await fresh.db.execute(sql`DROP SCHEMA public CASCADE`);
      await fresh.db.execute(sql`CREATE SCHEMA public`);
      const env = { ...process.env, DATABASE_URL: fresh.url };
      const first = await run('./bin/vibe-curate.mjs', ['db', 'migrate', '--json'], { env });
      const second = await run('./bin/vibe-curate.mjs', ['db', 'migrate', '--json'], { env });
      expect(JSON.parse(first.stdout)).toMatchObject({ database: 'postgres', applied: MIGRATION_COUNT });
      expect(JSON.parse(second.stdout)).toMatchObject({ database: 'postgres', applied: 0 });
    } finally {
      await fresh.cleanup();
    }
  });
});

describe('migrations on PGlite', () => {
  it('create the same tables and keys in memory', async () => {
    const h = await createPgliteDb();
    try {
      const r = await rows<{ table_name: string }>(
        h.db,
        sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
      );
      expect(new Set(r.map((x) => x.table_name))).toEqual(new Set(TABLES));
      const keys = await uniqueKeys(h.db);
      for (const [table, cols] of UNIQUE_KEYS) expect(keys).toContain(`${table}(${cols.join(',')})`);
    } finally {
      await h.close();
    }
  });

  it('`vibe-curate db migrate` runs twice on PGlite in DATA_DIR: the second run changes nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vc-pglite-'));
    try {
      const env = { ...process.env, DATA_DIR: dir, DATABASE_URL: '' };
      const first = await run('./bin/vibe-curate.mjs', ['db', 'migrate', '--json'], { env });
      const second = await run('./bin/vibe-curate.mjs', ['db', 'migrate', '--json'], { env });
      expect(JSON.parse(first.stdout)).toMatchObject({ database: 'pglite', applied: MIGRATION_COUNT });
      expect(JSON.parse(second.stdout)).toMatchObject({ database: 'pglite', applied: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI errors', () => {
  it('a bad configuration value stops with one line naming the key, exit 2', async () => {
    const err = await run('./bin/vibe-curate.mjs', ['db', 'migrate'], { env: { ...process.env, GPU_SLOTS: 'lots' } }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr.trim()).toMatch(/^vibe-curate: GPU_SLOTS=lots: [^\n]+$/);
  });
});
