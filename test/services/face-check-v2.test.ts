/**
 * The face rule v2 through the pipeline on real Postgres and Redis: a source whose best face
 * candidate is only likely (a portrait blurred beyond recognition) is recorded `uncertain`, and
 * FACE_UNCERTAIN decides whether its candidates pass the face rule (and is part of the rule
 * version); each source's faces are stored once per detector version in `source_faces`, and
 * every check of its edits measured the faces stored there.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { clearSourceCache } from '../../pipeline/checks/index.ts';
import { demoRequests, DEMO_IMAGE_DIR } from '../../cli/demo.ts';
import { runLocalPipeline, type LocalPipelineSummary } from '../../cli/run-local.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { REDIS_URL, freshPrefix, tempDir, testConfig } from './pipeline-helpers.ts';

type CheckRow = {
  image: string;
  face_status: string;
  passed: boolean;
  rule_version: string;
  source_boxes: unknown;
  stored_boxes: unknown;
};

describe('face rule v2 in the pipeline', () => {
  const tmp = tempDir('faces2');
  const imgDir = path.join(tmp.dir, 'img');
  const runs: Record<'fail' | 'pass', { t: TestDb; summary: LocalPipelineSummary; checks: CheckRow[]; stored: number }> = {} as never;

  beforeAll(async () => {
    mkdirSync(imgDir, { recursive: true });
    // camera.png blurred (σ 6): its best face candidate scores ~0.59, between the low and high detection score.
    await sharp(path.join(DEMO_IMAGE_DIR, 'camera.png')).blur(6).png().toFile(path.join(imgDir, 'blurred-portrait.png'));
    await sharp(path.join(DEMO_IMAGE_DIR, 'astronaut.png')).resize(320).png().toFile(path.join(imgDir, 'portrait.png'));
    const requests = demoRequests(6, ['blurred-portrait.png', 'portrait.png']);
    for (const mode of ['fail', 'pass'] as const) {
      clearSourceCache(); // each run searches its sources afresh
      const t = await createTestDb();
      const q = freshPrefix(`faces2-${mode}`);
      const cfg = testConfig(path.join(tmp.dir, `data-${mode}`), { FACE_UNCERTAIN: mode });
      try {
        const summary = await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 3, prefix: q.prefix, timeoutMs: 90_000 });
        const checks = await rows<CheckRow>(
          t.db,
          sql`SELECT s.origin AS image, k.face_status, k.passed, k.rule_version,
                     k.faces->'source' AS source_boxes,
                     (SELECT jsonb_agg(jsonb_build_object('box', f->'box')) FROM source_faces sf, jsonb_array_elements(sf.faces) f WHERE sf.source_id = s.id) AS stored_boxes
              FROM checks k JOIN candidates c ON c.id = k.candidate_id JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id`,
        );
        const [n] = await rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM source_faces`);
        runs[mode] = { t, summary, checks, stored: n!.n };
      } finally {
        await q.cleanup();
      }
    }
  }, 240_000);
  afterAll(async () => {
    await Promise.all(Object.values(runs).map((r) => r.t.cleanup()));
    tmp.cleanup();
  });

  it('records the blurred portrait as uncertain and the sharp one as a face, under either setting', () => {
    for (const mode of ['fail', 'pass'] as const) {
      const { checks, summary } = runs[mode];
      expect(checks.length).toBe(18);
      const blurred = checks.filter((c) => c.image === 'blurred-portrait.png');
      expect(blurred.length).toBe(9);
      expect(blurred.every((c) => c.face_status === 'uncertain')).toBe(true);
      expect(checks.filter((c) => c.image === 'portrait.png').every((c) => c.face_status !== 'uncertain' && c.face_status !== 'no_faces')).toBe(true);
      expect(summary.funnel.checks.faceUncertain).toBe(9);
    }
  });

  it('FACE_UNCERTAIN=fail rejects the uncertain source, =pass lets the change rule decide; the rule version says which', () => {
    const fail = runs.fail.checks.filter((c) => c.face_status === 'uncertain');
    const pass = runs.pass.checks.filter((c) => c.face_status === 'uncertain');
    expect(fail.every((c) => !c.passed)).toBe(true);
    expect(pass.some((c) => c.passed)).toBe(true);
    expect(new Set(runs.fail.checks.map((c) => c.rule_version.split('(')[0]))).toEqual(new Set(['face-iou-registered-v2/uncertain-fail']));
    expect(new Set(runs.pass.checks.map((c) => c.rule_version.split('(')[0]))).toEqual(new Set(['face-iou-registered-v2/uncertain-pass']));
  });

  it('stores each source’s faces once, and every check of its edits measured exactly those faces', () => {
    for (const mode of ['fail', 'pass'] as const) {
      const { checks, stored } = runs[mode];
      expect(stored).toBe(2); // two sources, one detector version
      for (const c of checks) {
        const boxes = (c.source_boxes as { box: number[] }[]).map((f) => f.box);
        const kept = ((c.stored_boxes as { box: number[] }[] | null) ?? []).map((f) => f.box.map((v) => Math.round(v * 100) / 100));
        expect(boxes).toEqual(kept);
      }
      expect(checks.filter((c) => c.image === 'portrait.png').every((c) => (c.source_boxes as unknown[]).length === 1)).toBe(true);
    }
  });
});
