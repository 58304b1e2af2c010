/**
 * Generate: asks the inference core for the K candidates of one request (seeds base_seed …
 * base_seed+K−1, one call), stores each image by content hash, and in one statement inserts all
 * candidate rows (ON CONFLICT (request_id, seed) DO NOTHING), marks the request generated and
 * lists its candidates; then enqueues their checks.
 * A retry after a crash finds the rows and only re-enqueues.
 */
import { InputError, VibeError } from '../errors/index.ts';
import { enqueueJobs } from '../queues.ts';
import { inferenceErrors } from '../metrics.ts';
import { storeCandidatesOfRequest, type NewCandidate } from '../../db/repositories/candidates.repository.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { getRequestForGenerate, markRequestFailed } from '../../db/repositories/requests.repository.ts';
import type { Stage } from './types.ts';

function extOf(bytes: Buffer): string {
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x89504e47) return 'png';
  if (bytes.length >= 12 && bytes.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return 'jpg';
}

export const generateStage: Stage<'generate'> = {
  name: 'generate',
  subject: (p) => `request:${p.requestId}`,

  async run(deps, { requestId }, signal) {
    const req = await getRequestForGenerate(deps.db, requestId);
    if (!req) throw new InputError('no such request', { subject: `request:${requestId}` });
    if (req.status === 'failed') return { outcome: 'skipped', detail: 'request failed for good' };
    let outcome: 'done' | 'skipped' = 'skipped';
    const rows: NewCandidate[] = [];
    if (req.candidates < req.candidatesWanted) {
      if (!deps.inference) throw new VibeError('BAD_CONFIG', 'generate stage started without an inference client', { subject: 'INFERENCE_URL' });
      const source = await deps.blobs.get(req.sourceBlob);
      let result;
      try {
        result = await deps.inference.edit({ image: source, prompt: req.instruction, n: req.candidatesWanted, seed: req.baseSeed, signal });
      } catch (err) {
        inferenceErrors.inc({ code: err instanceof VibeError ? err.code : 'UNKNOWN' });
        throw err;
      }
      const perImageMs = result.latencyMs / Math.max(1, result.images.length);
      const stored = await Promise.all(result.images.map((img) => deps.blobs.put(img.bytes, extOf(img.bytes))));
      result.images.forEach((img, i) => {
        rows.push({
          requestId,
          seed: img.seed,
          sha256: stored[i]!.sha256,
          blob: stored[i]!.key,
          width: img.width,
          height: img.height,
          // The model names the generator; which server answered is kept beside it (an
          // in-process core listens on a random port, which must not change exported samples).
          generator: result.model,
          generatorMeta: { ...img.meta, server: result.url },
          latencyMs: perImageMs,
        });
      });
      outcome = 'done';
    }
    // One statement: the new candidate rows, the request's move to generated, and all its candidates.
    const cands = await storeCandidatesOfRequest(deps.db, requestId, rows);
    const toCheck = cands.filter((c) => c.status === 'generated').map((c) => ({ candidateId: c.id }));
    await enqueueJobs(deps.queues, 'check', toCheck);
    return { outcome, detail: `${cands.length} candidates` };
  },

  async giveUp(deps, { requestId }, error, attempts) {
    await recordFailure(deps.db, { stage: 'generate', subject: `request:${requestId}`, requestId, attempts, error });
    await markRequestFailed(deps.db, requestId);
  },
};
