/**
 * `vibe-curate reconcile`: re-enqueues, from what Postgres says is unfinished, every subject's
 * next stage (after Redis lost its jobs, or jobs that failed outside a worker).
 */
import type { Command } from 'commander';
import { reconcile } from '../pipeline/stages/reconcile.ts';
import type { CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description('enqueue again every request or candidate whose next stage has no result in Postgres')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: { json?: boolean }) => {
      const h = await ctx.db();
      const { set } = await commandQueues(ctx);
      const r = await reconcile({ db: h.db, queues: set, config: ctx.config() });
      if (flags.json) console.log(JSON.stringify(r));
      else {
        const e = r.enqueued;
        console.log(`reconcile: enqueued generate ${e.generate}, check ${e.check}, judge ${e.judge}, select ${e.select}; settled ${r.settled} request(s)`);
      }
    });
}
