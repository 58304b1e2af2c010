/** `vibe-curate near-dups [--json]`: hashes unhashed sources and recomputes every near-duplicate group. */
import type { Command } from 'commander';
import { regroupAll } from '../pipeline/near-dup/regroup.ts';
import type { CliContext } from './context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('near-dups')
    .description('hash sources that have no perceptual hash and recompute every near-duplicate group (NEAR_DUP_DISTANCE)')
    .option('--json', 'print the result as JSON')
    .action(async (flags: { json?: boolean }) => {
      const cfg = ctx.config();
      const h = await ctx.db();
      const r = await regroupAll(h.db, ctx.blobs(), cfg.nearDup.distance);
      const out = { ...r, ms: Math.round(r.ms) };
      if (flags.json) console.log(JSON.stringify(out));
      else
        console.log(
          `near-duplicates (distance ≤ ${r.distance}): ${r.groups} group(s) of ${r.sources} source(s), largest ${r.largest}; ` +
            `${r.hashed} hashed now, ${r.changed} regrouped${r.unreadable ? `, ${r.unreadable} unreadable` : ''} in ${(r.ms / 1000).toFixed(1)} s`,
        );
      if (r.unreadable) process.exitCode = 1;
    });
}
