/**
 * ARTIFACT_CHECK in a real run (Postgres, Redis, the built-in inference core): with `on` the
 * candidates the built-in editor rendered with its checkerboard defect are rejected by the
 * artifact rule before they reach the judge; with `record` the same candidates carry the same
 * artifact verdict in their check rows but are not rejected for it; the check version says which.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { ARTIFACT_RULE_VERSION } from '../../pipeline/checks/index.ts';
import { variantForSeed } from '../../pipeline/builtin/editor.ts';
import { runLocalPipeline } from '../../cli/run-local.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { REDIS_URL, requestsOver, smallImages, tempDir, testConfig } from './pipeline-helpers.ts';

type CheckRow = {
  seed: number;
  status: string;
  passed: boolean;
  face_status: string;
  change_status: string;
  artifact_status: string;
  rule_version: string;
  judged: boolean;
};

describe('ARTIFACT_CHECK through the pipeline', () => {
  const tmp = tempDir('artifact');
  const imgDir = `${tmp.dir}/img`;
  const dbs: TestDb[] = [];
  const runs: Record<'on' | 'record', CheckRow[]> = { on: [], record: [] };

  beforeAll(async () => {
    const images = await smallImages(imgDir, 256);
    const requests = requestsOver(images, 14);
    for (const mode of ['on', 'record'] as const) {
      const t = await createTestDb();
      dbs.push(t);
      const cfg = testConfig(`${tmp.dir}/data-${mode}`, { ARTIFACT_CHECK: mode });
      await runLocalPipeline({ db: t.db, blobs: new BlobStore(cfg.blobDir), config: cfg, redisUrl: REDIS_URL, requests, baseDir: imgDir, candidates: 4, timeoutMs: 90_000 });
      runs[mode] = await rows<CheckRow>(
        t.db,
        sql`SELECT c.seed, c.status, k.passed, k.face_status, k.change_status, k.artifact_status, k.rule_version,
                   EXISTS (SELECT 1 FROM judgments j WHERE j.candidate_id = c.id) AS judged
            FROM candidates c JOIN checks k ON k.candidate_id = c.id ORDER BY c.request_id, c.seed`,
      );
    }
  }, 180_000);
  afterAll(async () => {
    for (const t of dbs) await t.cleanup();
    tmp.cleanup();
  });

  const checkered = (r: CheckRow) => variantForSeed(r.seed).defects.includes('checkerboard');
  const otherwiseFine = (r: CheckRow) => r.face_status !== 'fail' && r.face_status !== 'uncertain' && r.change_status === 'pass'; // FACE_UNCERTAIN=fail by default

  it('on: every checkerboard candidate fails the artifact rule and is rejected unjudged; no clean candidate fails it', () => {
    const on = runs.on;
    expect(on).toHaveLength(56);
    const bad = on.filter(checkered);
    expect(bad.length).toBeGreaterThanOrEqual(2);
    for (const r of bad) expect(r).toMatchObject({ artifact_status: 'fail', passed: false, status: 'rejected' });
    for (const r of on.filter((x) => variantForSeed(x.seed).defects.length === 0)) expect(r.artifact_status).toBe('pass');
    expect(new Set(on.map((r) => r.rule_version.split('+').at(-1)))).toEqual(new Set([`${ARTIFACT_RULE_VERSION}(mode=on,fail=0.9)`]));
  });

  it('record: the same candidates carry the same artifact verdict but pass when faces and change do, and are judged', () => {
    const rec = runs.record;
    expect(rec.map((r) => [r.seed, r.artifact_status])).toEqual(runs.on.map((r) => [r.seed, r.artifact_status]));
    const bad = rec.filter((r) => checkered(r) && otherwiseFine(r));
    expect(bad.length).toBeGreaterThanOrEqual(2);
    for (const r of bad) expect(r).toMatchObject({ artifact_status: 'fail', passed: true, judged: true });
    expect(new Set(rec.map((r) => r.rule_version.split('+').at(-1)))).toEqual(new Set([`${ARTIFACT_RULE_VERSION}(mode=record,fail=0.9)`]));
  });
});
