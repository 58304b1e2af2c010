/**
 * The `vibe-curate` command line. Each command lives in its own file and registers itself here.
 * Errors end as one line on stderr, `vibe-curate: subject: why`, with exit code 2 for bad usage
 * or input and 1 for a run-time failure; `--verbose` adds the stack.
 */
import { Command, CommanderError } from 'commander';
import { describeError, exitCodeFor } from '../pipeline/errors/index.ts';
import { TOOL_VERSION } from '../pipeline/package-root.ts';
import { CliContext } from './context.ts';

export { TOOL_VERSION };
const version = TOOL_VERSION;

type Registrar = (program: Command, ctx: CliContext) => void;

/**
 * Every command: its one-line summary for `vibe-curate --help`, and the module that defines it
 * (options, full description, action). Only the module of the command being run is imported, so
 * `--help` and light commands do not load sharp, onnxruntime, PGlite or the dashboard.
 * A module may define several commands (rework: recheck and rejudge; they share one `load`).
 * Order = the help's order.
 */
const rework = () => import('./rework.ts');
export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ register: Registrar }> }> = {
  db: { summary: 'database maintenance (db migrate)', load: () => import('./db-migrate.ts') },
  export: { summary: 'write SFT or DPO training shards (WebDataset, or Parquet for DPO) with a manifest', load: () => import('./export.ts') },
  serve: { summary: 'serve the review dashboard, /exports, /queues and /metrics', load: () => import('./serve.ts') },
  select: { summary: 'pick the SFT candidate and the DPO pairs of settled requests', load: () => import('./select.ts') },
  demo: { summary: 'run the whole pipeline on the sample images in this process and export', load: () => import('./demo.ts') },
  enqueue: { summary: 'create requests from a JSONL manifest and enqueue them', load: () => import('./enqueue.ts') },
  worker: { summary: 'process jobs of the chosen queues until SIGTERM/SIGINT', load: () => import('./worker.ts') },
  reconcile: { summary: 'enqueue again the work whose next stage has no result in Postgres', load: () => import('./reconcile.ts') },
  status: { summary: 'the funnel and the queue depths', load: () => import('./status.ts') },
  'retry-failed': { summary: 'enqueue again the work of open failures', load: () => import('./retry-failed.ts') },
  inspect: { summary: 'run the hard checks (and the judge) on one source/edit pair', load: () => import('./inspect.ts') },
  'serve-inference': { summary: 'serve the built-in CPU inference core', load: () => import('./serve-inference.ts') },
  recheck: { summary: 'run the current check version on candidates without one (no regeneration)', load: rework },
  rejudge: { summary: 'judge again under the current judge version (no regeneration)', load: rework },
  'near-dups': { summary: 'hash sources and recompute the near-duplicate groups', load: () => import('./near-dups.ts') },
  calibrate: { summary: 'the judge against the reviewers: agreement and suggested thresholds', load: () => import('./calibrate.ts') },
};

/** The command `argv` runs (`help NAME` counts as NAME), or undefined. Global options take no value. */
export function commandOf(argv: string[]): string | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/**
 * The program with every command listed; `load` names the commands whose modules are imported and
 * registered in full (all of them when omitted). The others are listed by their summary only.
 */
export async function buildProgram(ctx: CliContext, load?: string[]): Promise<Command> {
  const program = new Command('vibe-curate')
    .description('Curates SFT triplets and Diffusion-DPO pairs for instruction-based image editing.')
    .version(version)
    .option('--verbose', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({
      // Usage errors are one line too: `vibe-curate: unknown option '--foo' (see --help)`.
      outputError: (str, write) => write(`vibe-curate: ${str.replace(/^error: /, '').trim()} (see --help)\n`),
    })
    .hook('preAction', (cmd) => {
      ctx.verbose = Boolean(cmd.optsWithGlobals().verbose);
    });
  // A module that defines several commands (the same `load`) is registered whole.
  const loaders = new Set((load ?? Object.keys(COMMANDS)).map((n) => COMMANDS[n]?.load));
  const full = new Set(Object.keys(COMMANDS).filter((n) => loaders.has(COMMANDS[n]!.load)));
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (program.commands.some((c) => c.name() === name)) continue; // defined by an earlier module (rework)
    if (full.has(name)) (await entry.load()).register(program, ctx);
    else program.command(name).description(entry.summary);
  }
  for (const cmd of program.commands) {
    const entry = COMMANDS[cmd.name()];
    if (!entry) throw new Error(`command ${cmd.name()} is missing from COMMANDS`);
    cmd.summary(entry.summary);
  }
  return program;
}

/** Runs the CLI and exits the process with the command's exit code. */
export async function main(argv: string[]): Promise<void> {
  const ctx = new CliContext();
  const name = commandOf(argv);
  const known = name !== undefined && name in COMMANDS;
  let code: number;
  try {
    if (known) await ctx.load();
    const program = await buildProgram(ctx, known ? [name] : []);
    await program.parseAsync(argv);
    code = Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      code = err.exitCode === 0 ? 0 : 2; // help and version exit 0; usage errors 2 (commander already printed)
    } else {
      code = exitCodeFor(err);
      process.stderr.write(`vibe-curate: ${describeError(err)}\n`);
      if (ctx.verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    }
  } finally {
    await ctx.close();
  }
  process.exit(code);
}
