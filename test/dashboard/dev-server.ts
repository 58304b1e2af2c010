/**
 * A throwaway dashboard for looking at pages by hand: a fresh test database seeded with
 * `seedLedger`, served on PORT (default 3999) without a token until SIGINT/SIGTERM.
 * Run: npx tsx test/dashboard/dev-server.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDashboard } from '../../dashboards/server.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { untilSignal } from '../../cli/context.ts';
import { runSelection, selectionSettings } from '../../pipeline/select/index.ts';
import { createTestDb } from '../helpers/db.ts';
import { seedLedger } from './seed.ts';

const tdb = await createTestDb();
const dir = await mkdtemp(path.join(os.tmpdir(), 'vc-dev-'));
try {
  const cfg = loadConfig({ DATA_DIR: dir });
  const blobs = new BlobStore(cfg.blobDir);
  const s = await seedLedger(tdb.db, blobs, { n: 8, k: 4 });
  await runSelection(tdb.db, { ...selectionSettings(cfg, { rubric: cfg.judge.rubric }), requestIds: s.requestIds });
  const dash = await startDashboard({ db: tdb.db, blobs, config: cfg, redisUrl: 'redis://127.0.0.1:6379', port: Number(process.env.PORT ?? 3999), host: '127.0.0.1' });
  console.log(`dev dashboard: ${dash.url}`);
  await untilSignal();
  await dash.close();
} finally {
  await tdb.cleanup();
  await rm(dir, { recursive: true, force: true });
}
