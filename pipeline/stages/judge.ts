/**
 * Judge: scores one candidate under the running judge's version (rubric, model, prompt hash), or
 * with JUDGES_FILE under every judge's, the judges asked in parallel:
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
import { insertJudgment, insertJudgmentAndFinish, type NewJudgment } from '../../db/repositories/judgments.repository.ts';
import type { Judgment } from '../judge/types.ts';
import { stageJudgeVersions } from './check.ts';
import { settleIfDone } from './settle.ts';
import type { Stage } from './types.ts';

export const judgeStage: Stage<'judge'> = {
  name: 'judge',
  subject: (p) => `candidate:${p.candidateId}`,

  async run(deps, { candidateId }, signal) {
    const judges = deps.judges ?? (deps.judge ? [deps.judge] : []);
    if (!judges.length) throw new VibeError('BAD_CONFIG', 'judge stage started without a judge', { subject: 'JUDGE_URL' });
    // One query: the candidate, its request and source, and which judge versions' judgments exist.
    const cand = await getCandidateWork(deps.db, candidateId, { judges: stageJudgeVersions({ ...deps, judges }) });
    if (!cand) throw new InputError('no such candidate', { subject: `candidate:${candidateId}` });
    const eligible = cand.status === 'checked' || cand.status === 'judged' || (cand.status === 'rejected' && deps.config.judge.judgeRejected);
    if (!eligible) return { outcome: 'skipped', detail: `candidate is ${cand.status}` };
    // The judges that have not judged it yet (a retry asks only those), all at once.
    const missing = judges.filter((_, i) => !cand.judgedBy[i]);
    if (missing.length) {
      const [source, edit] = await Promise.all([deps.blobs.get(cand.sourceBlob), deps.blobs.get(cand.blob)]);
      const input = { source, edit, instruction: cand.instruction, category: cand.category || undefined, signal };
      // Each judgment is stored as soon as it comes; the candidate's judging ends once all are in.
      const last = missing.length === 1;
      const settled = await Promise.allSettled(
        missing.map(async (judge) => {
          let j: Judgment;
          try {
            j = await judge.judge(input);
          } catch (err) {
            judgeErrors.inc({ code: err instanceof VibeError ? err.code : 'UNKNOWN' });
            throw err;
          }
          if (!j.ok) judgeErrors.inc({ code: 'JUDGE_REPLY' });
          const row = judgmentRow(candidateId, j);
          // One judge: one statement for the row and the end of the candidate's judging.
          if (last) await insertJudgmentAndFinish(deps.db, row);
          else await insertJudgment(deps.db, row);
        }),
      );
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // Transport errors: the judgments that came are kept, the queue retries the rest.
      if (failed) throw failed.reason;
      if (!last) await finishJudging(deps.db, candidateId);
    } else {
      // An earlier attempt stored the judgments and may have died before the move.
      await finishJudging(deps.db, candidateId);
    }
    await settleIfDone(deps, cand.requestId);
    return { outcome: missing.length ? 'done' : 'skipped' };
  },

  async giveUp(deps, { candidateId }, error, attempts) {
    const cand = await getCandidateContext(deps.db, candidateId);
    await recordFailure(deps.db, { stage: 'judge', subject: `candidate:${candidateId}`, candidateId, requestId: cand?.requestId, attempts, error });
    if (!cand) return;
    await giveUpJudging(deps.db, candidateId);
    await settleIfDone(deps, cand.requestId);
  },
};

/** The judgments row of one judge's answer. */
function judgmentRow(candidateId: number, j: Judgment): NewJudgment {
  return {
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
  };
}
