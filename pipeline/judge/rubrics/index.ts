/** The rubric registry: one id, one version, one prompt hash. */
import { ConfigError } from '../../errors/index.ts';
import type { Rubric, RubricId, VlmRubric } from './types.ts';
import { imgeditV1 } from './imgedit-v1.ts';
import { metricV1 } from './metric-v1.ts';
import { nhrV1 } from './nhr-v1.ts';
import { viescoreV1 } from './viescore-v1.ts';

export const RUBRIC_IDS: readonly RubricId[] = ['viescore-v1', 'nhr-v1', 'imgedit-v1', 'metric-v1'];

/** The rubric `id`, with optional threshold overrides (keys as the rubric names them). Throws ConfigError for an unknown id. */
export function getRubric(id: string, thresholds?: Record<string, number>): Rubric {
  switch (id) {
    case 'viescore-v1':
      return viescoreV1(thresholds);
    case 'nhr-v1':
      return nhrV1(thresholds);
    case 'imgedit-v1':
      return imgeditV1(thresholds);
    case 'metric-v1':
      return metricV1(thresholds);
    default:
      throw new ConfigError(`unknown rubric "${id}" (expected one of ${RUBRIC_IDS.join(', ')})`, { subject: 'JUDGE_RUBRIC' });
  }
}

/** Whether the rubric is answered by a VLM (has a prompt to send and a reply schema). */
export function isVlmRubric(r: Rubric): r is VlmRubric {
  return (r as Partial<VlmRubric>).kind === 'vlm';
}

export { imgeditV1, metricV1, nhrV1, viescoreV1 };
