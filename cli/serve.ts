import type { Command } from 'commander';
import { startDashboard } from '../dashboards/server.ts';
import { describeError, InputError } from '../pipeline/errors/index.ts';
import { enableProcessMetrics } from '../pipeline/metrics.ts';
import { untilSignal, type CliContext } from './context.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Parses `--port`: an integer 0–65535 (0: any free port). */
function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InputError(`expected a port 0–65535, got ${JSON.stringify(v)}`, { subject: '--port' });
  return n;
}

/**
 * `vibe-curate serve`: the review dashboard, /exports, /queues and /metrics. Without
 * DASHBOARD_TOKEN it binds 127.0.0.1 only (and says so); with one, 0.0.0.0 unless --host.
 * Runs until SIGTERM or SIGINT, then closes the server, the sampler and the database.
 */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve the review dashboard (default port 3000, PORT), /exports, /queues and /metrics')
    .option('--port <port>', 'port to listen on (0: any free port)')
    .option('--host <host>', 'address to bind (default 127.0.0.1; 0.0.0.0 when DASHBOARD_TOKEN is set)')
    .action(async (opts: { port?: string; host?: string }) => {
      const cfg = ctx.config();
      const token = cfg.dashboard.token;
      const port = opts.port === undefined ? cfg.dashboard.port : parsePort(opts.port);
      const host = opts.host ?? (token ? '0.0.0.0' : '127.0.0.1');
      if (!token && !LOOPBACK.has(host)) {
        throw new InputError('without DASHBOARD_TOKEN the dashboard listens on 127.0.0.1 only; set DASHBOARD_TOKEN to bind another address', {
          subject: '--host',
        });
      }
      enableProcessMetrics();
      const handle = await ctx.db();
      let redisUrl: string | undefined;
      try {
        redisUrl = (await ctx.redis()).url;
      } catch (err) {
        process.stderr.write(`vibe-curate: serve: no Redis (${describeError(err)}); /queues and queue charts stay empty\n`);
      }
      const dash = await startDashboard({
        db: handle.db,
        blobs: ctx.blobs(),
        config: cfg,
        redisUrl,
        port,
        host,
      });
      ctx.onClose(() => dash.close());
      const access = token
        ? `DASHBOARD_TOKEN set: every request needs it (log in at ${dash.url}/login or send Authorization: Bearer …)`
        : 'no DASHBOARD_TOKEN set: listening on 127.0.0.1 only (set DASHBOARD_TOKEN to require a token and allow other hosts)';
      console.log(`${access}\ndashboard: ${dash.url}  (database ${handle.kind} ${handle.where})`);
      const sig = await untilSignal();
      console.log(`${sig}: closing the dashboard`);
      await dash.close();
    });
}
