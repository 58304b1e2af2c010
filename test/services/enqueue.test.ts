/**
 * `vibe-curate enqueue` against real Postgres and Redis: bad lines reported as FILE:LINE: why
 * and skipped, local paths and http(s) URLs, a re-run adds nothing (no request, no job), and
 * the exit codes for a missing or all-bad manifest.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { DEMO_IMAGE_DIR } from '../../cli/demo.ts';
import { openQueues, queueDepths } from '../../pipeline/queues.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, smallImages, tempDir } from './pipeline-helpers.ts';

describe('vibe-curate enqueue', () => {
  let t: TestDb;
  let http: Server;
  let base: string;
  const tmp = tempDir('enqueue');
  const p = freshPrefix('enqueue');
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await createTestDb();
    await smallImages(path.join(tmp.dir, 'img'));
    copyFileSync(path.join(DEMO_IMAGE_DIR, 'truncated.jpg'), path.join(tmp.dir, 'img', 'truncated.jpg'));
    writeFileSync(path.join(tmp.dir, 'notes.txt'), 'not an image at all\n');
    const served = readFileSync(path.join(tmp.dir, 'img', 'chelsea.png'));
    http = createServer((req, res) => {
      if (req.url === '/chelsea.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        res.end(served);
      } else {
        res.writeHead(404);
        res.end('nope');
      }
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    env = { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: p.prefix, DATA_DIR: path.join(tmp.dir, 'data') };
  });
  afterAll(async () => {
    await new Promise((r) => http?.close(r));
    await t?.cleanup();
    await p.cleanup();
    tmp.cleanup();
  });

  const manifest = () =>
    [
      '{"image": "img/astronaut.png", "instruction": "Blur the whole picture", "category": "detail"}',
      '{"image": "img/astronaut.png", ',
      '',
      '{"instruction": "Brighten the image"}',
      '{"image": "img/coffee.png", "instruction": "   "}',
      '{"image": "img/nope.png", "instruction": "Brighten the image"}',
      '{"image": "notes.txt", "instruction": "Brighten the image"}',
      '{"image": "img/truncated.jpg", "instruction": "Brighten the image"}',
      `{"image": "${base}/chelsea.png", "instruction": "Sharpen the details"}`,
      `{"image": "${base}/missing.png", "instruction": "Sharpen the details"}`,
      '{"image": "img/astronaut.png", "instruction": "Blur the whole picture", "category": "detail"}',
      '{"image": "img/astronaut.png", "instruction": "Increase the contrast"}',
    ].join('\n');

  it('reports each bad line with its number, enqueues the good ones, and a re-run adds nothing', async () => {
    const file = path.join(tmp.dir, 'manifest.jsonl');
    writeFileSync(file, manifest());
    const r = await runCli(['enqueue', '--manifest', file, '--candidates', '3', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const errs = r.stderr.trim().split('\n');
    const at = (n: number) => errs.find((l) => l.startsWith(`${file}:${n}: `)) ?? `(no report for line ${n})`;
    expect(errs).toHaveLength(7);
    expect(at(2)).toMatch(/bad JSON/);
    expect(at(4)).toMatch(/image: missing/);
    expect(at(5)).toMatch(/instruction: expected a non-empty string/);
    expect(at(6)).toMatch(/img\/nope\.png: no such file/);
    expect(at(7)).toMatch(/notes\.txt: not an image/);
    expect(at(8)).toMatch(/truncated/);
    expect(at(10)).toMatch(/missing\.png: download failed: HTTP 404/);
    expect(JSON.parse(r.stdout)).toMatchObject({ lines: 11, added: 3, present: 1, rejected: 7, enqueued: 3, candidates: 3 });

    const queues = openQueues(REDIS_URL, p.prefix);
    try {
      expect((await queueDepths(queues)).generate.waiting).toBe(3);
      const again = await runCli(['enqueue', '--manifest', file], env);
      expect(again.code).toBe(0);
      expect(again.stdout.trim()).toBe(`enqueue ${file}: 0 added, 4 already present, 7 rejected (11 lines); 3 generate jobs enqueued`);
      expect((await queueDepths(queues)).generate.waiting).toBe(3); // the same job ids: nothing doubled
    } finally {
      await queues.close();
    }
    const [c] = await rows<Record<string, number>>(
      t.db,
      sql`SELECT (SELECT count(*) FROM requests)::int AS requests, (SELECT count(*) FROM sources)::int AS sources,
                 (SELECT count(*) FROM requests WHERE candidates_wanted = 3 AND status = 'pending')::int AS pending3,
                 (SELECT count(*) FROM sources WHERE origin = ${`${base}/chelsea.png`})::int AS from_url`,
    );
    expect(c).toEqual({ requests: 3, sources: 2, pending3: 3, from_url: 1 });
  });

  it('exits 2 naming the manifest when it is missing, and when every line is bad', async () => {
    const missing = await runCli(['enqueue', '--manifest', path.join(tmp.dir, 'nope.jsonl')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`vibe-curate: ${path.join(tmp.dir, 'nope.jsonl')}: no such file`);
    const dir = path.join(tmp.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'm.jsonl'), '{"image": 1}\nnot json\n');
    const allBad = await runCli(['enqueue', '--manifest', path.join(dir, 'm.jsonl'), '--json'], env);
    expect(allBad.code).toBe(2);
    expect(JSON.parse(allBad.stdout)).toMatchObject({ lines: 2, added: 0, rejected: 2 });
    const badFlag = await runCli(['enqueue', '--manifest', path.join(dir, 'm.jsonl'), '--candidates', 'x'], env);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/^vibe-curate: --candidates: expected an integer from 1 to 16, got 'x'/);
  });
});
