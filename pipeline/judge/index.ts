/**
 * The judge: scores an edit against its source and instruction, on a versioned rubric. With
 * `JUDGE_URL` set, an OpenAI-compatible VLM answers `viescore-v1` or `nhr-v1` (vlm.client.ts);
 * without it, the built-in metric judge measures (`metric-v1`, pipeline/builtin/). This module
 * names the configured rubric and judge versions and the thresholds in force; workers/judges.ts
 * builds the judges.
 */
import type { Config } from '../config.ts';
import { getRubric, RUBRIC_IDS } from './rubrics/index.ts';
import { ConfigError } from '../errors/index.ts';

export type { AxisName, Axes, Rubric, RubricId, RubricScores, VlmRubric } from './rubrics/types.ts';
export type { JudgeInput, JudgmentBase, JudgmentOk, JudgmentFailed, Judgment, Judge } from './types.ts';
export { AXIS_NAMES } from './rubrics/types.ts';
export { getRubric, isVlmRubric, RUBRIC_IDS } from './rubrics/index.ts';
export { configuredJudgeVersions, ensembleKey, ENSEMBLE_RUBRIC } from './ensemble.ts';

/** The rubric the configured judge answers: `metric-v1` without JUDGE_URL, else JUDGE_RUBRIC. */
export function configuredRubricId(cfg: Config['judge']): string {
  return cfg.url ? cfg.rubric : 'metric-v1';
}

/**
 * A judge version: judgments of two versions never mix in one read (selection, export, status,
 * the dashboard). `promptHash` is the sha256 of the rubric's prompt (metric-v1: of its method).
 */
export interface JudgeVersion {
  rubric: string;
  model: string;
  promptHash: string;
}

/**
 * The judge version a command reads: the configured judge's (JUDGE_URL, JUDGE_MODEL,
 * JUDGE_RUBRIC), or another one named by `--rubric` / `--judge-model`. The prompt hash is the
 * rubric's current prompt's.
 */
export function judgeVersion(cfg: Config['judge'], pick: { rubric?: string; model?: string } = {}): JudgeVersion {
  if (cfg.judges) {
    // JUDGES_FILE: the judge the pick names (by rubric, model or both); no pick: the first.
    const entry = cfg.judges.find((j) => (pick.rubric === undefined || j.rubric === pick.rubric) && (pick.model === undefined || j.model === pick.model));
    if (entry) return { rubric: entry.rubric, model: entry.model, promptHash: getRubric(entry.rubric).promptHash };
  }
  const rubric = pick.rubric ?? configuredRubricId(cfg);
  let promptHash: string;
  try {
    promptHash = getRubric(rubric).promptHash;
  } catch (err) {
    throw new ConfigError(`no rubric ${JSON.stringify(rubric)} (expected one of ${RUBRIC_IDS.join(', ')})`, { subject: '--rubric', cause: err });
  }
  return { rubric, model: pick.model ?? cfg.model, promptHash };
}

/** `rubric/model@hash8`, for people. */
export function formatJudgeVersion(v: JudgeVersion): string {
  return `${v.rubric}/${v.model}@${v.promptHash.slice(0, 8)}`;
}

/**
 * The thresholds in force for `rubric`: JUDGE_THRESHOLDS when it is the configured rubric and
 * they are set, else the rubric's defaults. Selection applies them to the raw scores.
 */
export function thresholdsInForce(cfg: Config['judge'], rubric: string, model?: string): Record<string, number> {
  if (cfg.judges) {
    const entry = cfg.judges.find((j) => j.rubric === rubric && (model === undefined || j.model === model));
    return { ...getRubric(rubric, entry?.thresholds).thresholds };
  }
  const own = rubric === configuredRubricId(cfg) ? cfg.thresholds : undefined;
  if (own) checkThresholdNames(rubric, own);
  return { ...getRubric(rubric, own).thresholds };
}

/** A threshold must name something the rubric produces, or it could never be met. */
export function checkThresholdNames(id: string, thresholds: Record<string, number>, where = 'JUDGE_THRESHOLDS'): void {
  const rubric = getRubric(id);
  const known = new Set([...rubric.rawNames, ...Object.keys(rubric.thresholds), ...(id === 'viescore-v1' ? ['SC', 'PQ', 'O'] : [])]);
  for (const name of Object.keys(thresholds)) {
    if (!known.has(name)) {
      throw new ConfigError(`${where}: "${name}" is not a score of ${id} (expected one of ${[...known].join(', ')})`);
    }
  }
}
