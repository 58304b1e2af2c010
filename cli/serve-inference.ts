import type { Command } from 'commander';
import { InputError } from '../pipeline/errors/index.ts';
import { startInferenceServer } from '../pipeline/builtin/inference-server.ts';
import { untilSignal, type CliContext } from './context.ts';

const DEFAULT_PORT = 8000; // like vLLM's OpenAI server
const MAX_UPLOAD_MB = 200; // MiB: every upload is held in memory while it is parsed
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError(`expected a port 0–65535, got ${JSON.stringify(v)}`, { subject: '--port' });
  return n;
}

/** Parses `--max-upload-mb`: more than 0 and at most MAX_UPLOAD_MB (MiB). */
function parseUploadMb(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > MAX_UPLOAD_MB) {
    throw new InputError(`expected a size in MiB above 0 and at most ${MAX_UPLOAD_MB}, got ${JSON.stringify(v)}`, { subject: '--max-upload-mb' });
  }
  return n;
}

/**
 * Starts the built-in CPU inference core, prints its URL, and runs until SIGTERM or SIGINT,
 * then closes the server. For `INFERENCE_URL=<printed url>` on workers elsewhere.
 */
export async function runServeInference(opts: { port: number; host: string; maxUploadBytes?: number; maxPixels?: number; apiKey?: string }): Promise<void> {
  const srv = await startInferenceServer(opts);
  const access = opts.apiKey ? 'INFERENCE_API_KEY set: /v1/* needs Authorization: Bearer …' : 'no INFERENCE_API_KEY: no key needed';
  console.log(`inference core: ${srv.url}  (POST /v1/images/edits, GET /v1/models, GET /health; ${access})`);
  try {
    const sig = await untilSignal();
    console.log(`${sig}: closing the inference core`);
  } finally {
    await srv.close();
  }
}

/**
 * `vibe-curate serve-inference [--port P] [--host H] [--max-upload-mb MB] [--allow-unauthenticated]`:
 * the built-in CPU inference core over HTTP. A non-loopback --host needs INFERENCE_API_KEY, or
 * --allow-unauthenticated to say an open server on the network is meant.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve-inference')
    .description(`serve the built-in CPU inference core (OpenAI POST /v1/images/edits) on port ${DEFAULT_PORT} by default`)
    .option('--port <port>', `port to listen on (0: any free port; default ${DEFAULT_PORT})`)
    .option('--host <host>', 'address to bind (default 127.0.0.1; 0.0.0.0 for other machines)', '127.0.0.1')
    .option('--max-upload-mb <mb>', `largest accepted request body in MiB, at most ${MAX_UPLOAD_MB} (default 50)`)
    .option('--allow-unauthenticated', 'serve a non-loopback --host without INFERENCE_API_KEY')
    .action(async (opts: { port?: string; host: string; maxUploadMb?: string; allowUnauthenticated?: boolean }) => {
      const port = opts.port === undefined ? DEFAULT_PORT : parsePort(opts.port);
      const maxUploadBytes = opts.maxUploadMb === undefined ? undefined : Math.round(parseUploadMb(opts.maxUploadMb) * 1024 * 1024);
      const cfg = ctx.config();
      const apiKey = cfg.inference.apiKey;
      if (!apiKey && !LOOPBACK.has(opts.host) && !opts.allowUnauthenticated) {
        throw new InputError('a non-loopback address needs INFERENCE_API_KEY (or --allow-unauthenticated to serve anyone who can reach it)', { subject: '--host' });
      }
      await runServeInference({ port, host: opts.host, maxUploadBytes, maxPixels: cfg.checks.maxImagePixels, apiKey });
    });
}

/** The name the lead's wiring asked for. */
export const registerServeInference = register;
