/**
 * The dashboard's HTTP surface against a real Postgres (app.request, no socket): the overview
 * funnel equals getFunnel, filters narrow and are validated, keyset pages cover every row once,
 * reviews write audit rows with before/after, bulk actions are confirmed and capped, the token
 * gate answers 401 / redirects, thumbnails are cached with ETags.
 */
import { selectionSettings } from '../../pipeline/select/index.ts';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp, type DashboardApp } from '../../dashboards/server.ts';
import { getFunnel } from '../../db/repositories/funnel.repository.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig, type Config } from '../../pipeline/config.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { seedLedger, type Seeded } from './seed.ts';

let tdb: TestDb;
let dir: string;
let blobs: BlobStore;
let seeded: Seeded;
let cfg: Config;
let app: DashboardApp;
const N = 6;
const K = 4;

interface Page {
  rows: { id: number; category: string; instruction: string; verdict: string | null; face_status: string | null; axis_instruction: number | null; picked: boolean }[];
  nextCursor: number | null;
}

const getJson = async <T>(a: DashboardApp, url: string, init?: RequestInit) => {
  const res = await a.request(url, init);
  return { status: res.status, body: (await res.json()) as T, res };
};
const post = (a: DashboardApp, url: string, body: unknown, headers: Record<string, string> = {}) =>
  a.request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

beforeAll(async () => {
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-dash-'));
  blobs = new BlobStore(path.join(dir, 'blobs'));
  cfg = loadConfig({ DATA_DIR: dir });
  seeded = await seedLedger(tdb.db, blobs, { n: N, k: K });
  app = createDashboardApp({ db: tdb.db, blobs, config: cfg, rubric: cfg.judge.rubric, bulkCap: 10 });
});

