/**
 * Several judges at once (JUDGES_FILE): every candidate is judged by each, in parallel, and each
 * judgment is stored under its own judge version. Selection over the ensemble names the set of
 * judge versions it read by one composite key (`ensembleKey`), so its rows never mix with a
 * single judge's, nor with another set's.
 */
import type { Config } from '../config.ts';
import { formatJudgeVersion, judgeVersion, type JudgeVersion } from './index.ts';
import { getRubric } from './rubrics/index.ts';
import { sha256Text } from './rubrics/common.ts';

/** The `rubric` column of selections and pairs made over an ensemble of judges. */
export const ENSEMBLE_RUBRIC = 'ensemble';

/** The judge versions the configured judges write, in JUDGES_FILE order (one without it). */
export function configuredJudgeVersions(cfg: Config['judge']): JudgeVersion[] {
  if (!cfg.judges) return [judgeVersion(cfg)];
  return cfg.judges.map((j) => ({ rubric: j.rubric, model: j.model, promptHash: getRubric(j.rubric).promptHash }));
}

/**
 * The composite judge version a selection over `versions` is stored under: rubric `ensemble`,
 * model the readable list (`rubric/model@hash8 + …`), prompt hash the sha256 of the full list in
 * order, so another set or order of judges is another version.
 */
export function ensembleKey(versions: readonly JudgeVersion[]): JudgeVersion {
  return {
    rubric: ENSEMBLE_RUBRIC,
    model: versions.map(formatJudgeVersion).join(' + '),
    promptHash: sha256Text(JSON.stringify(versions.map((v) => [v.rubric, v.model, v.promptHash]))),
  };
}
