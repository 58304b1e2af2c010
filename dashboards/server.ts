/**
 * The review dashboard: one hono app with the pages (dashboards/web), the JSON API (/api),
 * images (/img), finished exports (/exports/NAME/…), BullMQ's board (/queues) and Prometheus
 * metrics (/metrics), all behind the token gate when DASHBOARD_TOKEN is set, and behind the
 * defences of ./security.ts in every mode (same-origin writes, body limits, CSP; loopback Host
 * names only without a token).
 */
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import type { Config } from '../pipeline/config.ts';
import type { BlobStore } from '../pipeline/blobs.ts';
import { changeMapPng } from '../pipeline/checks/change-check.ts';
import { decodeImage } from '../pipeline/images.ts';
import { selectionSettings } from '../pipeline/select/index.ts';
import { metricsText } from '../pipeline/metrics.ts';
import { enqueueJobs, openQueues, type QueueSet } from '../pipeline/queues.ts';
import { describeError } from '../pipeline/errors/index.ts';
import type { Db } from '../db/client.ts';
import { getFunnel } from '../db/repositories/funnel.repository.ts';
import { findExportDir } from '../db/repositories/export.repository.ts';
import { apiRoutes } from './routes/api.ts';
import { authMiddleware, loginRoutes, type AuthVars } from './routes/auth.ts';
import { exportRoutes } from './routes/exports.ts';
import { imageRoutes, type ChangeMapFn } from './routes/images.ts';
import { mediapipeRoutes } from './routes/mediapipe.ts';
import { pageRoutes } from './routes/pages.ts';
import { startQueueSampler, type QueueSampler } from './routes/queues.ts';
import { bodyLimits, loopbackHostOnly, sameOriginWrites, securityHeaders, type BodyLimits } from './security.ts';

export interface DashboardOptions {
  db: Db;
  blobs: BlobStore;
  config: Config;
  /** Redis for /queues and the queue-depth charts; without it those stay empty. */
  redisUrl?: string;
  /** BullMQ key prefix (default config.queue.prefix). */
  queuePrefix?: string;
  /** Directory of export NAME (default: the exports table's out_dir). */
  exportDirResolver?: (name: string) => Promise<string | null>;
  /** Queue sampling period in milliseconds (default 5 000 = 5 s). */
  queueSampleMs?: number;
  /** Change-map renderer for the request view (default: pipeline/checks/change-check.ts changeMapPng). */
  changeMap?: ChangeMapFn;
  /** Prometheus text for /metrics (default: the pipeline's registry, queue depths refreshed). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Rubric to show (default: the configured judge's, as `status` and `select` use). */
  rubric?: string;
  /** Judge model to show (default: the configured judge's). */
  judgeModel?: string;
  /** Most candidates one bulk review may touch (default 1 000). */
  bulkCap?: number;
  /** Request body limits by path (default DEFAULT_BODY_LIMITS: 64 KiB /login, 1 MiB /api). */
  bodyLimits?: BodyLimits;
  /** Time a client has to send a whole request, headers and body, in ms (default 30 000 = 30 s); then 408. */
  requestTimeoutMs?: number;
}

/** A hono app with a `dispose()` that stops the queue sampler and closes its Redis connection. */
export type DashboardApp = Hono<{ Variables: AuthVars }> & { dispose(): Promise<void> };

