/**
 * The calibration page in headless Chromium, over a planted set (test/services/planted-reviews.ts:
 * a real pipeline run judged by a fake VLM server, reviews posted through the review API): with
 * 29 reviews it states the count and suggests nothing; with all of them it draws each thresholded
 * score's accepted and rejected bars (the counts of the API) and suggests the planted threshold.
 * Screenshots go to test-output/screenshots/.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboards/server.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import type { CalibrationReport } from '../../pipeline/calibrate/index.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../services/pipeline-helpers.ts';
import { PLANTED, plantedSet, type PlantedSet } from '../services/planted-reviews.ts';

const SHOTS = path.resolve('test-output/screenshots');

let t: TestDb;
const tmp = tempDir('calibrate-e2e');
let set: PlantedSet;
let dash: { url: string; close(): Promise<void> };
let browser: Browser;
let page: Page;

const review = async (candidateId: number, verdict: string) => {
  const res = await fetch(`${dash.url}/api/reviews`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-reviewer': 'e2e' }, body: JSON.stringify({ candidateId, verdict }) });
  expect(res.status).toBe(201);
};

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  t = await createTestDb();
  set = await plantedSet(t.db, tmp.dir, 20);
  dash = await startDashboard({ db: t.db, blobs: new BlobStore(set.config.blobDir), config: set.config, port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await t?.cleanup();
  await set?.close();
  tmp.cleanup();
});

describe('calibration page in Chromium', () => {
  it('states the 29 reviews it rests on and refuses to suggest thresholds', async () => {
    for (const j of set.judged.slice(0, 29)) await review(j.candidate_id, set.verdictOf.get(j.candidate_id)!);
    await page.goto(`${dash.url}/calibrate`);
    await page.waitForSelector('#review-count');
    expect(await page.getAttribute('#review-count', 'data-reviews')).toBe('29');
    expect(await page.textContent('#basis')).toMatch(/rest on 29 review\(s\).*No thresholds are suggested: fewer than 30 reviews/);
    expect(await page.$$('.suggestion')).toHaveLength(0);
    expect(await page.$$('.withheld')).not.toHaveLength(0);
    await page.screenshot({ path: path.join(SHOTS, 'calibrate-withheld-desktop.png') });
  }, 30_000);

  it('draws accepted against rejected candidates per score and suggests the planted threshold', async () => {
    for (const j of set.judged.slice(29)) await review(j.candidate_id, set.verdictOf.get(j.candidate_id)!);
    const api = (await (await fetch(`${dash.url}/api/calibration`)).json()) as CalibrationReport;
    await page.goto(`${dash.url}/calibrate`);
    await page.waitForSelector('figure[data-score=SC] svg');
    expect(await page.getAttribute('#review-count', 'data-reviews')).toBe(String(set.judged.length));
    expect(await page.$('#withheld')).toBeNull();
    // every bar is the API's count for its value
    const bars = await page.$$eval('figure[data-score=SC] rect', (els) => els.map((e) => [e.getAttribute('class'), Number(e.getAttribute('data-value')), Number(e.getAttribute('data-count'))] as const));
    const expected = api.scores.SC!.distribution.flatMap((d) => [['bar-accepted', d.value, d.accepted], ['bar-rejected', d.value, d.rejected]]);
    expect(bars).toEqual(expected);
    expect(await page.textContent('figure[data-score=SC] figcaption')).toContain(`Best F1: SC ≥ ${PLANTED}`);
    expect(await page.textContent('#agreement')).toContain('overall');
    await page.screenshot({ path: path.join(SHOTS, 'calibrate-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SHOTS, 'calibrate-phone.png') });
  }, 30_000);
});
