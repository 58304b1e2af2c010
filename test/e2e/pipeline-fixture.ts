/**
 * Fills a test database for the end-to-end tests with a real pipeline run in this process
 * (runLocalPipeline: built-in inference core, BlazeFace checks, metric judge, selection) over
 * the fixture photos shrunk to 160 px, so a run of 6 requests × 4 candidates takes seconds.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import type { Db } from '../../db/client.ts';
import { runLocalPipeline, type LocalPipelineSummary } from '../../cli/run-local.ts';

const FIXTURES = path.resolve('test/fixtures/images');

/** Photos (two with faces) and instructions that give passes, face failures and DPO pairs. */
const REQUESTS = [
  { file: 'astronaut.png', instruction: 'Make the colors warmer, like golden hour', category: 'color' },
  { file: 'camera.png', instruction: 'Mirror the image horizontally', category: 'geometry' },
  { file: 'chelsea.png', instruction: 'Convert the photo to black and white', category: 'color' },
  { file: 'coffee.png', instruction: 'Add a thick red border around the picture', category: 'frame' },
  { file: 'rocket.jpg', instruction: 'Brighten the image', category: 'tone' },
  { file: 'hubble_deep_field.jpg', instruction: 'Give the image a cooler, bluish tint', category: 'color' },
  { file: 'astronaut.png', instruction: 'Blur the whole picture', category: 'detail' },
  { file: 'chelsea.png', instruction: 'Increase the contrast', category: 'tone' },
];

/** Runs the pipeline over `requests` (≤ 8) requests of `candidates` candidates each. */
export async function fillByPipeline(o: {
  db: Db;
  blobs: BlobStore;
  config: Config;
  redisUrl: string;
  workDir: string;
  requests: number;
  candidates: number;
}): Promise<LocalPipelineSummary> {
  const dir = path.join(o.workDir, 'inputs');
  await mkdir(dir, { recursive: true });
  const chosen = REQUESTS.slice(0, Math.min(o.requests, REQUESTS.length));
  for (const r of new Set(chosen.map((x) => x.file))) {
    await sharp(path.join(FIXTURES, r)).resize({ width: 160, height: 160, fit: 'inside' }).png().toFile(path.join(dir, `${r}.png`));
  }
  return runLocalPipeline({
    db: o.db,
    blobs: o.blobs,
    config: o.config,
    redisUrl: o.redisUrl,
    baseDir: dir,
    requests: chosen.map((r) => ({ image: `${r.file}.png`, instruction: r.instruction, category: r.category })),
    candidates: o.candidates,
    timeoutMs: 120_000,
  });
}