/** Builds the dashboard app (no listening socket: see startDashboard, or call `app.request`). */
export function createDashboardApp(opts: DashboardOptions): DashboardApp {
  const { db, config } = opts;
  const token = config.dashboard.token;
  // The versions in force: what the overview shows and every page reads unless ?judge= picks another.
  const settings = selectionSettings(config, { rubric: opts.rubric, model: opts.judgeModel });
  const app = new Hono<{ Variables: AuthVars }>();

  app.onError((err, c) => {
    const status = (err as { code?: string }).code === 'NOT_FOUND' ? 404 : 500;
    return c.json({ error: describeError(err) }, status);
  });
  app.use('*', securityHeaders());
  if (!token) app.use('*', loopbackHostOnly());
  app.use('*', sameOriginWrites());
  app.use('*', bodyLimits(opts.bodyLimits));
  app.use('*', authMiddleware(token));
  app.route('/', loginRoutes(token));

  let sampler: QueueSampler | undefined;
  // Reviews enqueue the selection of their requests on the pipeline's select queue.
  let queues: QueueSet | undefined;
  if (opts.redisUrl) queues = openQueues(opts.redisUrl, opts.queuePrefix ?? config.queue.prefix);
  if (opts.redisUrl) {
    sampler = startQueueSampler({ redisUrl: opts.redisUrl, prefix: opts.queuePrefix ?? config.queue.prefix, intervalMs: opts.queueSampleMs });
    app.route('/queues', sampler.board);
  } else {
    app.get('/queues', (c) => c.html('<p>No Redis configured: the queue board needs REDIS_URL.</p>', 503));
  }

  const enqueueSelection = queues
    ? (requestIds: number[]) => enqueueJobs(queues, 'select', requestIds.map((requestId) => ({ requestId })))
    : undefined;
  app.route(
    '/api',
    apiRoutes({
      db,
      config,
      judge: settings.judge,
      inForce: { thresholds: settings.thresholds, checkVersion: settings.checkVersion },
      funnel: (judge) => {
        const same = judge.rubric === settings.judge.rubric && judge.model === settings.judge.model && judge.promptHash === settings.judge.promptHash;
        // Another version picked with ?judge=: its own picks and pairs, not the ensemble's.
        return getFunnel(db, { ...settings, judge, thresholds: judge.rubric === settings.judge.rubric ? settings.thresholds : undefined, selectionJudge: same ? settings.selectionJudge : undefined });
      },
      queues: sampler,
      bulkCap: opts.bulkCap,
      enqueueSelection,
    }),
  );
  app.all('/api/*', (c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.route('/img', imageRoutes({ db, blobs: opts.blobs, thumbDir: path.join(config.dataDir, 'thumbs'), changeMap: opts.changeMap ?? defaultChangeMap(config) }));
  app.get('/metrics', async (c) => {
    const m = await (opts.metrics ?? sampler?.metrics ?? (() => metricsText()))();
    return c.body(m.body, 200, { 'Content-Type': m.contentType });
  });
  app.route('/', pageRoutes());
  app.route('/mediapipe', mediapipeRoutes());
  app.route('/exports', exportRoutes({ resolveExportDir: opts.exportDirResolver ?? ((name) => findExportDir(db, name)) }));

  return Object.assign(app, {
    async dispose() {
      await sampler?.close();
      await queues?.close();
    },
  });
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000; // 30 s to send a whole request: slow bodies get 408

/** Starts the dashboard on host:port (port 0: any free port). `close()` stops it and its sampler. */
export async function startDashboard(opts: DashboardOptions & { port: number; host: string }): Promise<{ url: string; close(): Promise<void> }> {
  const app = createDashboardApp(opts);
  const server: ServerType = await new Promise((resolve, reject) => {
    const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const serverOptions = {
      requestTimeout,
      headersTimeout: Math.min(requestTimeout, 20_000), // 20 s at most for the headers
      connectionsCheckingInterval: Math.min(1_000, requestTimeout), // how often Node looks for overdue requests
    };
    const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host, serverOptions }, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await app.dispose();
      })();
      return closed;
    },
  };
}

/** The change map of the checks module: decoded at the configured pixel limit, at most 768 px. */
function defaultChangeMap(config: Config): ChangeMapFn {
  return async (source, edit) => {
    const max = { maxPixels: config.checks.maxImagePixels };
    const [src, ed] = await Promise.all([decodeImage(source, 'source', max), decodeImage(edit, 'edit', max)]);
    return changeMapPng(src, ed, { pixelThreshold: config.checks.changePixelThreshold, maxSide: 768 });
  };
}
