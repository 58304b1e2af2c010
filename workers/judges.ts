/**
 * The configured judges, the one place a production judge and the built-in stand-in are chosen
 * between: the VLM client (pipeline/judge/vlm.client.ts) for JUDGE_URL or each JUDGES_FILE
 * entry, else the metric judge (pipeline/builtin/metric-judge.ts). workers/main.ts makes the
 * same choice for inference (INFERENCE_URL, else the built-in server).
 */
import { createMetricJudge } from '../pipeline/builtin/metric-judge.ts';
import type { Config } from '../pipeline/config.ts';
import { ConfigError } from '../pipeline/errors/index.ts';
import { checkThresholdNames, configuredRubricId } from '../pipeline/judge/index.ts';
import { getRubric, isVlmRubric } from '../pipeline/judge/rubrics/index.ts';
import type { Judge } from '../pipeline/judge/types.ts';
import { createVlmJudge } from '../pipeline/judge/vlm.client.ts';

/** The configured judge: the VLM client with `cfg.rubric` when `cfg.url` is set, else the metric judge. */
export function createJudge(cfg: Config['judge']): Judge {
  if (cfg.judges) return createJudges(cfg)[0]!;
  const id = configuredRubricId(cfg);
  if (cfg.thresholds) checkThresholdNames(id, cfg.thresholds);
  if (!cfg.url) return createMetricJudge({ thresholds: cfg.thresholds });
  const rubric = getRubric(cfg.rubric, cfg.thresholds);
  if (!isVlmRubric(rubric)) throw new ConfigError(`rubric ${cfg.rubric} is not answered by a VLM`, { subject: 'JUDGE_RUBRIC' });
  return createVlmJudge(cfg, rubric);
}

/** The configured judges: one per JUDGES_FILE entry, else the single configured judge. */
export function createJudges(cfg: Config['judge']): Judge[] {
  if (!cfg.judges) return [createJudge(cfg)];
  return cfg.judges.map((entry, i) => {
    if (entry.thresholds) checkThresholdNames(entry.rubric, entry.thresholds, `JUDGES_FILE judge ${i} field thresholds`);
    const rubric = getRubric(entry.rubric, entry.thresholds);
    if (!isVlmRubric(rubric)) throw new ConfigError(`rubric ${entry.rubric} is not answered by a VLM`, { subject: `JUDGES_FILE judge ${i}` });
    const { judges: _all, ...single } = cfg;
    return createVlmJudge(
      { ...single, url: entry.url, model: entry.model, apiKey: entry.apiKey, rubric: entry.rubric, thresholds: entry.thresholds, concurrency: entry.concurrency ?? cfg.concurrency },
      rubric,
    );
  });
}
