/**
 * `select-ensemble-v1`: selection that every judge must agree with (JUDGES_FILE). One judge can
 * be fooled; an edit chosen here dominates under each judge's own axes, so one judge's blind
 * spot is not enough to make a pair or a pick.
 *
 * - Usable: the candidate has a current ok judgment of every judge (a missing one makes it
 *   unusable until it comes: neither picked, nor either side of a pair).
 * - Qualifies: as select-v1 (review, hard check), with "passes thresholds" meaning it passes
 *   every judge's thresholds.
 * - SFT pick: the highest mean over the judges of each judge's geometric mean (each judge's
 *   axes on the canonical 0–10 scale); ties to the lowest seed.
 * - DPO pairs: strict dominance on the concatenation of every judge's axes (≥ on every axis of
 *   every judge, > on at least one), then select-v1's margin, use limit and ranking.
 *
 * The SQL lives in db/repositories/selection-ensemble.repository.ts; the functions below are its
 * brute-force reference. Rows are stored under the ensemble's composite judge version
 * (pipeline/judge/ensemble.ts `ensembleKey`) with the judges' versions and thresholds in params.
 */
import { checkVersion, hardCheckOptionsFromConfig } from '../checks/version.ts';
import type { Config } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { configuredJudgeVersions, ensembleKey, getRubric, thresholdsInForce, type JudgeVersion } from '../judge/index.ts';
import { meetsThresholds } from '../judge/rubrics/common.ts';
import type { Db } from '../../db/client.ts';
import { nextPendingSelection } from '../../db/repositories/selection.repository.ts';
import { ENSEMBLE_MAX_AXES, selectEnsembleBatch } from '../../db/repositories/selection-ensemble.repository.ts';
import { dpoPairs, type DpoPair } from './dominance.ts';
import { geometricMean, qualifies, type CandidateFacts, type SelectionParams, type Verdict } from './rules.ts';
import { selectionParamsFromConfig, type SelectionRunResult } from './index.ts';

/** The rule version stored with every ensemble selection and pair. */
export const ENSEMBLE_RULE_VERSION = 'select-ensemble-v1';

/** One judge as the ensemble rule reads it: its version, its score-vector length and its thresholds in force. */
export interface EnsembleJudge extends JudgeVersion {
  axes: number;
  thresholds: Record<string, number>;
}

export interface EnsembleSettings {
  judges: EnsembleJudge[];
  params: SelectionParams;
  checkVersion: string;
}

/** The ensemble settings of the configuration: every JUDGES_FILE judge with its thresholds in force. */
export function ensembleSettings(cfg: Config): EnsembleSettings {
  return {
    judges: configuredJudgeVersions(cfg.judge).map((v) => ({
      ...v,
      axes: getRubric(v.rubric).axisNames.length,
      thresholds: thresholdsInForce(cfg.judge, v.rubric, v.model),
    })),
    params: selectionParamsFromConfig(cfg),
    checkVersion: checkVersion(hardCheckOptionsFromConfig(cfg.checks)),
  };
}

/** What the reference knows about one candidate: per judge (in order) its scored judgment, or null. */
export interface EnsembleCandidate {
  id: number;
  seed: number;
  /** Per judge: the score vector and the raw scores with aggregates of its newest ok judgment, or null. */
  judgments: ({ scores: number[]; values: Record<string, number | boolean> } | null)[];
  checkPassed: boolean;
  review: Verdict | null;
}

/** The candidate as select-v1 facts over the concatenated axes, or null when a judge's judgment is missing (not usable). */
function facts(c: EnsembleCandidate, judges: readonly EnsembleJudge[]): CandidateFacts | null {
  if (c.judgments.length !== judges.length || c.judgments.some((j, i) => !j || j.scores.length !== judges[i]!.axes)) return null;
  const js = c.judgments as { scores: number[]; values: Record<string, number | boolean> }[];
  return {
    id: c.id,
    seed: c.seed,
    scores: js.flatMap((j) => j.scores),
    passesThresholds: js.every((j, i) => meetsThresholds(judges[i]!.thresholds, j.values)),
    checkPassed: c.checkPassed,
    review: c.review,
  };
}

