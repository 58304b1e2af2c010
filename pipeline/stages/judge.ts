/**
 * Judge: scores one candidate under the running judge's version (rubric, model, prompt hash):
 * those that passed the hard checks, and with JUDGE_REJECTED those that failed them (rejected
 * sides of DPO pairs; a reviewer's accept can rescue them). The judgment (scored, or failed with
 * the raw reply when the judge's answer could not be scored) is a row; the candidate's judging
 * ends (checked → judged; a rejected one stays rejected) and its request may settle. Transport
 * errors are thrown for the queue to retry.
 */
import { InputError, VibeError } from '../errors/index.ts';
import { judgeErrors } from '../metrics.ts';
import { finishJudging, getCandidateContext, getCandidateWork, giveUpJudging } from '../../db/repositories/candidates.repository.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { insertJudgmentAndFinish } from '../../db/repositories/judgments.repository.ts';
import { stageJudgeVersion } from './check.ts';
import { settleIfDone } from './settle.ts';
import type { Stage } from './types.ts';

export const judgeStage: Stage<'judge'> = {
  name: 'judge',
  subject: (p) => `candidate:${p.candidateId}`,

  async run(deps, { candidateId }, signal) {
    const judge = deps.judge;
    if (!judge) throw new VibeError('BAD_CONFIG', 'judge stage started without a judge', { subject: 'JUDGE_URL' });
    // One query: the candidate, its request and source, and whether this judge version's judgment exists.
    const cand = await getCandidateWork(deps.db, candidateId, { judge: stageJudgeVersion(deps) });
    if (!cand) throw new InputError('no such candidate', { subject: `candidate:${candidateId}` });
    const eligible = cand.status === 'checked' || cand.status === 'judged' || (cand.status === 'rejected' && deps.config.judge.judgeRejected);
    if (!eligible) return { outcome: 'skipped', detail: `candidate is ${cand.status}` };
    let outcome: 'done' | 'skipped' = 'skipped';
    if (!cand.judged) {
      const [source, edit] = await Promise.all([deps.blobs.get(cand.sourceBlob), deps.blobs.get(cand.blob)]);
      let j;
      try {
        j = await judge.judge({ source, edit, instruction: cand.instruction, category: cand.category || undefined, signal });
      } catch (err) {
        judgeErrors.inc({ code: err instanceof VibeError ? err.code : 'UNKNOWN' });
        throw err;
      }
      if (!j.ok) judgeErrors.inc({ code: 'JUDGE_REPLY' });
      // One statement: the judgment row and the end of the candidate's judging.
      await insertJudgmentAndFinish(deps.db, {
        candidateId,
        judgeModel: j.model,
        rubric: j.rubric,
        promptHash: j.promptHash,
        ok: j.ok,
        error: j.ok ? null : j.error,
        rawScores: j.ok ? j.rawScores : null,
        scores: j.ok ? j.scoreVector : null,
        axisInstruction: j.ok ? j.axes.instruction : null,
        axisPreservation: j.ok ? j.axes.preservation : null,
        axisQuality: j.ok ? j.axes.quality : null,
        aggregate: j.ok ? j.aggregate : null,
        passesThresholds: j.ok ? j.passesThresholds : null,
        rawReply: j.rawReply,
        attempts: j.attempts,
        latencyMs: j.latencyMs,
        promptTokens: j.usage?.promptTokens ?? null,
        completionTokens: j.usage?.completionTokens ?? null,
      });
      outcome = 'done';
    } else {
      // An earlier attempt stored the judgment and may have died before the move.
      await finishJudging(deps.db, candidateId);
    }
    await settleIfDone(deps, cand.requestId);
    return { outcome };
  },

  async giveUp(deps, { candidateId }, error, attempts) {
    const cand = await getCandidateContext(deps.db, candidateId);
    await recordFailure(deps.db, { stage: 'judge', subject: `candidate:${candidateId}`, candidateId, requestId: cand?.requestId, attempts, error });
    if (!cand) return;
    await giveUpJudging(deps.db, candidateId);
    await settleIfDone(deps, cand.requestId);
  },
};
