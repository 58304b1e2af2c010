/**
 * A planted calibration set: a local fake VLM server (a real HTTP server) whose editing-success
 * score cycles 2, 3, …, 10 over its calls (everything else scores 9–10), a real pipeline run
 * judged by it, and the verdicts a reviewer would give: accept when editing success ≥ PLANTED,
 * with one rejected 8 and one accepted 4 as noise. Used by the calibrate service test and the
 * calibration page's end-to-end test.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { Config } from '../../pipeline/config.ts';
import { runLocalPipeline, type LocalPipelineSummary } from '../../cli/run-local.ts';
import { REDIS_URL, requestsOver, smallImages, testConfig } from './pipeline-helpers.ts';

/** Reviewers accept editing success ≥ 7. */
export const PLANTED = 7;
export const FAKE_MODEL = 'fake-vlm';

export interface PlantedSet {
  env: Record<string, string>;
  config: Config;
  run: LocalPipelineSummary;
  /** Judged candidates in id order with the planted score and their request's category. */
  judged: { candidate_id: number; score: number; category: string }[];
  verdictOf: Map<number, 'accept' | 'reject'>;
  close(): Promise<void>;
}

function startFakeVlm(): Promise<{ server: Server; url: string }> {
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const score = 2 + (calls++ % 9);
      const content = JSON.stringify({ reasoning: 'planted', editing_success: score, over_editing: 10, naturalness: 9, artifacts: 9 });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: `c${calls}`, object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }] }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

/** Runs `requests` requests × 4 candidates through the pipeline, judged by the fake VLM. */
export async function plantedSet(db: Db, dir: string, requests = 20, extraEnv: Record<string, string> = {}): Promise<PlantedSet> {
  const { server, url } = await startFakeVlm();
  const env = { DATA_DIR: `${dir}/data`, JUDGE_URL: url, JUDGE_MODEL: FAKE_MODEL, JUDGE_RUBRIC: 'viescore-v1', ...extraEnv };
  const config = testConfig(env.DATA_DIR, env);
  const images = await smallImages(`${dir}/img`, 96);
  const run = await runLocalPipeline({
    db,
    blobs: new BlobStore(config.blobDir),
    config,
    redisUrl: REDIS_URL,
    requests: requestsOver(images, requests),
    baseDir: `${dir}/img`,
    candidates: 4,
    timeoutMs: 90_000,
  });
  const judged = (
    await rows<{ candidate_id: number; score: number; category: string }>(
      db,
      sql`SELECT j.candidate_id, (j.raw_scores->>'editing_success')::int AS score, r.category
          FROM judgments j JOIN candidates c ON c.id = j.candidate_id JOIN requests r ON r.id = c.request_id
          WHERE j.ok AND j.judge_model = ${FAKE_MODEL} ORDER BY j.candidate_id`,
    )
  ).map((r) => ({ ...r, candidate_id: Number(r.candidate_id) }));
  const verdictOf = new Map<number, 'accept' | 'reject'>();
  let noisyReject = false;
  let noisyAccept = false;
  for (const j of judged) {
    let v: 'accept' | 'reject' = j.score >= PLANTED ? 'accept' : 'reject';
    if (j.score === 8 && !noisyReject) [v, noisyReject] = ['reject', true];
    else if (j.score === 4 && !noisyAccept) [v, noisyAccept] = ['accept', true];
    verdictOf.set(j.candidate_id, v);
  }
  return { env, config, run, judged, verdictOf, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
