/**
 * How much the judges of JUDGES_FILE agree, per pair of judges: pass/fail disagreement rate,
 * Spearman correlation of their aggregates and the candidates they disagree on most (status,
 * the dashboard's agreement panel). Without JUDGES_FILE (one judge) there is nothing to compare.
 */
import type { Config } from '../config.ts';
import type { Db } from '../../db/client.ts';
import { judgePairAgreement, type PairAgreement } from '../../db/repositories/agreement.repository.ts';
import { configuredJudgeVersions, formatJudgeVersion, thresholdsInForce, type JudgeVersion } from './index.ts';

export interface JudgeAgreement extends PairAgreement {
  /** The two judges compared (`judges[0]` is the first of each `aggregates` / `passes` pair). */
  judges: [JudgeVersion, JudgeVersion];
  /** `rubric/model@hash8` of each, for people. */
  labels: [string, string];
}

/** Every pair of configured judges (in JUDGES_FILE order), or null with fewer than two judges. */
export async function judgeAgreement(db: Db, cfg: Config['judge'], limit = 10): Promise<JudgeAgreement[] | null> {
  if (!cfg.judges || cfg.judges.length < 2) return null;
  const vs = configuredJudgeVersions(cfg);
  const out: JudgeAgreement[] = [];
  for (let i = 0; i < vs.length; i++) {
    for (let k = i + 1; k < vs.length; k++) {
      const [a, b] = [vs[i]!, vs[k]!];
      const r = await judgePairAgreement(db, { ...a, thresholds: thresholdsInForce(cfg, a.rubric, a.model) }, { ...b, thresholds: thresholdsInForce(cfg, b.rubric, b.model) }, limit);
      out.push({ judges: [a, b], labels: [formatJudgeVersion(a), formatJudgeVersion(b)], ...r });
    }
  }
  return out;
}

/** The agreement as lines for a person. */
export function formatAgreement(list: JudgeAgreement[]): string {
  const lines: string[] = ['judge agreement'];
  for (const p of list) {
    const rate = p.disagreementRate === null ? '–' : `${(p.disagreementRate * 100).toFixed(1)} %`;
    lines.push(`  ${p.labels[0]}  vs  ${p.labels[1]}`);
    lines.push(`    ${p.candidates} candidates scored by both; pass/fail differs on ${p.passFailDisagree} (${rate}); Spearman ${p.spearman === null ? '–' : p.spearman.toFixed(3)}`);
    for (const d of p.largest.slice(0, 5)) {
      lines.push(`    candidate ${d.candidateId} (request ${d.requestId}, seed ${d.seed}): ${d.aggregates[0].toFixed(2)} vs ${d.aggregates[1].toFixed(2)}${d.passes[0] !== d.passes[1] ? `, ${d.passes[0] ? 'pass' : 'fail'} vs ${d.passes[1] ? 'pass' : 'fail'}` : ''}`);
    }
  }
  return lines.join('\n');
}
