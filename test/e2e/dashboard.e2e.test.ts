/**
 * The dashboard end to end, in headless Chromium (playwright-core, /usr/bin/chromium), against a
 * server over a database filled by a real pipeline run: log in with the token, the overview shows
 * the funnel getFunnel computes (what `status --json` prints), a filter narrows the browse list,
 * keyboard reviews write audit rows and change what runSelection and runExport({reviewedOnly})
 * produce, and a request without the token gets 401. Screenshots of every page at 1440×900 and
 * 390×844 go to test-output/screenshots/.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { getFunnel } from '../../db/repositories/funnel.repository.ts';
import { sql } from 'drizzle-orm';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig, type Config } from '../../pipeline/config.ts';
import { runExport } from '../../pipeline/export/index.ts';
import { runSelection, selectionSettings } from '../../pipeline/select/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { fillByPipeline } from './pipeline-fixture.ts';

const SHOTS = path.resolve('test-output/screenshots');
const TOKEN = 'e2e-token-4f1c';
const REVIEWER = 'e2e-reviewer';
const VIEWPORTS = [
  { name: 'desktop', width: 1440, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

let tdb: TestDb;
let dir: string;
let blobs: BlobStore;
let cfg: Config;
let rubric: string;
let dash: { url: string; close(): Promise<void> };
let browser: Browser;
let ctx: BrowserContext;
let page: Page;

async function shoot(p: Page, name: string): Promise<void> {
  for (const v of VIEWPORTS) {
    await p.setViewportSize({ width: v.width, height: v.height });
    await p.waitForTimeout(150); // layout settles (media queries, lazy images)
    await p.screenshot({ path: path.join(SHOTS, `${name}-${v.name}.png`), fullPage: false });
  }
  await p.setViewportSize({ width: 1440, height: 900 });
}

function leaves(obj: unknown, prefix = ''): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') out.push([p, v]);
    else if (v && typeof v === 'object') out.push(...leaves(v, p));
  }
  return out;
}

const sftPicks = async () =>
  new Map(
    (
      await rows<{ request_id: number; candidate_id: number | null }>(
        tdb.db,
        sql`SELECT DISTINCT ON (request_id) request_id, candidate_id FROM selections WHERE rubric = ${rubric} ORDER BY request_id, id DESC`,
      )
    ).map((r) => [Number(r.request_id), r.candidate_id === null ? null : Number(r.candidate_id)]),
  );

async function exportSft(name: string, reviewedOnly: boolean) {
  const outDir = path.join(dir, 'exports', name);
  return runExport(tdb.db, blobs, { kind: 'sft', outDir, shardSamples: 100, valFraction: 0, reviewedOnly, format: 'webdataset', rubric });
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-e2e-'));
  cfg = loadConfig({ DATA_DIR: dir, DASHBOARD_TOKEN: TOKEN, DATABASE_URL: tdb.url });
  blobs = new BlobStore(cfg.blobDir);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const run = await fillByPipeline({ db: tdb.db, blobs, config: cfg, redisUrl, workDir: dir, requests: 6, candidates: 4 });
  expect(run.progress.finished).toBe(6);
  rubric = run.rubric;
  dash = await startDashboard({ db: tdb.db, blobs, config: cfg, redisUrl, queuePrefix: `vc-e2e-${process.pid}`, queueSampleMs: 500, port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await ctx.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dashboard in Chromium', () => {
  it('refuses a request without the token with 401, and sends a page visit to the login form', async () => {
    const res = await fetch(`${dash.url}/api/overview`);
    expect(res.status).toBe(401);
    expect((await fetch(`${dash.url}/metrics`)).status).toBe(401);
    await page.goto(`${dash.url}/browse`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await shoot(page, 'login');
    await page.fill('input[name=name]', REVIEWER);
    await page.fill('input[name=token]', TOKEN);
    await Promise.all([page.waitForURL(`${dash.url}/browse`), page.click('button[type=submit]')]);
    expect(await page.textContent('.who')).toBe(REVIEWER);
  });

  it('shows the funnel that `status --json` prints (getFunnel) on the overview', async () => {
    await page.goto(`${dash.url}/`);
    await page.waitForSelector('body[data-loaded=true]');
    const shown = await page.$$eval('[data-funnel]', (els) => els.map((e) => [e.getAttribute('data-funnel')!, e.textContent!]));
    const funnel = await getFunnel(tdb.db, selectionSettings(cfg));
    const expected = leaves(funnel);
    expect(expected.length).toBeGreaterThan(15);
    const seen = new Map<string, string[]>();
    for (const [k, v] of shown) seen.set(k, [...(seen.get(k) ?? []), v]);
    for (const [k, v] of expected) {
      expect(seen.get(k), k).toBeDefined();
      for (const text of seen.get(k)!) expect(Number(text.replace(/,/g, '')), k).toBe(v);
    }
    expect(funnel.candidates.generated).toBe(24);
    expect(await page.locator('#histograms svg.chart').count()).toBe(4);
    await page.waitForFunction(() => document.querySelectorAll('#queue-charts polyline').length > 0);
    await shoot(page, 'overview');
  });

  it('narrows the browse list with a filter', async () => {
    await page.goto(`${dash.url}/browse`);
    await page.waitForSelector('body[data-loaded=true]');
    const all = await page.locator('.cand').count();
    expect(all).toBe(24);
    await shoot(page, 'browse');
    await page.selectOption('select[name=passed]', 'false');
    await Promise.all([page.waitForResponse((r) => r.url().includes('/api/candidates') && r.url().includes('passed=false')), page.click('button[type=submit]')]);
    await page.waitForFunction((n) => document.querySelectorAll('.cand').length !== n, all);
    const narrowed = await page.locator('.cand').count();
    const failedInDb = (await getFunnel(tdb.db, selectionSettings(cfg))).checks.failed;
    expect(narrowed).toBe(failedInDb);
    expect(narrowed).toBeLessThan(all);
    expect(new URL(page.url()).searchParams.get('passed')).toBe('false');
  });

  it('keyboard reviews write audit rows and change selection and the reviewed-only export', async () => {
    const picks = await sftPicks();
    const picked = [...picks.entries()].filter(([, c]) => c !== null) as [number, number][];
    expect(picked.length).toBeGreaterThanOrEqual(2);
    const [reqA, pickA] = picked[0]!;
    const [reqB, pickB] = picked[1]!;
    const none = await exportSft('before-review', true);
    expect(none.samples).toBe(0);

    // accept A's pick in the request view with `a`
    await page.goto(`${dash.url}/request/${reqA}?c=${pickA}`);
    await page.waitForSelector('body[data-loaded=true]');
    expect(await page.locator('.panel').count()).toBe(5); // source + 4 candidates
    await page.keyboard.press('?');
    await expect.poll(() => page.locator('#help').isVisible()).toBe(true);
    await page.keyboard.press('Escape');
    expect(await page.locator(`.cand-panel.current`).getAttribute('data-id')).toBe(String(pickA));
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/reviews') && r.status() === 201), page.keyboard.press('a')]);

    // reject B's pick with a note: n, type, then Reject
    await page.goto(`${dash.url}/request/${reqB}?c=${pickB}`);
    await page.waitForSelector('body[data-loaded=true]');
    await page.keyboard.press('n');
    await page.keyboard.type('the edit misses the instruction');
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/reviews') && r.status() === 201), page.click('.overlay button.v-reject')]);

    const audit = await rows<{ candidate_id: number; reviewer: string; verdict: string; note: string; before: { sft_pick: boolean; verdict: null }; after: { verdict: string } }>(
      tdb.db,
      sql`SELECT candidate_id, reviewer, verdict, note, before, after FROM reviews ORDER BY id`,
    );
    expect(audit.map((r) => [Number(r.candidate_id), r.reviewer, r.verdict])).toEqual([
      [pickA, REVIEWER, 'accept'],
      [pickB, REVIEWER, 'reject'],
    ]);
    expect(audit[1]!.note).toBe('the edit misses the instruction');
    expect(audit[1]!.before).toMatchObject({ sft_pick: true, verdict: null });
    expect(audit[1]!.after).toMatchObject({ verdict: 'reject' });

    await runSelection(tdb.db, { ...selectionSettings(cfg), requestIds: [...picks.keys()] });
    const after = await sftPicks();
    expect(after.get(reqA)).toBe(pickA);
    expect(after.get(reqB)).not.toBe(pickB); // a rejected candidate is never the pick

    const reviewed = await exportSft('reviewed', true);
    expect(reviewed.samples).toBe(1); // only the accepted pick
    const everything = await exportSft('everything', false);
    expect(everything.samples).toBe(picked.length - (after.get(reqB) === null ? 1 : 0));
    await page.goto(`${dash.url}/request/${reqA}?c=${pickA}`);
    await page.waitForSelector('body[data-loaded=true]');
    await page.waitForFunction(() => Array.from(document.querySelectorAll<HTMLImageElement>('.layer > img:first-child')).every((i) => i.naturalWidth > 0));
    await shoot(page, 'request');
    await page.keyboard.press('c'); // the change maps, over every candidate
    await page.waitForFunction(() => {
      const maps = Array.from(document.querySelectorAll<HTMLImageElement>('img.change-map'));
      return maps.length === 4 && maps.every((i) => i.complete && i.naturalWidth > 0);
    });
    await shoot(page, 'request-change-map');
  });

  it('draws each source face where the check measured it in the edit, with its IoU', async () => {
    // A candidate of a source with a face measured in the edit, checked by the pipeline above.
    const [ck] = await rows<{ candidate_id: number; request_id: number; faces: { matches: { iou: number; method?: string; changed?: boolean; edit: number | null }[]; editSearched?: boolean } }>(
      tdb.db,
      sql`SELECT c.candidate_id, k.request_id, c.faces FROM checks c JOIN candidates k ON k.id = c.candidate_id 
          WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(c.faces->'matches') m
                        WHERE (m->>'method' = 'registration' AND m->>'changed' IS NULL) OR m->>'edit' IS NOT NULL)
          ORDER BY c.candidate_id LIMIT 1`,
    );
    expect(ck).toBeDefined();
    const drawable = ck!.faces.matches.filter((m) => (m.method === 'registration' && !m.changed) || m.edit !== null);
    expect(drawable.length).toBeGreaterThan(0);
    await page.goto(`${dash.url}/request/${ck!.request_id}?c=${ck!.candidate_id}`);
    await page.waitForSelector('body[data-loaded=true]');
    const panel = page.locator(`figure.cand-panel[data-id="${ck!.candidate_id}"] svg.faces`);
    await expect.poll(() => panel.locator('rect.box-ok, rect.box-bad').count()).toBe(drawable.length);
    const labels = await panel.locator('text').allTextContents();
    for (const m of drawable) expect(labels).toContain(`IoU ${Number(m.iou).toFixed(2)}`);
  });

  it('zooms all images together; moves on at once: j/k select, a review at the end loads the next request', async () => {
    const ids = (await rows<{ id: number }>(tdb.db, sql`SELECT id FROM requests ORDER BY id`)).map((r) => Number(r.id));
    await page.goto(`${dash.url}/request/${ids[0]}`);
    await page.waitForSelector('body[data-loaded=true]');
    // zoom on one image: every image takes the same transform
    const box = (await page.locator('.panel.source .frame').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 3);
    await page.mouse.wheel(0, -400);
    const transforms = await page.$$eval('.layer', (els) => els.map((e) => (e as HTMLElement).style.transform));
    expect(new Set(transforms).size).toBe(1);
    expect(transforms[0]).toMatch(/scale\((?!1\))[\d.]+\)/);
    await page.keyboard.press('0');
    expect(await page.$eval('.layer', (e) => (e as HTMLElement).style.transform)).toBe('translate(0%, 0%) scale(1)');
    const items = await page.locator('.cand-panel').count();
    const pairs = await page.locator('.pair-row').count();
    for (let i = 0; i < items + pairs - 1; i++) await page.keyboard.press('j');
    await page.keyboard.press('k');
    await page.keyboard.press('j');
    // flag the last item: the next request shows (the page moves on before the POST returns,
    // so wait for it too: the next test counts review rows)
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/reviews') && r.request().method() === 'POST'), page.keyboard.press('f')]);
    await page.waitForFunction((id) => document.body.dataset.request === String(id), ids[1]);
    expect(new URL(page.url()).pathname).toBe(`/request/${ids[1]}`);
  });

  it('bulk-flags a filtered set after a confirmation, one audit row each', async () => {
    const before = await rows<{ n: number }>(tdb.db, sql`SELECT count(*)::int AS n FROM reviews`);
    await page.goto(`${dash.url}/browse?passed=false&reviewed=no`);
    await page.waitForSelector('body[data-loaded=true]');
    const shown = await page.locator('.cand').count();
    expect(shown).toBeGreaterThan(0);
    await page.selectOption('#bulk-verdict', 'flag');
    await page.fill('#bulk-note', 'bulk: check these by hand');
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/reviews/bulk') && r.request().postData()!.includes('"confirm":true')), page.click('#bulk-go')]);
    expect(asked).toContain(`flag all ${shown} candidates`);
    const after = await rows<{ n: number; notes: number }>(
      tdb.db,
      sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE note = 'bulk: check these by hand' AND reviewer = ${REVIEWER})::int AS notes FROM reviews`,
    );
    expect(after[0]!.n - before[0]!.n).toBe(shown);
    expect(after[0]!.notes).toBe(shown);
    await page.waitForFunction(() => document.querySelectorAll('.cand').length === 0); // none unreviewed left
  });

  it('lists exports with their manifest and working download links; /queues shows the board', async () => {
    await page.goto(`${dash.url}/exports`);
    await page.waitForSelector('body[data-loaded=true]');
    await page.waitForSelector('table.shards a');
    expect(await page.locator('table.exports-table tbody tr').count()).toBe(3);
    const href = await page.locator('table.shards a').first().getAttribute('href');
    const status = await page.evaluate(async (u) => (await fetch(u!)).status, href);
    expect(status).toBe(200);
    await shoot(page, 'exports');
    await page.goto(`${dash.url}/queues`);
    await page.waitForLoadState('networkidle');
    expect(await page.title()).toMatch(/queues/i);
    await shoot(page, 'queues');
  });
});
