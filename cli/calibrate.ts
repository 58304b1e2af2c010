/** `vibe-curate calibrate [--json] [--rubric R] [--judge-model M]`: the judge against the reviewers. */
import type { Command } from 'commander';
import { runCalibration, type Agreement, type CalibrationReport } from '../pipeline/calibrate/index.ts';
import type { CliContext } from './context.ts';

const f = (x: number | null) => (x === null ? '–' : x.toFixed(3));
const line = (label: string, a: Agreement) =>
  `${label.padEnd(20)}${String(a.n).padStart(6)}  precision ${f(a.precision)}  recall ${f(a.recall)}  F1 ${f(a.f1)}  κ ${f(a.kappa)}`;

/** The report as plain text. */
export function formatCalibration(r: CalibrationReport): string {
  const out = [
    `judge ${r.rubric} / ${r.judgeModel}: ${r.reviews} reviewed candidate(s) (${r.accepted} accepted, ${r.rejected} rejected)`,
    '',
    `${'agreement'.padEnd(20)}${'n'.padStart(6)}`,
    line('overall', r.overall),
    ...Object.entries(r.perCategory).map(([k, a]) => line(`  ${k}`, a)),
    '',
  ];
  for (const [name, s] of Object.entries(r.scores)) {
    out.push(line(`${name} ≥ ${s.current} (now)`, s.agreement));
    if (s.suggested) {
      const b = s.suggested.bestF1;
      const p = s.suggested.precisionTarget;
      out.push(`  best F1:          ${b ? `${name} ≥ ${b.threshold} (precision ${f(b.precision)}, recall ${f(b.recall)}, F1 ${f(b.f1)})` : 'none'}`);
      out.push(`  precision ≥ ${r.targetPrecision}:  ${p ? `${name} ≥ ${p.threshold} (precision ${f(p.precision)}, recall ${f(p.recall)})` : 'no threshold reaches it'}`);
    }
  }
  if (r.withheld) out.push('', `no thresholds suggested: ${r.withheld}`);
  return out.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('calibrate')
    .description('the judge against the reviewers: agreement (precision, recall, F1, κ) and suggested thresholds')
    .option('--rubric <id>', "judge rubric (default: the configured judge's)")
    .option('--judge-model <name>', "judge model (default: the configured judge's)")
    .option('--json', 'print the report as JSON')
    .action(async (flags: { rubric?: string; judgeModel?: string; json?: boolean }) => {
      const h = await ctx.db();
      const r = await runCalibration(h.db, ctx.config(), { rubric: flags.rubric, judgeModel: flags.judgeModel });
      console.log(flags.json ? JSON.stringify(r) : formatCalibration(r));
    });
}
