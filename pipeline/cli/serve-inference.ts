import type { Command } from 'commander';
import { InputError } from '../errors/index.ts';
import { startInferenceServer } from '../inference/server.ts';
import { untilSignal, type CliContext } from './context.ts';

const DEFAULT_PORT = 8000; // like vLLM's OpenAI server

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError(`expected a port 0–65535, got ${JSON.stringify(v)}`, { subject: '--port' });
  return n;
}

function parsePositive(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InputError(`expected a positive number, got ${JSON.stringify(v)}`, { subject: flag });
  return n;
}

/**
 * Starts the built-in CPU inference core, prints its URL, and runs until SIGTERM or SIGINT,
 * then closes the server. For `INFERENCE_URL=<printed url>` on workers elsewhere.
 */
export async function runServeInference(opts: { port: number; host: string; maxUploadBytes?: number; maxPixels?: number }): Promise<void> {
  const srv = await startInferenceServer(opts);
  console.log(`inference core: ${srv.url}  (POST /v1/images/edits, GET /v1/models, GET /health)`);
  try {
    const sig = await untilSignal();
    console.log(`${sig}: closing the inference core`);
  } finally {
    await srv.close();
  }
}

/** `vibe-curate serve-inference [--port P] [--host H]`: the built-in CPU inference core over HTTP. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve-inference')
    .description(`serve the built-in CPU inference core (OpenAI POST /v1/images/edits) on port ${DEFAULT_PORT} by default`)
    .option('--port <port>', `port to listen on (0: any free port; default ${DEFAULT_PORT})`)
    .option('--host <host>', 'address to bind (default 127.0.0.1; 0.0.0.0 for other machines)', '127.0.0.1')
    .option('--max-upload-mb <mb>', 'largest accepted request body in MiB (default 50)')
    .action(async (opts: { port?: string; host: string; maxUploadMb?: string }) => {
      await runServeInference({
        port: opts.port === undefined ? DEFAULT_PORT : parsePort(opts.port),
        host: opts.host,
        maxUploadBytes: opts.maxUploadMb === undefined ? undefined : Math.round(parsePositive('--max-upload-mb', opts.maxUploadMb) * 1024 * 1024),
        maxPixels: ctx.config().checks.maxImagePixels,
      });
    });
}

/** The name the lead's wiring asked for. */
export const registerServeInference = register;
