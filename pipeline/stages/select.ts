/**
 * Select: the SFT pick and DPO pairs of one settled request (pipeline/select does the work in
 * one SQL statement; a re-run rewrites the same rows). Requests not settled yet are skipped:
 * their last candidate's settle enqueues select again.
 */
import { configuredRubricId } from '../judge/index.ts';
import { InputError } from '../errors/index.ts';
import { runSelection, selectionParamsFromConfig } from '../select/index.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { isSelectionDue } from '../../db/repositories/requests.repository.ts';
import type { Stage, StageDeps } from './types.ts';

/** The rubric selection reads: the running judge's (its judgments are the ones written). */
export function selectionRubric(deps: Pick<StageDeps, 'judge' | 'config'>): string {
  return deps.judge?.rubric.id ?? configuredRubricId(deps.config.judge);
}

export const selectStage: Stage<'select'> = {
  name: 'select',
  subject: (p) => `request:${p.requestId}`,

  async run(deps, { requestId }) {
    if (!Number.isSafeInteger(requestId) || requestId < 1) throw new InputError('expected a request id', { subject: `request:${requestId}` });
    if (!(await isSelectionDue(deps.db, requestId))) return { outcome: 'skipped', detail: 'not settled, or already selected' };
    const r = await runSelection(deps.db, { rubric: selectionRubric(deps), params: selectionParamsFromConfig(deps.config), requestIds: [requestId] });
    return { outcome: 'done', detail: `${r.picks} pick, ${r.pairs} pairs` };
  },

  async giveUp(deps, { requestId }, error, attempts) {
    await recordFailure(deps.db, { stage: 'select', subject: `request:${requestId}`, requestId, attempts, error });
  },
};
