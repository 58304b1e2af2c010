/**
 * `vibe-curate select [--all] [--dry-run] [--rule V[,V]] [--rubric R] [--judge-model M] [--json]`:
 * SFT picks and DPO pairs of settled requests under the settings in force (judge version,
 * thresholds applied to the raw scores, check version, DPO parameters), for the rules of
 * SELECT_RULES or those `--rule` names. `--dry-run` computes the same and prints what would
 * change against the stored selection, writing nothing.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { InputError } from '../pipeline/errors/index.ts';
import { ensembleKey, formatJudgeVersion } from '../pipeline/judge/index.ts';
import {
  DEFAULT_SELECTION_BATCH,
  ENSEMBLE_RULE_VERSION,
  SELECTION_RULE_VERSIONS,
  ensembleSettings,
  runEnsembleSelection,
  runSelection,
  selectionRule,
  selectionSettings,
  type SelectionDiff,
  type SelectionRuleVersion,
} from '../pipeline/select/index.ts';
import type { CliContext } from './context.ts';

/** The `--rubric` / `--judge-model` options of every command that reads judgments. */
export function judgeVersionOptions(cmd: Command): Command {
  return cmd
    .option('--rubric <id>', "judge rubric whose judgments to read (default: the configured judge's)")
    .option('--judge-model <name>', "judge model whose judgments to read (default: the configured judge's)");
}

/** The dry run's differences as lines for a person: totals, then one line per category. */
export function formatDiff(d: SelectionDiff): string {
  const line = (label: string, n: SelectionDiff['total']) =>
    `${label.padEnd(20)} picks changed ${n.picksChanged} (+${n.picksGained} −${n.picksLost}), pairs +${n.pairsGained} −${n.pairsLost}`;
  return [line('total', d.total), ...Object.keys(d.byCategory).sort().map((c) => line(`  ${c || '(no category)'}`, d.byCategory[c]!))].join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  judgeVersionOptions(
    program
      .command('select')
      .description('pick the SFT candidate and the DPO pairs of settled requests under each selection rule (incremental)'),
  )
    .option('--rule <versions>', `rule versions to run, comma-separated: ${SELECTION_RULE_VERSIONS.join(', ')} (default: SELECT_RULES)`)
    .option('--all', 're-select every settled or selected request, not only those settled since their last selection')
    .option('--dry-run', 'compute under the current settings and print what would change; write nothing')
    .option('--list <n>', 'with --dry-run: changes of each kind listed in --json (counts are complete)', (v) => Number(v), 100)
    .option('--batch <n>', 'requests per SQL statement', (v) => Number(v), DEFAULT_SELECTION_BATCH)
    .option('--concurrency <n>', 'batches in flight at once', (v) => Number(v), 2)
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: { rule?: string; rubric?: string; judgeModel?: string; all?: boolean; dryRun?: boolean; list: number; batch: number; concurrency: number; json?: boolean }) => {
        if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new InputError('expected a whole number ≥ 1', { subject: '--batch' });
        if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
          throw new InputError('expected a whole number ≥ 1', { subject: '--concurrency' });
        }
        if (!Number.isInteger(opts.list) || opts.list < 0) throw new InputError('expected a whole number ≥ 0', { subject: '--list' });
        const cfg = ctx.config();
        const settings = selectionSettings(cfg, { rubric: opts.rubric, model: opts.judgeModel });
        const rules: SelectionRuleVersion[] = opts.rule === undefined
          ? settings.rules
          : [...new Set(opts.rule.split(',').map((v) => selectionRule(v.trim(), '--rule').version))];
        // A run that leaves out a rule of SELECT_RULES does not stamp the requests selected:
        // the select stage still finds them due for the rules it runs.
        const stamp = settings.rules.every((r) => rules.includes(r));
        const h = await ctx.db();
        if (cfg.judge.judges && opts.rubric === undefined && opts.judgeModel === undefined) {
          // JUDGES_FILE: select-ensemble-v1 over every judge (a --rubric / --judge-model picks one judge for select-v1).
          if (opts.dryRun) throw new InputError(`not available for ${ENSEMBLE_RULE_VERSION}; name one judge with --rubric / --judge-model`, { subject: '--dry-run' });
          const es = ensembleSettings(cfg);
          const r = await runEnsembleSelection(h.db, { ...es, all: opts.all, batchSize: opts.batch });
          const key = ensembleKey(es.judges);
          const out = { ruleVersion: ENSEMBLE_RULE_VERSION, rubric: key.rubric, judge: key, judges: es.judges, checkVersion: es.checkVersion, params: es.params, dryRun: false, requests: r.requests, picks: r.picks, pairs: r.pairs, ms: Math.round(r.ms) };
          if (opts.json) console.log(JSON.stringify(out));
          else console.log(`${ENSEMBLE_RULE_VERSION} (${key.model}): ${r.requests} request(s) selected, ${r.picks} SFT pick(s), ${r.pairs} DPO pair(s) in ${(r.ms / 1000).toFixed(1)} s`);
          return;
        }
        const bar = !opts.json && process.stderr.isTTY
          ? new cliProgress.SingleBar(
              { stream: process.stderr, format: 'select [{bar}] {value}/{total} requests | {eta_formatted} left', hideCursor: true },
              cliProgress.Presets.shades_classic,
            )
          : null;
        let started = false;
        const r = await runSelection(h.db, {
          ...settings,
          rules,
          stamp,
          all: opts.all,
          dryRun: opts.dryRun,
          listLimit: opts.list,
          batchSize: opts.batch,
          concurrency: opts.concurrency,
          onProgress: (done, total) => {
            if (!bar || total < opts.batch) return; // one batch: nothing to watch
            if (!started) bar.start(total, done);
            started = true;
            bar.setTotal(total);
            bar.update(done);
          },
        });
        if (started) bar?.stop();
        const { diff, byRule, ...counts } = r;
        const out = {
          ruleVersion: rules.join(','),
          rules,
          rubric: settings.judge.rubric,
          judge: settings.judge,
          checkVersion: settings.checkVersion,
          thresholds: settings.thresholds,
          params: settings.params,
          ...(rules.includes('scalar-v1') ? { scalar: settings.scalar } : {}),
          dryRun: Boolean(opts.dryRun),
          ...counts,
          ms: Math.round(r.ms),
          ...(diff ? { diff } : {}),
          byRule,
        };
        const judge = formatJudgeVersion(settings.judge);
        if (opts.json) console.log(JSON.stringify(out));
        else if (opts.dryRun) {
          for (const v of rules) console.log(`${v} (${judge}) dry run over ${r.requests} request(s), nothing written:\n${formatDiff(byRule[v]!.diff!)}`);
        } else {
          for (const v of rules) {
            const n = byRule[v]!;
            console.log(`${v} (${judge}): ${r.requests} request(s) selected, ${n.picks} SFT pick(s), ${n.pairs} DPO pair(s) in ${(r.ms / 1000).toFixed(1)} s`);
          }
        }
      },
    );
}
