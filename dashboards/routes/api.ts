/**
 * JSON endpoints under /api: overview (funnel, histograms, throughput, queue history), browse
 * (keyset pages of candidates), the request view, reviews (one subject, or a confirmed bulk
 * action on a filtered set, capped) and the audit trail. Every input is parsed with zod first.
 */
import { judgeAgreement } from '../../pipeline/judge/agreement.ts';
import { Hono } from 'hono';
import { z } from 'zod';
import { InputError } from '../../pipeline/errors/index.ts';
import type { Config } from '../../pipeline/config.ts';
import type { Db } from '../../db/client.ts';
import type { JudgeVersionKey } from '../../db/repositories/judge-version.sql.ts';
import { listJudgeVersions } from '../../db/repositories/judgments.repository.ts';
import {
  browseCandidates,
  listCategories,
  matchingCandidateIds,
  scoreHistograms,
  throughputPerMinute,
} from '../../db/repositories/browse.repository.ts';
import { getRequestView } from '../../db/repositories/request-view.repository.ts';
import { serverFaces, upsertBrowserFaces } from '../../db/repositories/browser-faces.repository.ts';
import { compareFaces } from '../../pipeline/faces/browser-agreement.ts';
import { BROWSER_MODELS, browserModelVersions } from './mediapipe.ts';
import { listReviews, reviewCandidates, reviewPair } from '../../db/repositories/review.repository.ts';
import { listExports } from '../../db/repositories/export.repository.ts';
import { nearDupStats } from '../../db/repositories/near-dup.repository.ts';
import { runCalibration } from '../../pipeline/calibrate/index.ts';
import type { AuthVars } from './auth.ts';
import { filterSchema, firstIssue, pageSchema, toBrowseFilter } from './filters.ts';
import type { QueueSampler } from './queues.ts';

/** Most subjects one bulk action may touch; a larger set must be narrowed first. */
export const BULK_CAP = 1000;

export interface ApiDeps {
  db: Db;
  config: Config;
  /** The judge version whose judgments, picks and pairs are shown unless `?judge=` names another (the configured judge's). */
  judge: JudgeVersionKey;
  /** The versions in force, shown on the overview: thresholds and check version. */
  inForce: { thresholds: Record<string, number>; checkVersion: string };
  /** The funnel `vibe-curate status --json` prints, under one judge version. */
  funnel: (judge: JudgeVersionKey) => Promise<unknown>;
  queues?: QueueSampler;
  /** Most candidates one bulk action may touch (default BULK_CAP). */
  bulkCap?: number;
  /**
   * Asks for the selection of requests a review changed (a select job each, so a fleet of
   * workers applies reviews with no CLI). Without it the next `select` or reconcile does.
   */
  enqueueSelection?: (requestIds: number[]) => Promise<number>;
}

const verdict = z.enum(['accept', 'reject', 'flag']);
const note = z.string().max(2000).optional().default('');
const id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** One verdict on exactly one subject: a candidate or a pair. */
const reviewBody = z
  .object({ candidateId: id.optional(), pairId: id.optional(), verdict, note })
  .strict()
  .refine((b) => (b.candidateId === undefined) !== (b.pairId === undefined), { message: 'give exactly one of candidateId and pairId', path: ['candidateId'] });

const coord = z.number().finite().min(-1e6).max(1e6);
/** One image's browser detections (boxes in source pixels), as the request view posts them. */
const browserFacesBody = z
  .object({
    image: z.object({ kind: z.enum(['source', 'candidate']), id }).strict(),
    model: z.enum(BROWSER_MODELS),
    /** Each face measured again by this model on a crop this many times its size (`MODEL@ZOOM`), as the request view does. */
    verify: z.string().regex(/^face_detection_(full|short)_range@\d+(\.\d+)?$/, 'expected MODEL@ZOOM, e.g. face_detection_short_range@3.5').optional(),
    faces: z.array(z.object({ box: z.tuple([coord, coord, coord.min(0), coord.min(0)]), score: z.number().min(0).max(1) }).strict()).max(100),
  })
  .strict();

const bulkBody = z
  .object({
    filter: filterSchema,
    verdict,
    note,
    /** false: only count what the action would touch; true: do it. */
    confirm: z.boolean().default(false),
    /** The count the user confirmed; refused when the set changed since. */
    expected: z.number().int().min(0).optional(),
  })
  .strict();

