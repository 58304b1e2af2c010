/**
 * INFERENCE_API_KEY through the workers' own wiring (buildStageDeps, as `vibe-curate worker`
 * builds the generate stage): against a remote core that requires the key, the configured key is
 * sent and edits succeed, and without it the core answers 401; with no INFERENCE_URL the
 * in-process core requires the key too, and the stage's client still gets its edits.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../pipeline/blobs.ts';
import { BUILTIN_MODEL, startInferenceServer } from '../../pipeline/builtin/inference-server.ts';
import { openQueues, type QueueSet } from '../../pipeline/queues.ts';
import { buildStageDeps } from '../../workers/main.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { freshPrefix, REDIS_URL, tempDir, testConfig } from './pipeline-helpers.ts';

const chelsea = fs.readFileSync(path.resolve(import.meta.dirname, '../fixtures/images/chelsea.png'));
let tdb: TestDb;
let tmp: ReturnType<typeof tempDir>;
let prefix: ReturnType<typeof freshPrefix>;
let queues: QueueSet;
let keyed: { url: string; close(): Promise<void> };

beforeAll(async () => {
  tdb = await createTestDb();
  tmp = tempDir('api-key');
  prefix = freshPrefix('api-key');
  queues = openQueues(REDIS_URL, prefix.prefix);
  keyed = await startInferenceServer({ apiKey: 'remote-key' });
});
afterAll(async () => {
  await keyed?.close();
  await queues?.close();
  await prefix?.cleanup();
  await tdb?.cleanup();
  tmp?.cleanup();
});

async function generateDeps(env: Record<string, string>) {
  const config = testConfig(tmp.dir, { INFERENCE_MODEL: BUILTIN_MODEL, INFERENCE_MAX_ATTEMPTS: '1', ...env });
  return buildStageDeps({ db: tdb.db, blobs: new BlobStore(config.blobDir), config, queues, which: ['generate'] });
}

describe('INFERENCE_API_KEY in the generate stage', () => {
  it('is sent to a remote core that requires it; without it the core answers 401', async () => {
    const withKey = await generateDeps({ INFERENCE_URL: keyed.url, INFERENCE_API_KEY: 'remote-key' });
    try {
      const res = await withKey.deps.inference!.edit({ image: chelsea, prompt: 'make it sepia', n: 2, seed: 3 });
      expect(res.images.map((i) => i.seed)).toEqual([3, 4]);
    } finally {
      await withKey.close();
    }
    const without = await generateDeps({ INFERENCE_URL: keyed.url, INFERENCE_API_KEY: '' });
    try {
      await expect(without.deps.inference!.edit({ image: chelsea, prompt: 'make it sepia', n: 1, seed: 3 })).rejects.toThrow(/HTTP 401: missing or wrong API key/);
    } finally {
      await without.close();
    }
  });

  it('guards the in-process core too when no INFERENCE_URL is set', async () => {
    const local = await generateDeps({ INFERENCE_URL: '', INFERENCE_API_KEY: 'local-key' });
    try {
      expect(local.builtinUrl).toBeDefined();
      expect((await fetch(`${local.builtinUrl}/v1/models`)).status).toBe(401);
      const res = await local.deps.inference!.edit({ image: chelsea, prompt: 'make it sepia', n: 1, seed: 9 });
      expect(res.images).toHaveLength(1);
    } finally {
      await local.close();
    }
  });
});
