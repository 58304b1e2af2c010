import { configuredRubricId } from '../judge/index.ts';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { Config } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { DEFAULT_SELECTION_BATCH, SELECTION_RULE_VERSION, runSelection, selectionParamsFromConfig } from '../select/index.ts';
import type { CliContext } from './context.ts';

/**
 * The rubric the configured judge writes: the built-in metric judge without JUDGE_URL, else
 * JUDGE_RUBRIC (the same choice as createJudge(cfg.judge).rubric.id in pipeline/judge).
 */
export function configuredRubric(cfg: Config): string {
  return configuredRubricId(cfg.judge);
}

/** `vibe-curate select`: SFT picks and DPO pairs for every request settled since its last selection. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('select')
    .description('pick the SFT candidate and the strict-dominance DPO pairs of settled requests (incremental)')
    .option('--rubric <id>', 'judge rubric whose scores to use (default: the configured judge\'s)')
    .option('--all', 're-select every settled or selected request, not only those settled since their last selection')
    .option('--batch <n>', 'requests per SQL statement', (v) => Number(v), DEFAULT_SELECTION_BATCH)
    .option('--concurrency <n>', 'batches in flight at once', (v) => Number(v), 2)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { rubric?: string; all?: boolean; batch: number; concurrency: number; json?: boolean }) => {
      if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new InputError('expected a whole number ≥ 1', { subject: '--batch' });
      if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
        throw new InputError('expected a whole number ≥ 1', { subject: '--concurrency' });
      }
      const cfg = ctx.config();
      const rubric = opts.rubric ?? configuredRubric(cfg);
      const params = selectionParamsFromConfig(cfg);
      const h = await ctx.db();
      const bar = !opts.json && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            { stream: process.stderr, format: 'select [{bar}] {value}/{total} requests | {eta_formatted} left', hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : null;
      let started = false;
      const r = await runSelection(h.db, {
        rubric,
        params,
        all: opts.all,
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
      const out = { ruleVersion: SELECTION_RULE_VERSION, rubric, params, ...r, ms: Math.round(r.ms) };
      if (opts.json) console.log(JSON.stringify(out));
      else
        console.log(
          `${SELECTION_RULE_VERSION} (${rubric}): ${r.requests} request(s) selected, ${r.picks} SFT pick(s), ${r.pairs} DPO pair(s) in ${(r.ms / 1000).toFixed(1)} s`,
        );
    });
}