/** `?judge=rubric|model|promptHash`: another judge version of the ledger to show (the selector on the overview). */
const judgeParam = z
  .string()
  .max(500)
  .transform((v) => v.split('|'))
  .refine((p) => p.length === 3 && p.every((x) => x.length > 0), { message: 'expected rubric|model|promptHash' })
  .transform(([rubric, model, promptHash]) => ({ rubric: rubric!, model: model!, promptHash: promptHash! }));

/** The /api sub-app. */
export function apiRoutes(deps: ApiDeps): Hono<{ Variables: AuthVars & { judge: JudgeVersionKey } }> {
  const { db, config } = deps;
  const cap = deps.bulkCap ?? BULK_CAP;
  const app = new Hono<{ Variables: AuthVars & { judge: JudgeVersionKey } }>();

  // Every route reads exactly one judge version: the configured one, or the one `?judge=` names.
  app.use('*', async (c, next) => {
    const q = c.req.query('judge');
    if (q === undefined || q === '') c.set('judge', deps.judge);
    else {
      const j = judgeParam.safeParse(q);
      if (!j.success) return c.json({ error: `judge: ${j.error.issues[0]!.message}` }, 400);
      c.set('judge', j.data);
    }
    await next();
  });

  /** Enqueues the selection of the reviewed requests; the review stands even if Redis is down (reconcile recovers). */
  const reselect = async (requestIds: number[]): Promise<{ enqueued: number } | { error: string }> => {
    if (!deps.enqueueSelection || requestIds.length === 0) return { enqueued: 0 };
    try {
      return { enqueued: await deps.enqueueSelection([...new Set(requestIds)].sort((a, b) => a - b)) };
    } catch (err) {
      return { error: `selection not enqueued (reconcile will): ${(err as Error).message}` };
    }
  };

  app.get('/whoami', (c) => c.json({ reviewer: c.get('reviewer'), tokenRequired: Boolean(config.dashboard.token), rubric: c.get('judge').rubric }));

  app.get('/overview', async (c) => {
    const judge = c.get('judge');
    const [funnel, histograms, dups] = await Promise.all([deps.funnel(judge), scoreHistograms(db, judge), nearDupStats(db)]);
    return c.json({ rubric: judge.rubric, judge, funnel, histograms, nearDuplicates: { distance: config.nearDup.distance, ...dups } });
  });

  app.get('/calibration', async (c) => {
    const q = z
      .object({ rubric: z.string().max(100).optional(), judge_model: z.string().max(300).optional() })
      .safeParse(Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== '')));
    if (!q.success) return c.json({ error: firstIssue(q.error) }, 400);
    try {
      return c.json(await runCalibration(db, config, { rubric: q.data.rubric, judgeModel: q.data.judge_model }));
    } catch (err) {
      if (err instanceof InputError) return c.json({ error: `rubric: ${err.message}` }, 400);
      throw err;
    }
  });

  app.get('/versions', async (c) =>
    c.json({ inForce: { judge: deps.judge, ...deps.inForce }, showing: c.get('judge'), judgeVersions: await listJudgeVersions(db) }),
  );

  // JUDGES_FILE: how the judges agree (the overview's agreement panel); {agreement: null} with one judge.
  app.get('/agreement', async (c) => c.json({ agreement: await judgeAgreement(db, config.judge, 20) }));

  app.get('/throughput', async (c) => {
    const m = z.coerce.number().int().min(1).max(1440).default(60).safeParse(c.req.query('minutes') ?? undefined);
    if (!m.success) return c.json({ error: `minutes: ${m.error.issues[0]!.message}` }, 400);
    return c.json({ perMinute: await throughputPerMinute(db, m.data) });
  });

  app.get('/queues', (c) => c.json(deps.queues ? deps.queues.history() : { queues: [], samples: [], intervalMs: 0 }));

  app.get('/categories', async (c) => c.json({ categories: await listCategories(db) }));

  app.get('/candidates', async (c) => {
    const q = c.req.query();
    const f = filterSchema.safeParse(q);
    if (!f.success) return c.json({ error: firstIssue(f.error) }, 400);
    const p = pageSchema.safeParse({ cursor: q.cursor, limit: q.limit });
    if (!p.success) return c.json({ error: firstIssue(p.error) }, 400);
    const page = await browseCandidates(db, toBrowseFilter(f.data, c.get('judge')), { cursor: p.data.cursor, limit: p.data.limit });
    return c.json(page);
  });

  app.get('/requests/:id', async (c) => {
    const rid = id.safeParse(Number(c.req.param('id')));
    if (!rid.success) return c.json({ error: 'id: expected a positive integer' }, 400);
    const judge = c.get('judge');
    const view = await getRequestView(db, rid.data, judge);
    if (!view) return c.json({ error: `request ${rid.data}: not found` }, 404);
    return c.json({ rubric: judge.rubric, judge, ...view });
  });

  app.post('/reviews', async (c) => {
    const body = reviewBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: firstIssue(body.error) }, 400);
    const reviewer = c.get('reviewer');
    const b = body.data;
    if (b.candidateId !== undefined) {
      const [row] = await reviewCandidates(db, { candidateIds: [b.candidateId], reviewer, verdict: b.verdict, note: b.note, judge: c.get('judge') });
      if (!row) return c.json({ error: `candidate ${b.candidateId}: not found` }, 404);
      return c.json({ review: row, selection: await reselect([row.request_id]) }, 201);
    }
    const pairId = b.pairId!;
    const row = await reviewPair(db, { pairId, reviewer, verdict: b.verdict, note: b.note });
    if (!row) return c.json({ error: `pair ${pairId}: not found` }, 404);
    return c.json({ review: row, selection: await reselect([row.request_id]) }, 201);
  });

  // The browser's faces for one image: compared here with the server's, stored per model version.
  app.post('/browser-faces', async (c) => {
    const body = browserFacesBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: firstIssue(body.error) }, 400);
    const { image, model, verify, faces } = body.data;
    const server = await serverFaces(db, image.kind, image.id);
    if (!server) return c.json({ error: `${image.kind} ${image.id}: not found` }, 404);
    const cmp = compareFaces(server.boxes, faces.map((f) => f.box));
    const v = await browserModelVersions();
    const [verifyModel, zoom] = verify?.split('@') ?? [];
    const verified = verifyModel ? `+${verifyModel}@${v.models[verifyModel as keyof typeof v.models]}x${zoom}` : '';
    const modelVersion = `${model}@${v.models[model]}${verified}/tasks-vision@${v.tasksVision}`;
    await upsertBrowserFaces(db, {
      imageKind: image.kind,
      imageId: image.id,
      model,
      modelVersion,
      faces,
      faceCount: faces.length,
      serverFaceCount: server.boxes.length,
      disagrees: cmp.disagrees,
      comparison: cmp,
    });
    return c.json({ modelVersion, serverChecked: server.checked, serverFaces: server.boxes, ...cmp });
  });

  app.post('/reviews/bulk', async (c) => {
    const body = bulkBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: firstIssue(body.error) }, 400);
    const b = body.data;
    const ids = await matchingCandidateIds(db, toBrowseFilter(b.filter, c.get('judge')), cap);
    if (ids.length > cap) {
      return c.json({ error: `filter: more than ${cap} candidates match; narrow the filter`, count: ids.length, cap }, 409);
    }
    if (!b.confirm) return c.json({ count: ids.length, cap, applied: 0 });
    if (b.expected !== undefined && b.expected !== ids.length) {
      return c.json({ error: `filter: ${ids.length} candidates match now, ${b.expected} were confirmed; confirm again`, count: ids.length }, 409);
    }
    const written = await reviewCandidates(db, { candidateIds: ids, reviewer: c.get('reviewer'), verdict: b.verdict, note: b.note, judge: c.get('judge') });
    return c.json({ count: ids.length, cap, applied: written.length, selection: await reselect(written.map((w) => w.request_id)) });
  });

  app.get('/reviews', async (c) => {
    const s = z
      .object({ candidate: id.optional(), pair: id.optional(), before: id.optional(), limit: z.number().int().min(1).max(500).default(100) })
      .safeParse(Object.fromEntries(Object.entries(c.req.query()).filter(([, v]) => v !== '').map(([k, v]) => [k, Number(v)])));
    if (!s.success) return c.json({ error: firstIssue(s.error) }, 400);
    const list = await listReviews(db, { candidateId: s.data.candidate, pairId: s.data.pair, before: s.data.before, limit: s.data.limit });
    return c.json({ reviews: list });
  });

  app.get('/exports', async (c) => c.json({ exports: await listExports(db, 200) }));

  return app;
}
