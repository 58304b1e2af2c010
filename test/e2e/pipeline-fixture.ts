/**
 * Fills a test database for the end-to-end tests. Interim: seeds the ledger directly and runs
 * the real selection over it, until pipeline/run-local.ts can run the whole pipeline in-process.
 */
import type { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import type { Db } from '../../db/client.ts';
import { runSelection, selectionParamsFromConfig } from '../../pipeline/select/index.ts';
import { seedLedger } from '../dashboard/seed.ts';

export async function fillByPipeline(o: { db: Db; blobs: BlobStore; config: Config; requests: number; candidates: number }): Promise<void> {
  const s = await seedLedger(o.db, o.blobs, { n: o.requests, k: o.candidates, rubric: o.config.judge.rubric });
  await runSelection(o.db, { rubric: o.config.judge.rubric, params: selectionParamsFromConfig(o.config), requestIds: s.requestIds });
}
