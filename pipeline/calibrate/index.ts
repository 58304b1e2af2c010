/** Calibration of the configured (or a named) judge version against the reviewers: see calibrate.ts. */
import type { Db } from '../../db/client.ts';
import { reviewedJudgments } from '../../db/repositories/calibration.repository.ts';
import type { Config } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { configuredRubricId, getRubric, METRIC_MODEL, RUBRIC_IDS } from '../judge/index.ts';
import { calibrate, type CalibrationReport } from './calibrate.ts';

export { agreement, calibrate, MIN_REVIEWS, suggest, sweep, TARGET_PRECISION } from './calibrate.ts';
export type { Agreement, CalibrationReport, ScoreCalibration, ThresholdPoint } from './calibrate.ts';

export interface CalibrationQuery {
  /** Default: the configured judge's rubric. */
  rubric?: string;
  /** Default: the configured judge's model. */
  judgeModel?: string;
}

/** Reads the reviewed judgments of the judge version and reports agreement and suggested thresholds. */
export async function runCalibration(db: Db, cfg: Config, q: CalibrationQuery = {}): Promise<CalibrationReport> {
  const configured = configuredRubricId(cfg.judge);
  const rubricId = q.rubric ?? configured;
  if (!(RUBRIC_IDS as readonly string[]).includes(rubricId)) {
    throw new InputError(`unknown rubric "${rubricId}" (expected one of ${RUBRIC_IDS.join(', ')})`, { subject: '--rubric' });
  }
  // the thresholds in force: JUDGE_THRESHOLDS for the configured rubric, else the rubric's defaults
  const rubric = getRubric(rubricId, rubricId === configured ? cfg.judge.thresholds : undefined);
  const judgeModel = q.judgeModel ?? (cfg.judge.url ? cfg.judge.model : METRIC_MODEL);
  const reviewed = await reviewedJudgments(db, { rubric: rubricId, judgeModel });
  return calibrate(reviewed, { rubric: rubricId, judgeModel, thresholds: rubric.thresholds });
}
