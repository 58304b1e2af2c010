/**
 * The dashboard against hostile input, over real sockets (startDashboard on 127.0.0.1, raw
 * node:http requests so Host, Origin and Content-Length are exactly what an attacker sends):
 * DNS-rebinding Host names get 421 without a token; writes from another origin get 403 with and
 * without a token; bodies that are not JSON get 415; oversized bodies get 413, declared or
 * chunked; a slow body times out; headers carry the CSP; /api answers unknown routes in JSON.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboards/server.ts';
import { DASHBOARD_CSP, QUEUES_CSP, cspHeader } from '../../dashboards/security.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { seedLedger, type Seeded } from './seed.ts';

const TOKEN = 'sec-token-9d2e';
let tdb: TestDb;
let dir: string;
let seeded: Seeded;
let open: { url: string; close(): Promise<void> };
let gated: { url: string; close(): Promise<void> };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One raw HTTP request; `body` is sent with its Content-Length unless `chunked`. */
function send(base: string, o: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean }): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined && !o.chunked) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = http.request({ host: u.hostname, port: u.port, method: o.method ?? 'GET', path: o.path, headers, setHost: !('host' in headers) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

const reviewCount = async () => Number((await rows<{ n: number }>(tdb.db, sql`SELECT count(*)::int AS n FROM reviews`))[0]!.n);

beforeAll(async () => {
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-dash-sec-'));
  const blobs = new BlobStore(path.join(dir, 'blobs'));
  seeded = await seedLedger(tdb.db, blobs, { n: 2, k: 2 });
  const common = { db: tdb.db, blobs, port: 0, host: '127.0.0.1', requestTimeoutMs: 1_000 };
  open = await startDashboard({ ...common, config: loadConfig({ DATA_DIR: dir }) });
  gated = await startDashboard({ ...common, config: loadConfig({ DATA_DIR: dir, DASHBOARD_TOKEN: TOKEN }) });
});

afterAll(async () => {
  await open?.close();
  await gated?.close();
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const review = (verdict = 'flag') => JSON.stringify({ candidateId: seeded.candidateIds[0]!, verdict });
const json = { 'content-type': 'application/json' };
const bearer = { authorization: `Bearer ${TOKEN}` };

describe('Host names without a token (DNS rebinding)', () => {
  it('answers Host: evil.example with 421 on pages, the API and exports, and writes nothing', async () => {
    const before = await reviewCount();
    for (const p of ['/', '/api/overview', '/api/candidates', '/exports/x/manifest.json', '/metrics']) {
      const res = await send(open.url, { path: p, headers: { host: 'evil.example' } });
      expect(res.status, p).toBe(421);
      expect(res.body, p).not.toContain('funnel');
    }
    const port = new URL(open.url).port;
    const write = await send(open.url, { method: 'POST', path: '/api/reviews', headers: { host: `evil.example:${port}`, ...json }, body: review() });
    expect(write.status).toBe(421);
    expect(JSON.parse(write.body).error).toMatch(/evil\.example.*127\.0\.0\.1, localhost and \[::1\]/);
    expect(await reviewCount()).toBe(before);
  });

  it('answers the loopback names, with and without a port', async () => {
    const port = new URL(open.url).port;
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`]) {
      expect((await send(open.url, { path: '/api/whoami', headers: { host } })).status, host).toBe(200);
    }
  });

  it('with a token, any Host is served, but only with the token', async () => {
    expect((await send(gated.url, { path: '/api/overview', headers: { host: 'dash.example.org' } })).status).toBe(401);
    expect((await send(gated.url, { path: '/api/overview', headers: { host: 'dash.example.org', ...bearer } })).status).toBe(200);
  });
});

describe('writes from another origin', () => {
  for (const mode of ['without a token', 'with a token'] as const) {
    it(`${mode}: 403 for a foreign Origin or Sec-Fetch-Site, 201 from the dashboard's own origin`, async () => {
      const dash = mode === 'with a token' ? gated : open;
      const auth = mode === 'with a token' ? bearer : {};
      const own = new URL(dash.url).origin;
      const otherPort = `http://127.0.0.1:${Number(new URL(dash.url).port) + 1}`;
      const before = await reviewCount();
      const refused: Record<string, string>[] = [
        { origin: 'http://evil.example' },
        { origin: otherPort }, // same site, another port: still another origin
        { origin: 'null' },
        { origin: own, 'sec-fetch-site': 'same-site' },
        { 'sec-fetch-site': 'cross-site' },
      ];
      for (const h of refused) {
        const res = await send(dash.url, { method: 'POST', path: '/api/reviews', headers: { ...json, ...auth, ...h }, body: review() });
        expect(res.status, JSON.stringify(h)).toBe(403);
      }
      for (const p of ['/api/reviews/bulk', '/login', '/logout']) {
        const res = await send(dash.url, { method: 'POST', path: p, headers: { ...json, ...auth, origin: 'http://evil.example' }, body: '{}' });
        expect(res.status, p).toBe(403);
        expect(res.headers['set-cookie'], p).toBeUndefined();
      }
      expect(await reviewCount()).toBe(before);
      const ok = await send(dash.url, { method: 'POST', path: '/api/reviews', headers: { ...json, ...auth, origin: own, 'sec-fetch-site': 'same-origin' }, body: review() });
      expect(ok.status).toBe(201);
      const script = await send(dash.url, { method: 'POST', path: '/api/reviews', headers: { ...json, ...auth }, body: review('accept') });
      expect(script.status).toBe(201); // no Origin, no Sec-Fetch-Site: not a browser, e.g. curl
      expect(await reviewCount()).toBe(before + 2);
    });
  }

  it('accepts only JSON bodies: text/plain and forms get 415', async () => {
    const before = await reviewCount();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      for (const p of ['/api/reviews', '/login']) {
        const res = await send(open.url, { method: 'POST', path: p, headers: { 'content-type': type }, body: review() });
        expect(res.status, `${p} ${type}`).toBe(415);
      }
    }
    expect((await send(open.url, { method: 'POST', path: '/api/reviews', body: review() })).status).toBe(415);
    expect(await reviewCount()).toBe(before);
  });
});

describe('body limits and slow bodies', () => {
  it('answers a declared Content-Length over the limit with 413 and closes the connection', async () => {
    for (const [p, max] of [
      ['/login', 64 * 1024],
      ['/api/reviews', 1024 * 1024],
      ['/api/reviews/bulk', 64 * 1024],
    ] as const) {
      const res = await send(open.url, { method: 'POST', path: p, headers: json, body: Buffer.alloc(max + 1, 0x20) });
      expect(res.status, p).toBe(413);
      expect(res.headers.connection, p).toBe('close');
      expect(JSON.parse(res.body).error).toContain(`${max}-byte limit`);
    }
  });

  it('cuts a chunked body off at the limit with 413; a small chunked body is read', async () => {
    const big = await send(open.url, { method: 'POST', path: '/login', headers: json, body: Buffer.alloc(65 * 1024, 0x20), chunked: true });
    expect(big.status).toBe(413);
    const small = await send(open.url, { method: 'POST', path: '/login', headers: json, body: JSON.stringify({ name: 'chunky' }), chunked: true });
    expect(small.status).toBe(200);
    expect(small.headers['set-cookie']?.join()).toMatch(/vc_reviewer=chunky; .*HttpOnly/);
  });

  it('answers a body that never finishes with 408 after the request timeout', async () => {
    const u = new URL(open.url);
    const t0 = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/api/reviews', headers: { ...json, 'content-length': '1000' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write('{"candidateId":'); // and nothing more
    });
    expect(status).toBe(408);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe('headers, bearer scheme, JSON 404s', () => {
  it('pages carry the CSP, nosniff, a Referrer-Policy and no framing; /queues gets its own CSP', async () => {
    for (const p of ['/', '/browse', '/login', '/api/whoami']) {
      const res = await send(open.url, { path: p });
      expect(res.headers['content-security-policy'], p).toBe(cspHeader(DASHBOARD_CSP));
      expect(res.headers['x-content-type-options'], p).toBe('nosniff');
      expect(res.headers['referrer-policy'], p).toBe('same-origin');
      expect(res.headers['x-frame-options'], p).toBe('DENY');
    }
    expect(cspHeader(DASHBOARD_CSP)).toMatch(/script-src 'self'; style-src 'self';/);
    expect(cspHeader(DASHBOARD_CSP)).not.toContain('unsafe');
    const board = await send(open.url, { path: '/queues' });
    expect(board.headers['content-security-policy']).toBe(cspHeader(QUEUES_CSP));
  });

  it('takes the bearer scheme in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      expect((await send(gated.url, { path: '/api/overview', headers: { authorization: `${scheme} ${TOKEN}` } })).status, scheme).toBe(200);
    }
    expect((await send(gated.url, { path: '/api/overview', headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
  });

  it('answers unknown /api routes with a JSON 404', async () => {
    for (const [method, p] of [
      ['GET', '/api/nope'],
      ['POST', '/api/reviews/nope'],
      ['DELETE', '/api/reviews'],
    ] as const) {
      const res = await send(open.url, { method, path: p, headers: json, body: method === 'GET' ? undefined : '{}' });
      expect(res.status, p).toBe(404);
      expect(res.headers['content-type'], p).toMatch(/^application\/json/);
      expect(JSON.parse(res.body).error).toBe(`no route ${method} ${p}`);
    }
  });
});