/** Mean over the judges of each judge's geometric mean (summed in judge order). */
export function ensembleScore(c: EnsembleCandidate): number {
  let sum = 0;
  for (const j of c.judgments) sum += geometricMean(j!.scores);
  return sum / c.judgments.length;
}

/** The ensemble rule for one request, by brute force: the SFT pick and the DPO pairs. */
export function ensembleSelect(
  cands: readonly EnsembleCandidate[],
  judges: readonly EnsembleJudge[],
  params: SelectionParams,
): { pick: { candidateId: number; score: number } | null; pairs: DpoPair[] } {
  const usable = cands.map((c) => ({ c, f: facts(c, judges) })).filter((x): x is { c: EnsembleCandidate; f: CandidateFacts } => x.f !== null);
  let pick: { candidateId: number; score: number; seed: number } | null = null;
  for (const { c, f } of usable) {
    if (!qualifies(f, params)) continue;
    const s = ensembleScore(c);
    if (!pick || s > pick.score || (s === pick.score && c.seed < pick.seed)) pick = { candidateId: c.id, score: s, seed: c.seed };
  }
  return { pick: pick && { candidateId: pick.candidateId, score: pick.score }, pairs: dpoPairs(usable.map((x) => x.f), params) };
}

/**
 * Runs select-ensemble-v1 for `requestIds`, or for every request due (settled since its last
 * selection; `all`: every settled or selected one), a batch of requests per statement.
 */
export async function runEnsembleSelection(
  db: Db,
  opts: EnsembleSettings & { requestIds?: number[]; all?: boolean; batchSize?: number },
): Promise<SelectionRunResult> {
  const t0 = performance.now();
  if (opts.judges.length === 0) throw new InputError('expected at least one judge', { subject: 'JUDGES_FILE' });
  const axes = opts.judges.reduce((n, j) => n + j.axes, 0);
  if (axes > ENSEMBLE_MAX_AXES) throw new InputError(`the judges have ${axes} axes in all, at most ${ENSEMBLE_MAX_AXES} are compared`, { subject: 'JUDGES_FILE' });
  const batchSize = opts.batchSize ?? 2000;
  const { minMargin, maxPairs, maxUses, loserMayFailChecks, reviewAcceptOverridesThresholds } = opts.params;
  const params: SelectionParams = { minMargin, maxPairs, maxUses, loserMayFailChecks, reviewAcceptOverridesThresholds };
  const key = ensembleKey(opts.judges);
  // The judge versions used, with the thresholds applied to each: recorded with every row.
  const storedParams = {
    checkVersion: opts.checkVersion,
    judges: opts.judges.map((j) => ({ rubric: j.rubric, model: j.model, promptHash: j.promptHash, thresholds: j.thresholds })),
  };
  const out: SelectionRunResult = { requests: 0, picks: 0, pairs: 0, ms: 0, byRule: {} };
  const run = async (ids: number[]) => {
    const r = await selectEnsembleBatch(db, { requestIds: ids, judges: opts.judges, key, ruleVersion: ENSEMBLE_RULE_VERSION, params, checkVersion: opts.checkVersion, storedParams });
    out.requests += r.requests;
    out.picks += r.picks;
    out.pairs += r.pairs;
  };
  if (opts.requestIds) {
    const ids = [...new Set(opts.requestIds)].sort((a, b) => a - b);
    for (let i = 0; i < ids.length; i += batchSize) await run(ids.slice(i, i + batchSize));
  } else {
    let after = 0;
    for (;;) {
      const ids = await nextPendingSelection(db, after, batchSize, { all: opts.all });
      if (!ids.length) break;
      after = ids[ids.length - 1]!;
      await run(ids);
    }
  }
  out.byRule[ENSEMBLE_RULE_VERSION] = { picks: out.picks, pairs: out.pairs };
  out.ms = performance.now() - t0;
  return out;
}
