/**
 * What every stage service gets and returns. A stage loads its rows, decides, calls clients and
 * repositories, and returns `done` (it did the work) or `skipped` (the work was already done or
 * is not due); it throws only when a retry makes sense, or a non-retryable VibeError for bad
 * input. `giveUp` records a failure row and moves the subject to a terminal state.
 */
import type { BlobStore } from '../blobs.ts';
import type { Config } from '../config.ts';
import type { InferenceClient } from '../inference/inference.client.ts';
import type { Judge } from '../judge/types.ts';
import type { JobPayloads, QueueName } from '../jobs.ts';
import type { QueueSet } from '../queues.ts';
import type { Db } from '../../db/client.ts';

export interface StageDeps {
  db: Db;
  blobs: BlobStore;
  config: Config;
  /** Where follow-up jobs go. */
  queues: QueueSet;
  /** Needed by generate. */
  inference?: InferenceClient;
  /** Needed by judge and select (its rubric names the judgments selection reads). With JUDGES_FILE: the first judge. */
  judge?: Judge;
  /** With JUDGES_FILE: every judge; each candidate is judged by all of them. */
  judges?: Judge[];
}

export interface StageResult {
  outcome: 'done' | 'skipped';
  detail?: string;
}

export interface Stage<Q extends QueueName> {
  name: Q;
  /** Does the work of one job. */
  run(deps: StageDeps, payload: JobPayloads[Q], signal?: AbortSignal): Promise<StageResult>;
  /** After the last attempt or on bad input: a failure row and a terminal state for the subject. */
  giveUp(deps: StageDeps, payload: JobPayloads[Q], error: string, attempts: number): Promise<void>;
  /** `request:12` / `candidate:42`. */
  subject(payload: JobPayloads[Q]): string;
}
