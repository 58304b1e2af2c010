/**
 * `vibe-curate serve` as a process: without a token it binds 127.0.0.1 only and says so, refuses
 * another host (exit 2, one line), serves the API, and exits 0 on SIGTERM; with DASHBOARD_TOKEN a
 * request without it gets 401; PORT=99999 stops it naming PORT; 100 MB bodies to /login and
 * /api/reviews get 413 while the process's RSS (read from /proc) grows by less than 50 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { sleep } from '../../pipeline/sleep.ts';

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

/** Resident set size of process `pid` in bytes (VmRSS of /proc/PID/status). */
async function rssOf(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

const FLOOD = 100 * 1024 * 1024; // 100 MiB

/**
 * POSTs 100 MiB of JSON-typed spaces to `path`, declared with Content-Length or chunked, 1 MiB
 * per write, and stops sending as soon as an answer comes. Resolves with the status (null when
 * the connection died without one) and the bytes handed to the socket.
 */
function flood(url: string, path: string, chunked: boolean): Promise<{ status: number | null; sent: number }> {
  const u = new URL(url);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(FLOOD) }) };
  return new Promise((resolve) => {
    let status: number | null = null;
    let sent = 0;
    let stop = false;
    const finish = () => resolve({ status, sent });
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path, headers, agent: false }, (res) => {
      status = res.statusCode!;
      stop = true;
      res.resume();
      res.on('end', finish);
      res.on('error', finish);
    });
    req.on('error', () => setTimeout(finish, 50)); // EPIPE / reset once the server has answered and closed
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const pump = () => {
      while (!stop && sent < FLOOD) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!stop) req.end();
    };
    pump();
  });
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

  it('answers 100 MB bodies to /login and /api/reviews with 413, declared or chunked, and its RSS grows < 50 MB', async () => {
    const s = start(['--port', '0']);
    const url = await s.url;
    const pid = s.child.pid!;
    try {
      // warm up the routes the floods hit, then take the baseline
      expect((await fetch(`${url}/api/whoami`)).status).toBe(200);
      const login = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'warm' }) });
      expect(login.status).toBe(200);
      expect((await fetch(`${url}/api/reviews`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(400);
      await sleep(300);
      const base = await rssOf(pid);
      let peak = base;
      const sampler = setInterval(() => void rssOf(pid).then((r) => (peak = Math.max(peak, r)), () => {}), 20);
      try {
        for (const path of ['/login', '/api/reviews']) {
          for (const chunked of [false, true]) {
            const res = await flood(url, path, chunked);
            expect(res.status, `${path} chunked=${chunked}`).toBe(413);
            expect(res.sent, `${path} chunked=${chunked}: stopped early`).toBeLessThan(FLOOD);
          }
        }
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, await rssOf(pid));
      expect(peak - base).toBeLessThan(50 * 1024 * 1024);
      expect((await fetch(`${url}/api/whoami`)).status).toBe(200); // still serving
    } finally {
      const code = exited(s.child);
      s.child.kill('SIGTERM');
      expect(await code).toBe(0);
    }
  });

  it('PORT=99999 stops it with exit 2, naming PORT', async () => {
    const s = start([], { PORT: '99999' });
    expect(await exited(s.child)).toBe(2);
    expect(s.out().trim()).toBe('vibe-curate: PORT=99999: expected a port, an integer from 1 to 65535');
  });
});
