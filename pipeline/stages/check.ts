/**
 * Check: the hard checks (faces kept, something sizeable changed, no grid artifact) of one candidate. The result
 * is a `checks` row; a pass moves the candidate to `checked` and enqueues its judgment, a fail
 * moves it to `rejected` and may settle its request. A retry finds the row and only moves on.
 */
import { artifactCheckVersion, hardCheckOptionsFromConfig, runHardChecks } from '../checks.ts';
import { InputError } from '../errors/index.ts';
import { enqueueJobs } from '../queues.ts';
import { getCandidateContext, getCandidateWork, moveCandidate } from '../../db/repositories/candidates.repository.ts';
import { insertCheckAndMove, latestCheck } from '../../db/repositories/checks.repository.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { settleIfDone } from './settle.ts';
import type { Stage } from './types.ts';

export const checkStage: Stage<'check'> = {
  name: 'check',
  subject: (p) => `candidate:${p.candidateId}`,

  async run(deps, { candidateId }) {
    // One query: the candidate, its request and source, and its newest check.
    const cand = await getCandidateWork(deps.db, candidateId);
    if (!cand) throw new InputError('no such candidate', { subject: `candidate:${candidateId}` });
    let outcome: 'done' | 'skipped' = 'skipped';
    let passed = cand.checkPassed;
    let moved: boolean | undefined; // known when this attempt's check row moved the candidate too
    if (passed === undefined && cand.status === 'generated') {
      const t0 = performance.now();
      const [source, edit] = await Promise.all([deps.blobs.get(cand.sourceBlob), deps.blobs.get(cand.blob)]);
      const r = await runHardChecks(
        source,
        edit,
        hardCheckOptionsFromConfig(deps.config.checks, cand.category),
        { source: `source of candidate:${candidateId}`, edit: `candidate:${candidateId}` },
      );
      // One statement: the check row and, when it is new, the candidate's move.
      const stored = await insertCheckAndMove(deps.db, {
        candidateId,
        ruleVersion: [r.faceCheck.ruleVersion, r.changeCheck.ruleVersion, artifactCheckVersion(r.artifactCheck.mode)].filter(Boolean).join('+'),
        faceStatus: r.faceCheckExempt ? 'exempt' : r.faceCheck.status,
        faceMinIou: r.faceCheck.minIoU,
        faceThreshold: r.faceCheck.threshold,
        faceCount: r.source.faces.length,
        faces: { source: r.source.faces, edit: r.edit.faces, matches: r.faceCheck.matches, extraEditFaces: r.faceCheck.extraEditFaces, status: r.faceCheck.status },
        detectorVersion: r.faceCheck.detectorVersion,
        changeStatus: r.changeCheck.status,
        changedFraction: r.changeCheck.changedFraction,
        largestComponentShare: r.changeCheck.largestComponentShare,
        change: r.changeCheck,
        artifactStatus: r.artifactCheck.status,
        artifact: r.artifactCheck,
        passed: r.passed,
        latencyMs: performance.now() - t0,
      });
      if (stored.inserted) {
        passed = r.passed;
        moved = stored.moved;
      } else {
        // A concurrent duplicate stored its row first: the stored row decides, and the move is done below.
        passed = (await latestCheck(deps.db, candidateId))?.passed;
      }
      outcome = 'done';
    }
    if (passed === undefined) return { outcome: 'skipped', detail: `candidate is ${cand.status}` };
    if (passed) {
      moved ??= await moveCandidate(deps.db, candidateId, ['generated'], 'checked');
      // Moved now, or moved by an earlier attempt that died before enqueuing its judgment.
      if (moved || cand.status === 'checked') await enqueueJobs(deps.queues, 'judge', [{ candidateId }]);
    } else {
      if (moved === undefined) await moveCandidate(deps.db, candidateId, ['generated'], 'rejected');
      await settleIfDone(deps, cand.requestId);
    }
    return { outcome, detail: passed ? 'passed' : 'rejected' };
  },

  async giveUp(deps, { candidateId }, error, attempts) {
    const cand = await getCandidateContext(deps.db, candidateId);
    await recordFailure(deps.db, { stage: 'check', subject: `candidate:${candidateId}`, candidateId, requestId: cand?.requestId, attempts, error });
    if (!cand) return;
    await moveCandidate(deps.db, candidateId, ['generated'], 'failed');
    await settleIfDone(deps, cand.requestId);
  },
};
