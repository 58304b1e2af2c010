/**
 * `vibe-curate recheck [--wait] [--json]` and `vibe-curate rejudge [--wait] [--json]`: apply the
 * current check version / judge version to the existing candidates without regenerating. Each
 * enqueues the work still missing (so running it again resumes), and `--wait` follows the
 * workers' progress until every candidate enqueued has its row of the current version; the
 * requests involved settle and are selected again as their last candidate finishes.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { checkVersion, hardCheckOptionsFromConfig } from '../pipeline/checks/version.ts';
import { configuredJudgeVersions, formatJudgeVersion } from '../pipeline/judge/index.ts';
import { sleep } from '../pipeline/sleep.ts';
import { recheck, rejudge, reworkDone, type ReworkSummary } from '../pipeline/stages/rework.ts';
import type { Db } from '../db/client.ts';
import type { CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';

const POLL_MS = 1000; // progress reads while waiting

/** Waits until `done()` reaches `total`, drawing a bar on a terminal or a line per 10 % otherwise. */
async function follow(label: string, total: number, done: () => Promise<number>, quiet: boolean): Promise<number> {
  const bar = !quiet && process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: `${label} [{bar}] {value}/{total} | {eta_formatted} left`, hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(total, 0);
  let n: number;
  let tenth = -1;
  for (;;) {
    n = await done();
    bar?.update(n);
    if (!bar && !quiet && Math.floor((n / Math.max(total, 1)) * 10) !== tenth) {
      tenth = Math.floor((n / Math.max(total, 1)) * 10);
      process.stderr.write(`${label}: ${n}/${total}\n`);
    }
    if (n >= total) break;
    await sleep(POLL_MS);
  }
  bar?.stop();
  return n;
}

function report(name: string, version: string, r: ReworkSummary, done: number | null, json: boolean | undefined): void {
  const out = { version, enqueued: r.enqueued, done };
  if (json) console.log(JSON.stringify(out));
  else console.log(`${name}: ${r.enqueued} candidate(s) enqueued under ${version}${done === null ? '' : `; ${done} done`}`);
}

async function run(
  ctx: CliContext,
  flags: { wait?: boolean; json?: boolean },
  name: string,
  version: string,
  start: (db: Db, q: Awaited<ReturnType<typeof commandQueues>>['set']) => Promise<ReworkSummary>,
  done: (db: Db, ids: number[]) => Promise<number>,
): Promise<void> {
  const h = await ctx.db();
  const { set } = await commandQueues(ctx);
  const r = await start(h.db, set);
  const n = flags.wait ? await follow(name, r.candidateIds.length, () => done(h.db, r.candidateIds), Boolean(flags.json)) : null;
  report(name, version, r, n, flags.json);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('recheck')
    .description('enqueue the hard checks of the current check version for every candidate without one (no regeneration)')
    .option('--wait', 'follow the progress until every enqueued candidate is checked (workers do the checks)')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: { wait?: boolean; json?: boolean }) => {
      const v = checkVersion(hardCheckOptionsFromConfig(ctx.config().checks));
      await run(ctx, flags, 'recheck', v, (db, queues) => recheck({ db, queues }, v), (db, ids) => reworkDone(db, ids, 'check'));
    });
  program
    .command('rejudge')
    .description('enqueue a judgment by the current judge version (rubric, model, prompt) for every candidate without one (no regeneration)')
    .option('--wait', 'follow the progress until every enqueued candidate is judged (workers do the judging)')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: { wait?: boolean; json?: boolean }) => {
      const cfg = ctx.config();
      // JUDGES_FILE: every judge's version; a candidate is sent back when any one lacks its judgment.
      const vs = configuredJudgeVersions(cfg.judge);
      await run(ctx, flags, 'rejudge', vs.map(formatJudgeVersion).join(' + '), (db, queues) => rejudge({ db, queues, config: cfg }, vs), (db, ids) => reworkDone(db, ids, 'judge'));
    });
}
