/**
 * Select: the SFT pick and DPO pairs of one settled request under the settings in force (judge
 * version, thresholds, check version, DPO parameters; pipeline/select does the work in one SQL
 * statement; a re-run rewrites the same rows). Requests not settled yet are skipped: their last
 * candidate's settle enqueues select again.
 */
import { InputError } from '../errors/index.ts';
import { ensembleSettings, runEnsembleSelection, runSelection, selectionSettings } from '../select/index.ts';
import { recordFailure } from '../../db/repositories/failures.repository.ts';
import { isSelectionDue } from '../../db/repositories/requests.repository.ts';
import type { Stage } from './types.ts';

export const selectStage: Stage<'select'> = {
  name: 'select',
  subject: (p) => `request:${p.requestId}`,

  async run(deps, { requestId }) {
    if (!Number.isSafeInteger(requestId) || requestId < 1) throw new InputError('expected a request id', { subject: `request:${requestId}` });
    if (!(await isSelectionDue(deps.db, requestId))) return { outcome: 'skipped', detail: 'not settled, or already selected' };
    // JUDGES_FILE: the ensemble rule over every judge; else select-v1 over the one judge.
    const r = deps.config.judge.judges
      ? await runEnsembleSelection(deps.db, { ...ensembleSettings(deps.config), requestIds: [requestId] })
      : await runSelection(deps.db, { ...selectionSettings(deps.config), requestIds: [requestId] });
    return { outcome: 'done', detail: `${r.picks} pick, ${r.pairs} pairs` };
  },

  async giveUp(deps, { requestId }, error, attempts) {
    await recordFailure(deps.db, { stage: 'select', subject: `request:${requestId}`, requestId, attempts, error });
  },
};
