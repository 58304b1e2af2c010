/** Calibration of the configured (or a named) judge version against the reviewers: see calibrate.ts. */
import type { Db } from '../../db/client.ts';
import { reviewedJudgments } from '../../db/repositories/calibration.repository.ts';
import type { Config } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { judgeVersion, RUBRIC_IDS, thresholdsInForce } from '../judge/index.ts';
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
  const rubricId = q.rubric ?? judgeVersion(cfg.judge).rubric;
  if (!(RUBRIC_IDS as readonly string[]).includes(rubricId)) {
    throw new InputError(`unknown rubric "${rubricId}" (expected one of ${RUBRIC_IDS.join(', ')})`, { subject: '--rubric' });
  }
  // exactly one judge version (rubric, model, prompt hash), and the thresholds in force for it
  const v = judgeVersion(cfg.judge, { rubric: rubricId, model: q.judgeModel });
  const thresholds = thresholdsInForce(cfg.judge, rubricId);
  const reviewed = await reviewedJudgments(db, { rubric: v.rubric, judgeModel: v.model, promptHash: v.promptHash });
  return calibrate(reviewed, { rubric: v.rubric, judgeModel: v.model, promptHash: v.promptHash, thresholds });
}
