/**
 * The browser-faces surface without a browser: the model files the dashboard serves (the npm
 * package's models with NormalizationOptions metadata added, every original byte kept), the
 * server-vs-browser comparison, and POST /api/browser-faces against a ledger filled by a real
 * pipeline run (validation, comparison with the stored check, one row per image and model
 * version, the browse filter), all behind the token gate.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTfliteMetadata, normalizationMetadata, withNormalizationMetadata } from '../../dashboards/routes/mediapipe-model.ts';
import { createDashboardApp, type DashboardApp } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { compareFaces } from '../../pipeline/faces/browser-agreement.ts';
import { fillByPipeline } from '../e2e/pipeline-fixture.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';

const FACE_DIR = path.dirname(createRequire(import.meta.url).resolve('@mediapipe/face_detection'));
const TOKEN = 'browser-faces-token';
type Box = [number, number, number, number];

describe('model metadata for the Tasks API', () => {
  it.each(['face_detection_short_range', 'face_detection_full_range'])('%s: metadata added, the model bytes kept, offsets still forward', (name) => {
    const plain = new Uint8Array(readFileSync(path.join(FACE_DIR, `${name}.tflite`)));
    expect(hasTfliteMetadata(plain)).toBe(false);
    const out = withNormalizationMetadata(plain);
    expect(hasTfliteMetadata(out)).toBe(true);
    expect(new TextDecoder().decode(out.subarray(4, 8))).toBe('TFL3');
    // The old bytes, moved down by a multiple of 16 (within the first kilobyte), then the metadata.
    const body = Buffer.from(plain.subarray(8));
    const shift = [...Array(64).keys()].map((i) => 16 * (i + 1)).find((k) => Buffer.from(out.subarray(8 + k, 8 + k + body.length)).equals(body));
    expect(shift).toBeDefined();
    const meta = normalizationMetadata(127.5, 127.5);
    expect(Buffer.from(out.subarray(out.length - meta.length)).equals(Buffer.from(meta))).toBe(true);
    expect(out.length - meta.length - 4 - (8 + shift! + body.length)).toBeLessThan(16); // only alignment between
    expect(withNormalizationMetadata(out)).toBe(out); // already there: unchanged
  });

  it('the metadata names the identifier M001 and mean = std = 127.5 on the input', () => {
    const m = normalizationMetadata(127.5, 127.5);
    expect(new TextDecoder().decode(m.subarray(4, 8))).toBe('M001');
    const floats = new Float32Array(m.buffer.slice(m.length - 16)); // [len=1, mean, len=1, std]
    expect([floats[1], floats[3]]).toEqual([127.5, 127.5]);
  });
});

describe('server vs browser faces', () => {
  const a: Box = [100, 100, 50, 50];
  it('agree when every face is matched at IoU ≥ 0.8', () => {
    expect(compareFaces([a], [[102, 101, 50, 50]])).toMatchObject({ disagrees: false, serverOnly: [], browserOnly: [] });
    expect(compareFaces([], [])).toMatchObject({ disagrees: false });
  });
  it('disagree on a drifted box, a face on one side only', () => {
    const drift = compareFaces([a], [[112, 100, 50, 50]]);
    expect(drift.disagrees).toBe(true);
    expect(drift.matches[0]!.iou).toBeLessThan(0.8);
    expect(compareFaces([], [a])).toMatchObject({ disagrees: true, browserOnly: [0] });
    expect(compareFaces([a, [300, 300, 40, 40]], [a])).toMatchObject({ disagrees: true, serverOnly: [1] });
  });
});

describe('POST /api/browser-faces and the served files', () => {
  let tdb: TestDb;
  let dir: string;
  let app: DashboardApp;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const post = (body: unknown) => app.request('/api/browser-faces', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...auth } });

  beforeAll(async () => {
    tdb = await createTestDb();
    dir = await mkdtemp(path.join(os.tmpdir(), 'vc-bf-'));
    const cfg = loadConfig({ DATA_DIR: dir, DASHBOARD_TOKEN: TOKEN, QUEUE_PREFIX: `vc-bf-${process.pid}` });
    const blobs = new BlobStore(cfg.blobDir);
    await fillByPipeline({ db: tdb.db, blobs, config: cfg, redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', workDir: dir, requests: 3, candidates: 2 });
    app = createDashboardApp({ db: tdb.db, blobs, config: cfg });
  }, 120_000);
  afterAll(async () => {
    await app?.dispose();
    await tdb?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the runtime and the models with metadata, only behind the token', async () => {
    expect((await app.request('/mediapipe/models/face_detection_full_range.tflite')).status).toBe(401);
    const model = await app.request('/mediapipe/models/face_detection_full_range.tflite', { headers: auth });
    expect(model.status).toBe(200);
    expect(hasTfliteMetadata(new Uint8Array(await model.arrayBuffer()))).toBe(true);
    const wasm = await app.request('/mediapipe/wasm/vision_wasm_module_internal.wasm', { headers: auth });
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect((await app.request('/mediapipe/wasm/../../package.json', { headers: auth })).status).toBe(404);
    expect((await app.request('/mediapipe/models/other.tflite', { headers: auth })).status).toBe(404);
    const again = await app.request('/mediapipe/models/face_detection_full_range.tflite', { headers: { ...auth, 'if-none-match': model.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('compares with the stored check, keeps one row per image and model version, and feeds the browse filter', async () => {
    const [src] = await rows<{ source_id: number; faces: { source: { box: Box }[] } }>(
      tdb.db,
      sql`SELECT r.source_id, k.faces FROM checks k JOIN candidates c ON c.id = k.candidate_id JOIN requests r ON r.id = c.request_id
          WHERE jsonb_array_length(k.faces->'source') > 0 ORDER BY k.id LIMIT 1`,
    );
    const server = src!.faces.source.map((f) => f.box);
    const image = { kind: 'source', id: Number(src!.source_id) };
    const agree = await post({ image, model: 'face_detection_full_range', verify: 'face_detection_short_range@3.5', faces: server.map((box) => ({ box, score: 0.9 })) });
    expect(agree.status).toBe(200);
    const a = (await agree.json()) as { disagrees: boolean; modelVersion: string };
    expect(a.disagrees).toBe(false);
    expect(a.modelVersion).toMatch(/^face_detection_full_range@[0-9a-f]{16}\+face_detection_short_range@[0-9a-f]{16}x3\.5\/tasks-vision@/);
    const listed = async (q: string) => ((await (await app.request(`/api/candidates?${q}`, { headers: auth })).json()) as { rows: { id: number; source_id: number }[] }).rows;
    expect(await listed('browser=disagrees')).toEqual([]);
    // The same image and model version again, with the face moved: replaced, and now a disagreement.
    const moved = server.map(([x, y, w, h]) => ({ box: [x + w / 2, y, w, h], score: 0.9 }));
    const b = (await (await post({ image, model: 'face_detection_full_range', verify: 'face_detection_short_range@3.5', faces: moved })).json()) as { disagrees: boolean; matches: { iou: number }[] };
    expect(b.disagrees).toBe(true);
    expect(b.matches[0]!.iou).toBeLessThan(0.8);
    const stored = await rows<{ n: number }>(tdb.db, sql`SELECT count(*)::int AS n FROM browser_faces WHERE image_kind = 'source' AND image_id = ${image.id}`);
    expect(stored[0]!.n).toBe(1);
    const shown = await listed('browser=disagrees');
    const ofSource = await rows<{ id: number }>(tdb.db, sql`SELECT c.id FROM candidates c JOIN requests r ON r.id = c.request_id WHERE r.source_id = ${image.id} ORDER BY c.id DESC`);
    expect(shown.map((r) => r.id)).toEqual(ofSource.map((r) => Number(r.id)));
    expect((await listed('browser=agrees')).some((r) => Number(r.source_id) === image.id)).toBe(false);
  });

  it('refuses bad bodies with the field named, and unknown images with 404', async () => {
    const bad = async (body: unknown) => ({ status: (await post(body)).status, ...((await (await post(body)).json()) as { error: string }) });
    expect(await bad({ image: { kind: 'pair', id: 1 }, model: 'face_detection_full_range', faces: [] })).toMatchObject({ status: 400, error: expect.stringMatching(/^image\.kind: /) });
    expect(await bad({ image: { kind: 'source', id: 1 }, model: 'yolo', faces: [] })).toMatchObject({ status: 400, error: expect.stringMatching(/^model: /) });
    expect(await bad({ image: { kind: 'source', id: 1 }, model: 'face_detection_full_range', faces: [{ box: [0, 0, -5, 5], score: 0.5 }] })).toMatchObject({ status: 400, error: expect.stringMatching(/^faces\.0\.box\.2: /) });
    expect(await bad({ image: { kind: 'source', id: 999999 }, model: 'face_detection_full_range', faces: [] })).toMatchObject({ status: 404, error: 'source 999999: not found' });
  });
});
