/**
 * Near-duplicate-safe splits through the real pipeline: a photo and its re-encoded, resized copy
 * are enqueued from one manifest, generated, checked, judged, selected and exported; with a val
 * fraction chosen so that splitting by each file's own sha256 would put them in different splits,
 * both land in one split because they share a near-duplicate group. Also: status --json, the
 * manifest and the browse API report the group; NEAR_DUP_DISTANCE=0 keeps them apart; two
 * enqueue processes at once still group across each other's sources.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { createDashboardApp } from '../../dashboards/server.ts';
import { BlobStore } from '../../pipeline/blobs.ts';
import { DEMO_IMAGE_DIR } from '../../cli/demo.ts';
import { runExport } from '../../pipeline/export/index.ts';
import { hashFraction, splitOf } from '../../pipeline/export/split.ts';
import { SAMPLE_INSTRUCTIONS } from '../../pipeline/builtin/instruction-grammar.ts';
import { runLocalPipeline, type LocalPipelineSummary } from '../../cli/run-local.ts';
import { readTarsWithPython } from '../export/fixture.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { runCli } from './cli-run.ts';
import { REDIS_URL, freshPrefix, tempDir, testConfig } from './pipeline-helpers.ts';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** photo.jpg (200 px), copy.jpg (the photo resized to 140 px, re-encoded at quality 60), other.jpg. */
async function writeImages(dir: string): Promise<void> {
  const photo = await sharp(path.join(DEMO_IMAGE_DIR, 'chelsea.png')).resize(200, 200, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer();
  writeFileSync(path.join(dir, 'photo.jpg'), photo);
  writeFileSync(path.join(dir, 'copy.jpg'), await sharp(photo).resize(140).jpeg({ quality: 60 }).toBuffer());
  writeFileSync(path.join(dir, 'other.jpg'), await sharp(path.join(DEMO_IMAGE_DIR, 'coffee.png')).resize(200, 200, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer());
}

const manifestLines = (images: string[], instructions = 4) =>
  images.flatMap((image) => SAMPLE_INSTRUCTIONS.slice(0, instructions).map((s) => JSON.stringify({ image, instruction: s.instruction, category: s.category })));

describe('near-duplicate-safe splits through the pipeline', () => {
  let t: TestDb;
  const tmp = tempDir('neardup');
  const cfg = testConfig(`${tmp.dir}/data`);
  let run: LocalPipelineSummary;
  let photoSha: string;
  let copySha: string;
  let otherSha: string;

  beforeAll(async () => {
    t = await createTestDb();
    await writeImages(tmp.dir);
    photoSha = sha(path.join(tmp.dir, 'photo.jpg'));
    copySha = sha(path.join(tmp.dir, 'copy.jpg'));
    otherSha = sha(path.join(tmp.dir, 'other.jpg'));
    run = await runLocalPipeline({
      db: t.db,
      blobs: new BlobStore(cfg.blobDir),
      config: cfg,
      redisUrl: REDIS_URL,
      manifestLines: manifestLines(['photo.jpg', 'copy.jpg', 'other.jpg']),
      baseDir: tmp.dir,
      candidates: 4,
      timeoutMs: 90_000,
    });
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
    tmp.cleanup();
  });

  it('groups the photo with its copy, at enqueue, and not with the other photo', async () => {
    expect(run.enqueue).toMatchObject({ added: 12, rejected: 0 });
    const r = await rows<{ sha256: string; near_dup_group: string; phash: string }>(t.db, sql`SELECT sha256, near_dup_group, phash::text FROM sources`);
    const bySha = new Map(r.map((x) => [x.sha256, x]));
    const canonical = photoSha < copySha ? photoSha : copySha;
    expect(bySha.get(photoSha)?.near_dup_group).toBe(canonical);
    expect(bySha.get(copySha)?.near_dup_group).toBe(canonical);
    expect(bySha.get(otherSha)?.near_dup_group).toBe(otherSha);
  });

  it('exports both into one split where their own hashes would straddle train and val', async () => {
    // a val fraction between the two files' own hash fractions: split by sha256, they straddle
    const valFraction = (hashFraction(photoSha) + hashFraction(copySha)) / 2;
    expect(splitOf(photoSha, valFraction)).not.toBe(splitOf(copySha, valFraction));
    const blobs = new BlobStore(cfg.blobDir);
    for (const kind of ['sft', 'dpo'] as const) {
      const out = path.join(tmp.dir, `out-${kind}`);
      const res = await runExport(t.db, blobs, { kind, outDir: out, shardSamples: 100, valFraction, format: 'webdataset', rubric: run.rubric, nearDupDistance: 6 });
      const shards = await readTarsWithPython(readdirSync(out).filter((f) => f.endsWith('.tar')).map((f) => path.join(out, f)));
      const records = shards.flatMap((s) => s.members.flatMap((m) => (m.json ? [m.json] : [])));
      const splitsOf = (source: string) => new Set(records.filter((j) => j.source_sha256 === source).map((j) => j.split));
      const photoSplits = splitsOf(photoSha);
      const copySplits = splitsOf(copySha);
      // both sources made samples, and every one of them sits in the group's one split
      expect(photoSplits.size).toBe(1);
      expect(copySplits).toEqual(photoSplits);
      const canonical = photoSha < copySha ? photoSha : copySha;
      expect([...photoSplits][0]).toBe(splitOf(canonical, valFraction));
      for (const j of records.filter((x) => x.source_sha256 === photoSha || x.source_sha256 === copySha)) expect(j.near_dup_group).toBe(canonical);
      // the shard files agree with the records: the group's samples are in shards of that split only
      const shardSplits = new Set(shards.filter((s) => s.members.some((m) => m.json && (m.json.source_sha256 === photoSha || m.json.source_sha256 === copySha))).map((s) => (path.basename(s.file).includes('-val-') ? 'val' : 'train')));
      expect(shardSplits).toEqual(photoSplits);
      const manifest = JSON.parse(readFileSync(res.manifestPath, 'utf8')) as { near_duplicates: Record<string, unknown> };
      expect(manifest.near_duplicates).toEqual({ distance: 6, groups: 1, sources: 2, largest: 2, split_by: 'near_dup_group' });
    }
  }, 60_000);

  it('reports the groups in status --json and the dashboard, and browses the near-duplicates of a source', async () => {
    const q = freshPrefix('neardup-status');
    try {
      const res = await runCli(['status', '--json'], { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: q.prefix, DATA_DIR: `${tmp.dir}/data` });
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout).nearDuplicates).toEqual({ distance: 6, groups: 1, sources: 2, largest: 2, unhashed: 0 });
    } finally {
      await q.cleanup();
    }
    const app = createDashboardApp({ db: t.db, config: cfg, blobs: new BlobStore(cfg.blobDir) });
    const overview = (await (await app.request('/api/overview')).json()) as { nearDuplicates: Record<string, number> };
    expect(overview.nearDuplicates).toMatchObject({ groups: 1, sources: 2, largest: 2 });
    const [photo] = await rows<{ id: number }>(t.db, sql`SELECT id FROM sources WHERE sha256 = ${photoSha}`);
    const page = (await (await app.request(`/api/candidates?near_dups_of=${photo!.id}&limit=200`)).json()) as { rows: { source_id: number }[] };
    const sourceIds = new Set(page.rows.map((r) => Number(r.source_id)));
    const [copy] = await rows<{ id: number }>(t.db, sql`SELECT id FROM sources WHERE sha256 = ${copySha}`);
    expect(sourceIds).toEqual(new Set([Number(photo!.id), Number(copy!.id)]));
    const all = (await (await app.request('/api/candidates?limit=200')).json()) as { rows: unknown[] };
    expect(all.rows.length).toBeGreaterThan(page.rows.length); // the other photo's candidates are left out
  });
});

