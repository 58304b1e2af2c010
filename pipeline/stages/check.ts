/**
 * Check: the hard checks (faces kept, something sizeable changed, no grid artifact) of one candidate under the
 * current check version (pipeline/checks/index.ts checkVersion). The result is a `checks` row; the
 * candidate's status follows it (passed → checked, or judged when the current judge version has
 * already judged it; failed → rejected). A candidate still to be judged gets its judge job
 * (rejected ones too with JUDGE_REJECTED); otherwise its request may settle. A retry finds the
 * row and only moves on; a candidate rechecked under a new version gets a second row.
 */
import { checkVersion, hardCheckOptionsFromConfig, runHardChecks, sourceFacesKey, type KnownSourceFaces } from '../checks/index.ts';
import { InputError } from '../errors/index.ts';
import { configuredJudgeVersions, judgeVersion } from '../judge/index.ts';
import { enqueueJobs } from '../queues.ts';
import { getCandidateContext, getCandidateWork, moveCandidate, setCheckOutcome } from '../../db/repositories/candidates.repository.ts';
import { insertCheck } from '../../db/repositories/checks.repository.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { getSourceFaces, putSourceFaces } from '../../db/repositories/source-faces.repository.ts';
import { settleIfDone } from './settle.ts';
import type { Stage, StageDeps } from './types.ts';

/** The judge version the judge stage writes: the running judge's, else the configured one. */
export function stageJudgeVersion(deps: Pick<StageDeps, 'judge' | 'config'>): { rubric: string; model: string; promptHash: string } {
  const j = deps.judge;
  return j ? { rubric: j.rubric.id, model: j.model, promptHash: j.rubric.promptHash } : judgeVersion(deps.config.judge);
}

/** Every judge version the judge stage writes (JUDGES_FILE: one per judge; else the one above). */
export function stageJudgeVersions(deps: Pick<StageDeps, 'judge' | 'judges' | 'config'>): { rubric: string; model: string; promptHash: string }[] {
  if (deps.judges) return deps.judges.map((j) => ({ rubric: j.rubric.id, model: j.model, promptHash: j.rubric.promptHash }));
  if (deps.config.judge.judges && !deps.judge) return configuredJudgeVersions(deps.config.judge);
  return [stageJudgeVersion(deps)];
}

export const checkStage: Stage<'check'> = {
  name: 'check',
  subject: (p) => `candidate:${p.candidateId}`,

  async run(deps, { candidateId }) {
    const version = checkVersion(hardCheckOptionsFromConfig(deps.config.checks));
    // One query: the candidate, its request and source, its check of this version and whether the judge version judged it.
    const cand = await getCandidateWork(deps.db, candidateId, { checkVersion: version, judges: stageJudgeVersions(deps) });
    if (!cand) throw new InputError('no such candidate', { subject: `candidate:${candidateId}` });
    if (cand.status === 'failed') return { outcome: 'skipped', detail: 'candidate is failed' };
    let outcome: 'done' | 'skipped' = 'skipped';
    let passed = cand.checkPassed;
    if (passed === undefined) {
      const t0 = performance.now();
      const opts = hardCheckOptionsFromConfig(deps.config.checks, cand.category);
      // The source's faces are searched once per detector version and kept in Postgres.
      const [source, edit, known] = await Promise.all([
        deps.blobs.get(cand.sourceBlob),
        deps.blobs.get(cand.blob),
        // The stored JSON is what this stage wrote below: a SourceFaces.
        sourceFacesKey(opts).then((v) => getSourceFaces(deps.db, cand.sourceId, v) as Promise<KnownSourceFaces['known']>),
      ]);
      const r = await runHardChecks(
        source,
        edit,
        opts,
        { source: `source of candidate:${candidateId}`, edit: `candidate:${candidateId}` },
        { known, found: (f, v) => putSourceFaces(deps.db, cand.sourceId, v, f) },
      );
      await insertCheck(deps.db, {
        candidateId,
        ruleVersion: version,
        faceStatus: r.faceCheckExempt ? 'exempt' : r.faceCheck.status,
        faceMinIou: r.faceCheck.minIoU,
        faceThreshold: r.faceCheck.threshold,
        faceCount: r.source.faces.length,
        faces: {
          source: r.source.faces,
          edit: r.edit.faces,
          matches: r.faceCheck.matches,
          extraEditFaces: r.faceCheck.extraEditFaces,
          editSearched: r.faceCheck.editSearched ?? true,
          status: r.faceCheck.status,
          ...(r.faceCheck.uncertainFace ? { uncertainFace: r.faceCheck.uncertainFace } : {}),
        },
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
      // A concurrent duplicate may have stored its row first: the same inputs give the same verdict.
      passed = r.passed;
      outcome = 'done';
    }
    const needsJudge = !cand.judged && (passed || deps.config.judge.judgeRejected);
    await setCheckOutcome(deps.db, candidateId, passed, needsJudge);
    // A judge job that finished before (another version) is replaced so this one runs.
    if (needsJudge) await enqueueJobs(deps.queues, 'judge', [{ candidateId }], { replaceFinished: true });
    else await settleIfDone(deps, cand.requestId);
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
