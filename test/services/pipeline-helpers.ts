/**
 * Shared pieces of the pipeline service tests: small copies of the fixture images (so the
 * 2-core machine runs 200 candidates in time), a configuration on a temp data folder, a fresh
 * queue prefix per test, and a snapshot of the ledger rows two runs are compared by.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../../db/client.ts';
import { loadConfig, type Config } from '../../pipeline/config.ts';
import { demoImages, demoRequests, DEMO_IMAGE_DIR } from '../../cli/demo.ts';
import { redisConnection } from '../../pipeline/redis.ts';
import { deletePrefixKeys } from '../../pipeline/queues.ts';
import type { LocalRequest } from '../../cli/run-local.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A temp folder removed by the returned cleanup. */
export function tempDir(tag: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `vc-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copies of the demo images with the long side `size` pixels, written into `dir`. Returns their file names. */
export async function smallImages(dir: string, size = 160): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const names = demoImages();
  for (const f of names) {
    const img = sharp(path.join(DEMO_IMAGE_DIR, f)).resize(size, size, { fit: 'inside' });
    await (f.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(path.join(dir, f));
  }
  return readdirSync(dir).filter((f) => names.includes(f)).sort();
}

/** `n` distinct requests over the images in `dir`. */
export function requestsOver(images: string[], n: number): LocalRequest[] {
  const r = demoRequests(n, images);
  if (r.length < n) throw new Error(`only ${r.length} distinct requests over ${images.length} images`);
  return r;
}

/** The configuration a test runs with: a temp DATA_DIR, the given extra environment. */
export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ DATA_DIR: dataDir, QUEUE_LOCK_MS: '5000', ...env });
}

/** A fresh queue prefix, and a cleanup that deletes its keys. */
export function freshPrefix(tag: string): { prefix: string; cleanup(): Promise<void> } {
  const prefix = `vctest-${tag}-${randomBytes(4).toString('hex')}`;
  return {
    prefix,
    async cleanup() {
      const c = redisConnection(REDIS_URL);
      try {
        await deletePrefixKeys(c, prefix);
      } finally {
        c.disconnect();
      }
    },
  };
}

export interface LedgerSnapshot {
  candidates: string[];
  checks: string[];
  judgments: string[];
  selections: string[];
  pairs: string[];
  requests: string[];
}

/**
 * Every ledger row that two runs of the same requests must agree on, keyed by content
 * (source hash, instruction, seed), not by serial ids, and sorted.
 */
export async function snapshot(db: Db): Promise<LedgerSnapshot> {
  const key = sql`s.sha256 || '|' || r.instruction || '|' || c.seed`;
  const q = async (query: ReturnType<typeof sql>) => (await rows<{ k: string }>(db, query)).map((r) => r.k).sort();
  return {
    requests: await q(sql`SELECT s.sha256 || '|' || r.instruction || '|' || r.status || '|' || r.candidates_wanted AS k FROM requests r JOIN sources s ON s.id = r.source_id`),
    candidates: await q(sql`SELECT ${key} || '|' || c.sha256 || '|' || c.status AS k FROM candidates c JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id`),
    checks: await q(
      sql`SELECT ${key} || '|' || k.rule_version || '|' || k.face_status || '|' || k.change_status || '|' || k.passed || '|' || round(k.changed_fraction::numeric, 6) AS k
          FROM checks k JOIN candidates c ON c.id = k.candidate_id JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id`,
    ),
    judgments: await q(
      sql`SELECT ${key} || '|' || j.rubric || '|' || j.ok || '|' || coalesce(array_to_string(j.scores, ','), '') AS k
          FROM judgments j JOIN candidates c ON c.id = j.candidate_id JOIN requests r ON r.id = c.request_id JOIN sources s ON s.id = r.source_id`,
    ),
    selections: await q(
      sql`SELECT s.sha256 || '|' || r.instruction || '|' || coalesce(c.seed::text, '-') AS k
          FROM selections x JOIN requests r ON r.id = x.request_id JOIN sources s ON s.id = r.source_id LEFT JOIN candidates c ON c.id = x.candidate_id`,
    ),
    pairs: await q(
      sql`SELECT s.sha256 || '|' || r.instruction || '|' || w.seed || '>' || l.seed AS k
          FROM pairs p JOIN requests r ON r.id = p.request_id JOIN sources s ON s.id = r.source_id
          JOIN candidates w ON w.id = p.chosen_id JOIN candidates l ON l.id = p.rejected_id`,
    ),
  };
}
