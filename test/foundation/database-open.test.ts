/**
 * Opening the database, as an operator meets it: a second process on a PGlite DATA_DIR is
 * refused with one line and writes nothing; a lock left by a killed process is taken over; a
 * bad DATABASE_URL names the variable and the cause, with the password masked.
 */
import { readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PGLITE_LOCK_FILE } from '../../db/pglite-lock.ts';
import { runCli, spawnCli } from '../services/cli-run.ts';
import { REDIS_URL, tempDir } from '../services/pipeline-helpers.ts';
import { sleep } from '../../pipeline/sleep.ts';

/** Every file under `dir` with its size and mtime: what "nothing was written" compares. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out[path.relative(dir, p)] = `${s.size}:${s.mtimeMs}`;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe('the PGlite directory lock', () => {
  const tmp = tempDir('pglock');
  afterAll(() => tmp.cleanup());

  it('refuses a second process with one line, writes nothing, and takes over a dead holder\'s lock', async () => {
    const dataDir = path.join(tmp.dir, 'data');
    const env = { DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL, QUEUE_PREFIX: `vctest-pglock-${process.pid}` };
    const holder = spawnCli(['worker', '--queues', 'select'], { ...env, METRICS_PORT: '0', RECONCILE_EVERY: '0' });
    try {
      // the worker says so once its database is open, migrated and locked
      const deadline = Date.now() + 60_000;
      while (!/SIGTERM or SIGINT to stop/.test(holder.stderr())) {
        if (Date.now() > deadline) throw new Error(`worker did not start: ${holder.stderr()}`);
        if (holder.child.exitCode !== null) throw new Error(`worker exited: ${holder.stderr()}`);
        await sleep(200);
      }
      const manifest = path.join(tmp.dir, 'm.jsonl');
      writeFileSync(manifest, `${JSON.stringify({ image: path.resolve('test/fixtures/images/coffee.png'), instruction: 'make it blue' })}\n`);
      const before = tree(dataDir);
      const second = await runCli(['enqueue', '--manifest', manifest], env);
      expect(second.code).toBe(2);
      const pgDir = path.join(dataDir, 'pg');
      expect(second.stderr).toBe(
        `vibe-curate: ${pgDir}: in use by pid ${holder.child.pid} (the embedded database serves one process; set DATABASE_URL to share Postgres)\n`,
      );
      expect(tree(dataDir)).toEqual(before); // no blob, no database page, no lock touched
      const status = await runCli(['status', '--json'], env);
      expect(status.code).toBe(2);
      expect(status.stderr).toMatch(/^vibe-curate: .*: in use by pid \d+ \(the embedded database serves one process; set DATABASE_URL to share Postgres\)\n$/);
    } finally {
      holder.child.kill('SIGKILL'); // dies without releasing: its lock is stale now
      await holder.exited;
    }
    expect(existsSync(path.join(dataDir, 'pg', PGLITE_LOCK_FILE))).toBe(true);
    const after = await runCli(['status', '--json'], env);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toHaveProperty('funnel');
    expect(existsSync(path.join(dataDir, 'pg', PGLITE_LOCK_FILE))).toBe(false); // released at exit
  }, 120_000);
});

describe('database errors', () => {
  it('refuses a DATABASE_URL that does not parse with exit 2, naming the variable', async () => {
    const r = await runCli(['status'], { DATABASE_URL: 'garbage', REDIS_URL });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('vibe-curate: DATABASE_URL=garbage: expected a URL like postgres://user:password@host:5432/db\n');
    const masked = await runCli(['status'], { DATABASE_URL: 'mysql://ann:hunter2@db/x', REDIS_URL });
    expect(masked.code).toBe(2);
    expect(masked.stderr).toBe('vibe-curate: DATABASE_URL=mysql://ann:***@db/x: expected a URL like postgres://user:password@host:5432/db\n');
  }, 60_000);

  it('names the cause of a failed connection, never the password', async () => {
    const refused = await runCli(['status'], { DATABASE_URL: 'postgres://ann:hunter2@127.0.0.1:1/vc', REDIS_URL });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('vibe-curate: DATABASE_URL=postgres://ann:***@127.0.0.1:1/vc: connection refused\n');
    const missing = await runCli(['status'], { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:5432/vc_no_such_database', REDIS_URL });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('vibe-curate: DATABASE_URL=postgres://postgres:***@127.0.0.1:5432/vc_no_such_database: database does not exist\n');
    const host = await runCli(['status', '--verbose'], { DATABASE_URL: 'postgres://ann:hunter2@no-such-host.invalid/vc', REDIS_URL });
    expect(host.code).toBe(1);
    expect(host.stderr.split('\n')[0]).toBe('vibe-curate: DATABASE_URL=postgres://ann:***@no-such-host.invalid/vc: unknown host');
    for (const r of [refused, missing, host]) expect(r.stderr).not.toContain('hunter2');
  }, 60_000);
});
