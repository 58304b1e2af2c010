/**
 * `vibe-curate retry-failed [--stage S]`: resolves open failures and replays their subjects.
 */
import type { Command } from 'commander';
import { InputError } from '../pipeline/errors/index.ts';
import { configuredJudgeVersions } from '../pipeline/judge/index.ts';
import { retryFailed } from '../pipeline/stages/retry-failed.ts';
import type { CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';

const STAGES = ['generate', 'check', 'judge', 'select'];

export function register(program: Command, ctx: CliContext): void {
  program
    .command('retry-failed')
    .description("mark open failures resolved and enqueue their work again; the judge stage also asks again for the current judge version's unscorable judgments")
    .option('--stage <stage>', `only failures of this stage (${STAGES.join(', ')})`)
    .option('--json', 'print the summary as JSON')
    .action(async (flags: { stage?: string; json?: boolean }) => {
      if (flags.stage !== undefined && !STAGES.includes(flags.stage)) throw new InputError(`expected one of ${STAGES.join(', ')}, got '${flags.stage}'`, { subject: '--stage' });
      const h = await ctx.db();
      const { set } = await commandQueues(ctx);
      const r = await retryFailed({ db: h.db, queues: set }, { stage: flags.stage, judge: configuredJudgeVersions(ctx.config().judge) });
      if (flags.json) console.log(JSON.stringify(r));
      else {
        const e = r.enqueued;
        console.log(`retry-failed: ${r.resolved} failure(s) resolved; enqueued generate ${e.generate}, check ${e.check}, judge ${e.judge}, select ${e.select}${r.unscorable ? `; ${r.unscorable} unscorable judgment(s) asked again` : ''}${r.skipped ? `; ${r.skipped} left open (not replayable)` : ''}`);
      }
    });
}