describe('NEAR_DUP_DISTANCE and concurrent enqueues', () => {
  let t: TestDb;
  const tmp = tempDir('neardup-cli');

  beforeAll(async () => {
    t = await createTestDb();
    await writeImages(tmp.dir);
  });
  afterAll(async () => {
    await t?.cleanup();
    tmp.cleanup();
  });

  const groups = async () =>
    rows<{ n: number }>(t.db, sql`SELECT count(*)::int AS n FROM sources GROUP BY coalesce(near_dup_group, sha256) ORDER BY n DESC`);

  it('NEAR_DUP_DISTANCE=1 keeps a copy 2 bits away in a group of its own; near-dups at the default 6 joins them', async () => {
    const q = freshPrefix('neardup-zero');
    try {
      // this photo's resized copy is 2 bits of pHash away (not 0 like the cat's)
      const photo = await sharp(path.join(DEMO_IMAGE_DIR, 'coffee.png')).resize(200, 200, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer();
      writeFileSync(path.join(tmp.dir, 'cup.jpg'), photo);
      writeFileSync(path.join(tmp.dir, 'cup-copy.jpg'), await sharp(photo).resize(120).jpeg({ quality: 55 }).toBuffer());
      writeFileSync(path.join(tmp.dir, 'a.jsonl'), `${manifestLines(['cup.jpg', 'cup-copy.jpg'], 1).join('\n')}\n`);
      const env = { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: q.prefix, DATA_DIR: `${tmp.dir}/data` };
      const res = await runCli(['enqueue', '--manifest', path.join(tmp.dir, 'a.jsonl')], { ...env, NEAR_DUP_DISTANCE: '1' });
      expect(res.code, res.stderr).toBe(0);
      expect((await groups()).map((g) => g.n)).toEqual([1, 1]);
      const [d] = await rows<{ d: number }>(t.db, sql`SELECT bit_count((a.phash # b.phash)::bit(64))::int AS d FROM sources a, sources b WHERE a.id < b.id`);
      expect(d!.d).toBe(2);
      const regroup = await runCli(['near-dups', '--json'], env);
      expect(regroup.code, regroup.stderr).toBe(0);
      expect(JSON.parse(regroup.stdout)).toMatchObject({ distance: 6, groups: 1, largest: 2, changed: 1 });
      expect((await groups()).map((g) => g.n)).toEqual([2]);
      const bad = await runCli(['status', '--json'], { ...env, NEAR_DUP_DISTANCE: '70' });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^vibe-curate: NEAR_DUP_DISTANCE=70: /);
    } finally {
      await q.cleanup();
    }
  }, 60_000);

  it('two enqueue processes at once, one with the originals and one with their copies, still group every pair', async () => {
    const q = freshPrefix('neardup-race');
    try {
      await t.db.execute(sql`TRUNCATE sources, requests CASCADE`);
      // six photos and six resized, re-encoded copies
      const names = ['astronaut.png', 'camera.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'hubble_deep_field.jpg'];
      for (const [i, n] of names.entries()) {
        const photo = await sharp(path.join(DEMO_IMAGE_DIR, n)).resize(180, 180, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer();
        writeFileSync(path.join(tmp.dir, `p${i}.jpg`), photo);
        writeFileSync(path.join(tmp.dir, `c${i}.jpg`), await sharp(photo).resize(120).jpeg({ quality: 55 }).toBuffer());
      }
      writeFileSync(path.join(tmp.dir, 'orig.jsonl'), `${manifestLines(names.map((_, i) => `p${i}.jpg`), 1).join('\n')}\n`);
      writeFileSync(path.join(tmp.dir, 'copies.jsonl'), `${manifestLines(names.map((_, i) => `c${i}.jpg`), 1).join('\n')}\n`);
      const env = { DATABASE_URL: t.url, REDIS_URL, QUEUE_PREFIX: q.prefix, DATA_DIR: `${tmp.dir}/data` };
      const [a, b] = await Promise.all([
        runCli(['enqueue', '--manifest', path.join(tmp.dir, 'orig.jsonl')], env),
        runCli(['enqueue', '--manifest', path.join(tmp.dir, 'copies.jsonl')], env),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const pairs = await rows<{ same: boolean }>(
        t.db,
        sql`SELECT p.near_dup_group = c.near_dup_group AS same FROM sources p JOIN sources c ON c.origin LIKE 'c%' AND replace(c.origin, 'c', 'p') = p.origin
            WHERE p.origin LIKE 'p%'`,
      );
      expect(pairs).toHaveLength(6);
      expect(pairs.every((p) => p.same)).toBe(true);
      expect((await groups()).map((g) => g.n)).toEqual([2, 2, 2, 2, 2, 2]);
    } finally {
      await q.cleanup();
    }
  }, 90_000);
});
