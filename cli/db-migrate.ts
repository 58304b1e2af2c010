import type { Command } from 'commander';
import { migrate } from '../db/client.ts';
import type { CliContext } from './context.ts';

/** `vibe-curate db migrate`: applies pending migrations; a second run changes nothing. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('db')
    .description('database maintenance')
    .command('migrate')
    .description('apply pending SQL migrations (Postgres at DATABASE_URL, else PGlite in DATA_DIR/pg)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const h = await ctx.db({ migrate: false });
      const { applied } = await migrate(h);
      if (opts.json) console.log(JSON.stringify({ database: h.kind, where: h.where, applied }));
      else console.log(`${h.kind} ${h.where}: ${applied === 0 ? 'up to date' : `applied ${applied} migration(s)`}`);
    });
}
