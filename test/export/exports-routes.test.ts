/**
 * Serving exports over real HTTP (@hono/node-server on 127.0.0.1, port 0): ranged reads of a
 * shard return the right bytes with 206, ETag and Content-Length; conditional requests; no path
 * traversal; only files the manifest lists are served.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExportDir } from '../../db/repositories/export.repository.ts';
import { exportRoutes, parseRange } from '../../dashboards/routes/exports.ts';
import { runExport, type ExportResult } from '../../pipeline/export/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillLedger, RUBRIC, type Ledger } from './fixture.ts';

let tdb: TestDb;
let ledger: Ledger;
let work: string;
let result: ExportResult;
let server: ServerType;
let base: string;

beforeAll(async () => {
  tdb = await createTestDb();
  ledger = await fillLedger(tdb.db, { nSources: 4, perSource: 2 });
  work = await mkdtemp(path.join(os.tmpdir(), 'vc-export-http-'));
  result = await runExport(tdb.db, ledger.blobs, { kind: 'sft', outDir: path.join(work, 'web-sft'), shardSamples: 4, valFraction: 0, format: 'webdataset', rubric: RUBRIC });
  const app = new Hono().route('/exports', exportRoutes({ resolveExportDir: (name) => findExportDir(tdb.db, name) }));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/exports`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await tdb?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
  if (ledger) await rm(ledger.root, { recursive: true, force: true });
});

describe('/exports routes', () => {
  it('serves the manifest with an ETag and answers If-None-Match with 304', async () => {
    const res = await fetch(`${base}/web-sft/manifest.json`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toBe(await readFile(result.manifestPath, 'utf8'));
    const etag = res.headers.get('etag')!;
    expect(etag).toBe(`"${createHash('sha256').update(text).digest('hex')}"`);
    expect(res.headers.get('content-type')).toMatch(/json/);
    const again = await fetch(`${base}/web-sft/manifest.json`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
  });

  it('returns the requested byte range of a shard with 206, Content-Range, Content-Length and the shard ETag', async () => {
    const shard = result.shards[0]!;
    const bytes = await readFile(path.join(result.outDir, shard.url));
    const res = await fetch(`${base}/web-sft/${shard.url}`, { headers: { Range: 'bytes=512-2047' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 512-2047/${bytes.length}`);
    expect(res.headers.get('content-length')).toBe('1536');
    expect(res.headers.get('etag')).toBe(`"${shard.sha256}"`);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(512, 2048))).toBe(true);

    const tail = await fetch(`${base}/web-sft/${shard.url}`, { headers: { Range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 100))).toBe(true);

    const whole = await fetch(`${base}/web-sft/${shard.url}`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(bytes.length));
    expect(createHash('sha256').update(Buffer.from(await whole.arrayBuffer())).digest('hex')).toBe(shard.sha256);

    const head = await fetch(`${base}/web-sft/${shard.url}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(bytes.length)]);

    const past = await fetch(`${base}/web-sft/${shard.url}`, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const stale = await fetch(`${base}/web-sft/${shard.url}`, { headers: { Range: 'bytes=0-9', 'If-Range': '"other"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('matches weak ETags in If-None-Match (304) but compares If-Range strongly (a weak tag gets the whole shard)', async () => {
    const shard = result.shards[0]!;
    const url = `${base}/web-sft/${shard.url}`;
    const weak = `W/"${shard.sha256}"`;
    expect((await fetch(url, { headers: { 'If-None-Match': weak } })).status).toBe(304);
    expect((await fetch(url, { headers: { 'If-None-Match': `"other", ${weak}` } })).status).toBe(304);
    const miss = await fetch(url, { headers: { 'If-None-Match': 'W/"other"' } });
    expect(miss.status).toBe(200);
    await miss.arrayBuffer();
    const strong = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': `"${shard.sha256}"` } });
    expect([strong.status, (await strong.arrayBuffer()).byteLength]).toEqual([206, 10]);
    const weakRange = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': weak } });
    expect([weakRange.status, (await weakRange.arrayBuffer()).byteLength]).toEqual([200, shard.filesize]);
  });

  it('refuses path traversal and serves only what the manifest lists', async () => {
    for (const p of ['/web-sft/..%2f..%2fetc%2fpasswd', '/web-sft/..%2F..%2F..%2Fetc%2Fpasswd', '/..%2f..%2fetc/passwd', '/web-sft/.vibe-export-state.json']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(400);
      expect(await res.text()).not.toContain('root:');
    }
    expect((await fetch(`${base}/web-sft/%2e%2e`)).status).toBe(404);
    // a link planted in the export directory is not served: the manifest does not list it
    await symlink('/etc/passwd', path.join(result.outDir, 'sft-train-000099.tar'));
    const planted = await fetch(`${base}/web-sft/sft-train-000099.tar`);
    expect(planted.status).toBe(404);
    expect((await fetch(`${base}/nope/manifest.json`)).status).toBe(404);
  });

  it('parses ranges like RFC 9110', () => {
    expect(parseRange('bytes=0-0', 10)).toEqual([0, 0]);
    expect(parseRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseRange('bytes=8-100', 10)).toEqual([8, 9]);
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,4-5', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
  });
});