afterAll(async () => {
  await app?.dispose();
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('overview', () => {
  it('shows the funnel that getFunnel computes for the configured rubric', async () => {
    const { status, body } = await getJson<{ funnel: unknown; histograms: Record<string, { counts: number[] }> }>(app, '/api/overview');
    expect(status).toBe(200);
    expect(body.funnel).toEqual(JSON.parse(JSON.stringify(await getFunnel(tdb.db, selectionSettings(cfg, { rubric: cfg.judge.rubric })))));
    // K-1 judged candidates per request, one histogram entry each
    expect(body.histograms.instruction!.counts.reduce((a, b) => a + b, 0)).toBe(N * (K - 1));
    expect(body.histograms.face_iou!.counts.reduce((a, b) => a + b, 0)).toBe(N * K);
  });

  it('shows the versions in force and reads exactly the judge version ?judge= names', async () => {
    const inForce = selectionSettings(cfg, { rubric: cfg.judge.rubric });
    const { status, body } = await getJson<{ inForce: unknown; showing: unknown; judgeVersions: { model: string; judgments: number }[] }>(app, '/api/versions');
    expect(status).toBe(200);
    expect(body.inForce).toEqual({ judge: inForce.judge, thresholds: inForce.thresholds, checkVersion: inForce.checkVersion });
    expect(body.showing).toEqual(inForce.judge);
    expect(body.judgeVersions).toEqual([{ ...inForce.judge, judgments: N * (K - 1) }]);
    // Another judge version (none of its judgments exist): its own empty funnel and histograms, not the configured one's.
    const other = { ...inForce.judge, model: 'another-vlm' };
    const q = encodeURIComponent(`${other.rubric}|${other.model}|${other.promptHash}`);
    const ov = await getJson<{ judge: unknown; funnel: { judgments: { judged: number }; selection: { sftPicks: number } }; histograms: Record<string, { counts: number[] }> }>(app, `/api/overview?judge=${q}`);
    expect(ov.body.judge).toEqual(other);
    expect(ov.body.funnel.judgments.judged).toBe(0);
    expect(ov.body.funnel.selection.sftPicks).toBe(0);
    expect(ov.body.histograms.instruction!.counts.reduce((a, b) => a + b, 0)).toBe(0);
    const page = await getJson<Page>(app, `/api/candidates?judge=${q}&limit=50`);
    expect(page.body.rows.every((r) => r.axis_instruction === null && !r.picked)).toBe(true);
    const bad = await getJson<{ error: string }>(app, '/api/overview?judge=only-a-rubric');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('judge: expected rubric|model|promptHash');
  });

  it('reports throughput per minute from the ledger timestamps', async () => {
    const { body } = await getJson<{ perMinute: { generated: number; judged: number }[] }>(app, '/api/throughput?minutes=5');
    expect(body.perMinute).toHaveLength(5);
    expect(body.perMinute.reduce((a, m) => a + m.generated, 0)).toBe(N * K);
    expect(body.perMinute.reduce((a, m) => a + m.judged, 0)).toBe(N * (K - 1));
  });
});

describe('browse', () => {
  it('pages with a keyset cursor: every candidate once, newest first', async () => {
    const seen: number[] = [];
    let cursor: number | null = null;
    for (let i = 0; i < 20; i++) {
      const q: string = cursor === null ? '' : `&cursor=${cursor}`;
      const { body } = await getJson<Page>(app, `/api/candidates?limit=5${q}`);
      seen.push(...body.rows.map((r) => r.id));
      cursor = body.nextCursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual([...seeded.candidateIds].sort((a, b) => b - a));
  });

  it('narrows by category, check result, score range and instruction text', async () => {
    const cat = await getJson<Page>(app, '/api/candidates?category=color&limit=200');
    expect(cat.body.rows).toHaveLength((N / 2) * K);
    expect(cat.body.rows.every((r) => r.category === 'color')).toBe(true);

    const face = await getJson<Page>(app, '/api/candidates?face=fail&limit=200');
    expect(face.body.rows).toHaveLength(N);
    expect(face.body.rows.every((r) => r.face_status === 'fail')).toBe(true);

    const score = await getJson<Page>(app, '/api/candidates?instruction_min=7.5&limit=200');
    expect(score.body.rows.length).toBe(N); // only seed j=0 scores 8
    expect(score.body.rows.every((r) => (r.axis_instruction ?? 0) >= 7.5 && r.picked)).toBe(true);

    const iou = await getJson<Page>(app, '/api/candidates?iou_min=0.9&iou_max=0.94&limit=200');
    expect(iou.body.rows).toHaveLength(N * 2); // 0.94 and 0.93

    // % and _ are literal, not wildcards
    const pct = await getJson<Page>(app, `/api/candidates?q=${encodeURIComponent('100%')}&limit=200`);
    expect(pct.body.rows).toHaveLength(K);
    const wild = await getJson<Page>(app, `/api/candidates?q=${encodeURIComponent('t_n')}&limit=200`);
    expect(wild.body.rows).toHaveLength(0);
    const under = await getJson<Page>(app, `/api/candidates?q=${encodeURIComponent('PURPLE_ish')}&limit=200`);
    expect(under.body.rows).toHaveLength(K);
  });

  it('refuses a bad filter with the field named', async () => {
    for (const [q, field] of [
      ['status=bogus', 'status'],
      ['iou_min=2', 'iou_min'],
      ['limit=0', 'limit'],
      ['cursor=-4', 'cursor'],
      ['reviewed=maybe', 'reviewed'],
      ['quality_max=abc', 'quality_max'],
    ] as const) {
      const { status, body } = await getJson<{ error: string }>(app, `/api/candidates?${q}`);
      expect(status, q).toBe(400);
      expect(body.error.startsWith(field), body.error).toBe(true);
    }
  });
});

describe('reviews', () => {
  it('writes an audit row with who, what, before and after; the newest wins in browse', async () => {
    const id = seeded.candidateIds[1]!;
    const first = await post(app, '/api/reviews', { candidateId: id, verdict: 'reject', note: 'halo at the edge' }, { 'x-reviewer': 'ana' });
    expect(first.status).toBe(201);
    const r1 = ((await first.json()) as { review: { reviewer: string; verdict: string; before: Record<string, unknown>; after: Record<string, unknown> } }).review;
    expect(r1).toMatchObject({ reviewer: 'ana', verdict: 'reject' });
    expect(r1.before).toMatchObject({ verdict: null, check_passed: true, sft_pick: false, status: 'judged' });
    expect(r1.after).toMatchObject({ verdict: 'reject', note: 'halo at the edge', reviewer: 'ana' });

    const second = await post(app, '/api/reviews', { candidateId: id, verdict: 'accept' });
    const r2 = ((await second.json()) as { review: { reviewer: string; before: Record<string, unknown> } }).review;
    expect(r2.reviewer).toBe('anonymous');
    expect(r2.before).toMatchObject({ verdict: 'reject', note: 'halo at the edge', reviewer: 'ana' });

    const trail = await getJson<{ reviews: { verdict: string }[] }>(app, `/api/reviews?candidate=${id}`);
    expect(trail.body.reviews.map((r) => r.verdict)).toEqual(['accept', 'reject']);
    const accepted = await getJson<Page>(app, '/api/candidates?reviewed=accept&limit=200');
    expect(accepted.body.rows.map((r) => r.id)).toContain(id);
    const rejected = await getJson<Page>(app, '/api/candidates?reviewed=reject&limit=200');
    expect(rejected.body.rows.map((r) => r.id)).not.toContain(id);
  });

  it('reviews a pair; refuses unknown subjects and bad verdicts', async () => {
    const ok = await post(app, '/api/reviews', { pairId: seeded.pairIds[0]!, verdict: 'flag', note: 'tie really' });
    expect(ok.status).toBe(201);
    const row = ((await ok.json()) as { review: { pair_id: number; before: Record<string, unknown> } }).review;
    expect(row.pair_id).toBe(seeded.pairIds[0]);
    expect(row.before).toMatchObject({ rank: 1, verdict: null });
    expect((await post(app, '/api/reviews', { candidateId: 99_999_999, verdict: 'accept' })).status).toBe(404);
    const bad = await post(app, '/api/reviews', { candidateId: seeded.candidateIds[0]!, verdict: 'maybe' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^verdict: /);
    const both = await post(app, '/api/reviews', { candidateId: seeded.candidateIds[0]!, pairId: seeded.pairIds[0]!, verdict: 'accept' });
    expect(((await both.json()) as { error: string }).error).toMatch(/^candidateId: give exactly one/);
  });

  it('bulk: counts first, applies only what was confirmed, refuses more than the cap', async () => {
    const filter = { category: 'object', face: 'fail' };
    const dry = await getJson<{ count: number; applied: number }>(app, '/api/reviews/bulk', {
      method: 'POST',
      body: JSON.stringify({ filter, verdict: 'reject', note: 'bulk' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(dry.body).toMatchObject({ count: N / 2, applied: 0 });
    const before = await getJson<{ reviews: unknown[] }>(app, '/api/reviews?limit=500');
    const stale = await post(app, '/api/reviews/bulk', { filter, verdict: 'reject', confirm: true, expected: 99 });
    expect(stale.status).toBe(409);
    const done = await post(app, '/api/reviews/bulk', { filter, verdict: 'reject', note: 'bulk', confirm: true, expected: N / 2 });
    expect(((await done.json()) as { applied: number }).applied).toBe(N / 2);
    const after = await getJson<{ reviews: { note: string }[] }>(app, '/api/reviews?limit=500');
    expect(after.body.reviews.length - before.body.reviews.length).toBe(N / 2);
    const tooMany = await post(app, '/api/reviews/bulk', { filter: {}, verdict: 'flag', confirm: true });
    expect(tooMany.status).toBe(409); // 24 candidates > cap 10
  });
});

describe('request view and images', () => {
  it('returns the source, all K candidates with checks and judgments, the pick and the pairs', async () => {
    const rid = seeded.requestIds[2]!;
    const { status, body } = await getJson<{
      candidates: { id: number; check: { faces: { source: unknown[] } } | null; judgment: { raw_reply: string } | null }[];
      selection: { candidate_id: number };
      pairs: { chosen_id: number }[];
      prevId: number;
      nextId: number;
    }>(app, `/api/requests/${rid}`);
    expect(status).toBe(200);
    expect(body.candidates).toHaveLength(K);
    expect(body.candidates[0]!.check!.faces.source).toHaveLength(1);
    expect(body.candidates[0]!.judgment!.raw_reply).toContain('score');
    expect(body.candidates[K - 1]!.judgment).toBeNull();
    expect(body.selection.candidate_id).toBe(body.candidates[0]!.id);
    expect(body.pairs[0]!.chosen_id).toBe(body.candidates[0]!.id);
    expect([body.prevId, body.nextId]).toEqual([seeded.requestIds[1], seeded.requestIds[3]]);
    expect((await app.request('/api/requests/99999999')).status).toBe(404);
    expect((await app.request('/api/requests/abc')).status).toBe(400);
  });

  it('serves thumbnails resized, cached on disk, with an ETag that answers 304', async () => {
    const id = seeded.candidateIds[0]!;
    const res = await app.request(`/img/candidate/${id}?w=60`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect(meta.width).toBe(96); // asked 60 → the 96 px bucket
    const etag = res.headers.get('etag')!;
    const again = await app.request(`/img/candidate/${id}?w=60`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const sha = etag.slice(1, 65);
    expect((await stat(path.join(dir, 'thumbs', sha.slice(0, 2), `${sha}-w96.webp`))).size).toBeGreaterThan(0);
    const full = await app.request(`/img/source/${seeded.requestIds[0]!}`);
    expect(full.headers.get('content-type')).toBe('image/png');
    expect((await app.request('/img/other/1')).status).toBe(400);
    expect((await app.request('/img/candidate/99999999?w=96')).status).toBe(404);
  });

  it('renders the change map of a candidate as a PNG at source size, cached with an ETag', async () => {
    const id = seeded.candidateIds[3]!; // green +90 against its source: every pixel changed
    const res = await app.request(`/img/change/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([96, 64]);
    expect(data[0]).toBeGreaterThan(128); // changed pixels are red
    expect(data[1]).toBe(0);
    const unchanged = await app.request(`/img/change/${seeded.candidateIds[0]!}`); // same colour as the source
    const px = await sharp(Buffer.from(await unchanged.arrayBuffer())).raw().toBuffer();
    expect(px[0]).toBe(px[1]); // grey: nothing changed
    const again = await app.request(`/img/change/${id}`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  it('serves the pages and static files, and nothing outside dashboards/web', async () => {
    for (const p of ['/', '/browse', '/exports', `/request/${seeded.requestIds[0]}`]) {
      const res = await app.request(p);
      expect(res.status, p).toBe(200);
      expect(await res.text()).toContain('<script type="module"');
    }
    expect((await app.request('/static/common.js')).headers.get('content-type')).toContain('javascript');
    expect((await app.request('/static/../server.ts')).status).toBe(404);
    expect((await app.request('/static/%2e%2e/server.ts')).status).toBe(404);
  });

  it('serves Prometheus text at /metrics', async () => {
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toMatch(/^# HELP vibe_jobs_total /m);
  });
});

describe('access with DASHBOARD_TOKEN', () => {
  const TOKEN = 's3cret-token-value';
  let gated: DashboardApp;
  beforeAll(() => {
    gated = createDashboardApp({ db: tdb.db, blobs, config: loadConfig({ DATA_DIR: dir, DASHBOARD_TOKEN: TOKEN }), rubric: cfg.judge.rubric });
  });
  afterAll(() => gated?.dispose());

  it('answers 401 without the token, 200 with the bearer header', async () => {
    for (const p of ['/api/overview', '/api/candidates', '/metrics', '/img/candidate/1?w=96', '/exports/x/manifest.json']) {
      expect((await gated.request(p)).status, p).toBe(401);
    }
    expect((await gated.request('/api/overview', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await gated.request('/api/overview', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const who = await getJson<{ reviewer: string }>(gated, '/api/whoami', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(who.body.reviewer).toBe('token');
  });

  it('redirects pages to /login; the login (JSON only) sets HttpOnly SameSite=Strict cookies that work and name the reviewer', async () => {
    const page = await gated.request('/browse', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/login?next=%2Fbrowse');
    expect((await gated.request('/login')).status).toBe(200);
    const form = await gated.request('/login', { method: 'POST', body: new URLSearchParams({ token: TOKEN, name: 'bo', next: '/browse' }) });
    expect(form.status).toBe(415); // a form is what another site can post
    expect(form.headers.getSetCookie()).toEqual([]);
    const wrong = await post(gated, '/login', { token: 'nope', name: 'bo', next: '/browse' });
    expect(wrong.status).toBe(401);
    const ok = await post(gated, '/login', { token: TOKEN, name: 'bo', next: '/browse' });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { next: string }).next).toBe('/browse');
    const set = ok.headers.getSetCookie();
    expect(set).toHaveLength(2);
    for (const c of set) expect(c).toMatch(/; HttpOnly.*; SameSite=Strict|; SameSite=Strict.*; HttpOnly/);
    const cookies = set.map((c) => c.split(';')[0]).join('; ');
    expect(cookies).not.toContain(TOKEN);
    const res = await post(gated, '/api/reviews', { candidateId: seeded.candidateIds[2]!, verdict: 'flag' }, { cookie: cookies });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { review: { reviewer: string } }).review.reviewer).toBe('bo');
    const evil = await post(gated, '/login', { token: TOKEN, next: '//evil.example/' });
    expect(((await evil.json()) as { next: string }).next).toBe('/');
  });
});
