/**
 * Hostile pages, in headless Chromium: a page served by another local HTTP server (another
 * origin: 127.0.0.1 on another port, same site; and localhost, another site) tries every write a
 * page can make without the server's consent — fetch with text/plain in no-cors mode, a JSON
 * fetch (needs a preflight), form posts (urlencoded, and text/plain bodies shaped as JSON) to
 * /api/reviews, /api/reviews/bulk and /login — against a dashboard without a token and one with a
 * token whose session cookie the browser holds. None of them writes a review or renames the
 * reviewer (the ledger says so), while the dashboard's own pages still review. The pages and
 * bull-board's /queues render under their Content-Security-Policy without violations.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../dashboards/server.ts';
import { rows } from '../../db/client.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { loadConfig } from '../../pipeline/config.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { freshPrefix } from '../services/pipeline-helpers.ts';
import { fillByPipeline } from './pipeline-fixture.ts';

const TOKEN = 'xo-token-51be';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let tdb: TestDb;
let dir: string;
let prefix: ReturnType<typeof freshPrefix>;
let open: { url: string; close(): Promise<void> };
let gated: { url: string; close(): Promise<void> };
let attacker: http.Server;
let attackerPort: number;
let browser: Browser;
let candidates: { id: number; request_id: number }[];

/** The attack page: every write a page on another origin can try, then `document.title = 'fired'`. */
function attackPage(target: string, candidateId: number): string {
  const review = JSON.stringify({ candidateId, verdict: 'reject', note: 'csrf' });
  // text/plain forms send NAME=VALUE: these make the body the JSON object a review takes
  const jsonName = (o: string) => o.replace(/'/g, '&#39;');
  return `<!doctype html><html><head><meta charset="utf-8"><title>attack</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe><iframe name="f4"></iframe><iframe name="f5"></iframe>
<form id="plain" target="f1" method="POST" enctype="text/plain" action="${target}/api/reviews"><input name='${jsonName(`{"candidateId":${candidateId},"verdict":"reject","note":"`)}' value='csrf"}'></form>
<form id="urlenc" target="f2" method="POST" action="${target}/api/reviews"><input name="candidateId" value="${candidateId}"><input name="verdict" value="reject"></form>
<form id="bulk" target="f3" method="POST" enctype="text/plain" action="${target}/api/reviews/bulk"><input name='${jsonName('{"filter":{},"verdict":"reject","confirm":true,"note":"')}' value='csrf"}'></form>
<form id="login" target="f4" method="POST" action="${target}/login"><input name="name" value="mallory"><input name="token" value=""></form>
<form id="loginjson" target="f5" method="POST" enctype="text/plain" action="${target}/login"><input name='${jsonName('{"name":"mallory","note":"')}' value='"}'></form>
<script>
(async () => {
  const T = ${JSON.stringify(target)};
  const body = ${JSON.stringify(review)};
  const out = {};
  try { await fetch(T + '/api/reviews', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }); out.noCors = 'sent'; } catch (e) { out.noCors = String(e); }
  try { await fetch(T + '/api/reviews/bulk', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"filter":{},"verdict":"reject","confirm":true}' }); out.noCorsBulk = 'sent'; } catch (e) { out.noCorsBulk = String(e); }
  try { await fetch(T + '/login', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{"name":"mallory"}' }); out.noCorsLogin = 'sent'; } catch (e) { out.noCorsLogin = String(e); }
  try { const r = await fetch(T + '/api/reviews', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body }); out.cors = r.status; } catch (e) { out.cors = 'blocked'; }
  for (const id of ['plain', 'urlenc', 'bulk', 'login', 'loginjson']) document.getElementById(id).submit();
  window.results = out;
  document.title = 'fired';
})();
</script></body></html>`;
}

/** POSTs that reach the dashboard from the attack: the 3 no-cors fetches and the 5 forms. */
const ATTACK_POSTS = 8;

/** A fresh browser context; CSP violations its pages report go to `violations` (bull-board's Google-fonts link aside). */
async function launchContext(violations: string[] = []): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctx.on('console', (m: ConsoleMessage) => {
    if (/Content Security Policy/i.test(m.text()) && !/fonts\.googleapis\.com/.test(m.text())) violations.push(m.text());
  });
  return ctx;
}

/** Opens the attack page at `attackerOrigin` against `target` and returns the dashboard's answers to its POSTs. */
async function attack(ctx: BrowserContext, attackerOrigin: string, target: string, candidateId: number): Promise<{ answers: { url: string; status: number }[]; results: Record<string, unknown> }> {
  const page = await ctx.newPage();
  const answers: { url: string; status: number }[] = [];
  const onResponse = (r: Response) => {
    if (r.url().startsWith(target) && r.request().method() === 'POST') answers.push({ url: r.url(), status: r.status() });
  };
  ctx.on('response', onResponse);
  try {
    await page.goto(`${attackerOrigin}/attack?target=${encodeURIComponent(target)}&candidate=${candidateId}`);
    await page.waitForFunction(() => document.title === 'fired');
    await expect.poll(() => answers.length, { timeout: 15_000 }).toBe(ATTACK_POSTS);
    const results = (await page.evaluate(() => (window as unknown as { results: Record<string, unknown> }).results)) ?? {};
    return { answers, results };
  } finally {
    ctx.off('response', onResponse);
    await page.close();
  }
}

const reviewRows = () => rows<{ candidate_id: number; reviewer: string; verdict: string; note: string }>(tdb.db, sql`SELECT candidate_id, reviewer, verdict, note FROM reviews ORDER BY id`);

/** Reviews candidate `c` with `a` in the dashboard's own request view; resolves with the API's status. */
async function reviewFromDashboard(page: Page, base: string, c: { id: number; request_id: number }): Promise<number> {
  await page.goto(`${base}/request/${c.request_id}?c=${c.id}`);
  await page.waitForSelector('body[data-loaded=true]');
  const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/reviews') && r.request().method() === 'POST'), page.keyboard.press('a')]);
  return res.status();
}

/** Logs in through the login page's own form (JSON under the hood) as `name`. */
async function logIn(page: Page, base: string, name: string, token?: string): Promise<void> {
  await page.goto(`${base}/login?next=/browse`);
  await page.fill('input[name=name]', name);
  if (token) await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(`${base}/browse`), page.click('button[type=submit]')]);
  expect(await page.textContent('.who')).toBe(name);
}

beforeAll(async () => {
  tdb = await createTestDb();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vc-xo-'));
  prefix = freshPrefix('xo');
  const cfg = loadConfig({ DATA_DIR: dir, DATABASE_URL: tdb.url });
  const blobs = new BlobStore(cfg.blobDir);
  const run = await fillByPipeline({ db: tdb.db, blobs, config: cfg, redisUrl: REDIS_URL, workDir: dir, requests: 2, candidates: 2 });
  expect(run.progress.finished).toBe(2);
  candidates = (await rows<{ id: number; request_id: number }>(tdb.db, sql`SELECT id, request_id FROM candidates ORDER BY id`)).map((r) => ({ id: Number(r.id), request_id: Number(r.request_id) }));
  expect(candidates.length).toBe(4);
  const common = { db: tdb.db, blobs, port: 0, host: '127.0.0.1', redisUrl: REDIS_URL, queuePrefix: prefix.prefix, queueSampleMs: 60_000 };
  open = await startDashboard({ ...common, config: cfg });
  gated = await startDashboard({ ...common, config: loadConfig({ DATA_DIR: dir, DATABASE_URL: tdb.url, DASHBOARD_TOKEN: TOKEN }) });
  attacker = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname !== '/attack') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage(u.searchParams.get('target')!, Number(u.searchParams.get('candidate'))));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerPort = (attacker.address() as AddressInfo).port;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => attacker?.close(r));
  await open?.close();
  await gated?.close();
  await prefix?.cleanup();
  await tdb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a page on another origin', () => {
  it('without a token: cannot write a review or set the reviewer name; the dashboard itself still can', async () => {
    const ctx = await launchContext();
    try {
      const page = await ctx.newPage();
      await logIn(page, open.url, 'alice');
      const before = await reviewRows();
      for (const origin of [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`]) {
        const { answers, results } = await attack(ctx, origin, open.url, candidates[0]!.id);
        expect(answers.map((a) => a.status), origin).toEqual(Array(ATTACK_POSTS).fill(403));
        expect(results, origin).toMatchObject({ noCors: 'sent', noCorsBulk: 'sent', noCorsLogin: 'sent', cors: 'blocked' });
      }
      expect(await reviewRows()).toEqual(before);
      const who = await page.evaluate(async () => (await (await fetch('/api/whoami')).json()) as { reviewer: string });
      expect(who.reviewer).toBe('alice');

      expect(await reviewFromDashboard(page, open.url, candidates[1]!)).toBe(201);
      const after = await reviewRows();
      expect(after.slice(before.length).map((r) => [Number(r.candidate_id), r.reviewer, r.verdict])).toEqual([[candidates[1]!.id, 'alice', 'accept']]);
    } finally {
      await ctx.close();
    }
  });

  it('with a token and a logged-in browser: cannot write a review; the dashboard itself still can', async () => {
    const ctx = await launchContext();
    try {
      const page = await ctx.newPage();
      await logIn(page, gated.url, 'bob', TOKEN);
      const before = await reviewRows();
      for (const origin of [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`]) {
        const { answers, results } = await attack(ctx, origin, gated.url, candidates[2]!.id);
        expect(answers.map((a) => a.status), origin).toEqual(Array(ATTACK_POSTS).fill(403));
        expect(results.cors, origin).toBe('blocked');
      }
      expect(await reviewRows()).toEqual(before);

      expect(await reviewFromDashboard(page, gated.url, candidates[3]!)).toBe(201);
      const after = await reviewRows();
      expect(after.slice(before.length).map((r) => [Number(r.candidate_id), r.reviewer, r.verdict])).toEqual([[candidates[3]!.id, 'bob', 'accept']]);
    } finally {
      await ctx.close();
    }
  });

  it('the pages and bull-board render under their CSP with no violation', async () => {
    const cspViolations: string[] = [];
    const ctx = await launchContext(cspViolations);
    try {
      const page = await ctx.newPage();
      for (const p of ['/', '/browse', `/request/${candidates[0]!.request_id}`, '/exports']) {
        await page.goto(`${open.url}${p}`);
        await page.waitForSelector('body[data-loaded=true]');
      }
      await page.goto(`${open.url}/`);
      await page.waitForSelector('body[data-loaded=true]');
      // bars are sized through the CSSOM: a blocked style attribute would leave them unsized
      const widths = await page.$$eval('.bar', (els) => els.map((e) => (e as HTMLElement).style.width));
      expect(widths.length).toBeGreaterThan(0);
      expect(widths.every((w) => /%$/.test(w))).toBe(true);
      await page.goto(`${open.url}/queues`);
      await page.waitForSelector('text=generate', { timeout: 30_000 }); // the React board is up and lists the stage queues
      expect(cspViolations).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
