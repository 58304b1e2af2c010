/**
 * `vibe-curate serve` as a process: without a token it binds 127.0.0.1 only and says so, refuses
 * another host (exit 2, one line), serves the API, and exits 0 on SIGTERM; with DASHBOARD_TOKEN a
 * request without it gets 401.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const BIN = path.resolve('bin/vibe-curate.mjs');
let tdb: TestDb;
let dir: string;

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; url: Promise<string> } {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { ...process.env, DATABASE_URL: tdb.url, DATA_DIR: dir, DASHBOARD_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const url = new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer) => {
      text += b.toString();
      const m = /dashboard: (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${text}`)));
  });
  url.catch(() => {});
  return { child, out: () => text, url };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

beforeAll(async () => {
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-serve-'));
});
afterAll(async () => {
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('vibe-curate serve', () => {
  it('binds 127.0.0.1 without a token, says so, serves the API and exits 0 on SIGTERM', async () => {
    const s = start(['--port', '0']);
    const url = await s.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.out()).toContain('listening on 127.0.0.1 only');
    const res = await fetch(`${url}/api/whoami`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { reviewer: string }).reviewer).toBe('anonymous');
    const code = exited(s.child);
    s.child.kill('SIGTERM');
    expect(await code).toBe(0);
  });

  it('refuses another host without a token, with one line and exit 2', async () => {
    const s = start(['--port', '0', '--host', '0.0.0.0']);
    expect(await exited(s.child)).toBe(2);
    expect(s.out().trim()).toMatch(/^vibe-curate: --host: without DASHBOARD_TOKEN the dashboard listens on 127\.0\.0\.1 only/);
    expect(s.out().trim().split('\n')).toHaveLength(1);
  });

  it('with DASHBOARD_TOKEN, a request without it gets 401 and one with it 200', async () => {
    const s = start(['--port', '0', '--host', '127.0.0.1'], { DASHBOARD_TOKEN: 'cli-token' });
    const url = await s.url;
    expect((await fetch(`${url}/api/overview`)).status).toBe(401);
    expect((await fetch(`${url}/api/overview`, { headers: { authorization: 'Bearer cli-token' } })).status).toBe(200);
    const code = exited(s.child);
    s.child.kill('SIGINT');
    expect(await code).toBe(0);
  });
});
