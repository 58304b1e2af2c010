/**
 * The `vibe-curate` command line. Each command lives in its own file and registers itself here.
 * Errors end as one line on stderr, `vibe-curate: subject: why`, with exit code 2 for bad usage
 * or input and 1 for a run-time failure; `--verbose` adds the stack.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { describeError, exitCodeFor } from '../pipeline/errors/index.ts';
import { CliContext } from './context.ts';
import { register as registerDbMigrate } from './db-migrate.ts';
import { register as registerEnqueue } from './enqueue.ts';
import { register as registerWorker } from './worker.ts';
import { register as registerReconcile } from './reconcile.ts';
import { register as registerStatus } from './status.ts';
import { register as registerRetryFailed } from './retry-failed.ts';
import { register as registerDemo } from './demo.ts';
import { register as registerExport } from './export.ts';
import { register as registerServe } from './serve.ts';
import { register as registerSelect } from './select.ts';
import { register as registerInspect } from './inspect.ts';
import { register as registerServeInference } from './serve-inference.ts';
import { register as registerRework } from './rework.ts';
import { register as registerNearDups } from './near-dups.ts';
import { register as registerCalibrate } from './calibrate.ts';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };
export const TOOL_VERSION = version;

type Registrar = (program: Command, ctx: CliContext) => void;
const registrars: Registrar[] = [registerDbMigrate, registerExport, registerServe, registerSelect, registerDemo, registerEnqueue, registerWorker, registerReconcile, registerStatus, registerRetryFailed, registerInspect, registerServeInference, registerRework, registerNearDups, registerCalibrate];

export function buildProgram(ctx: CliContext): Command {
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
  for (const r of registrars) r(program, ctx);
  return program;
}

/** Runs the CLI and exits the process with the command's exit code. */
export async function main(argv: string[]): Promise<void> {
  const ctx = new CliContext();
  const program = buildProgram(ctx);
  let code: number;
  try {
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
