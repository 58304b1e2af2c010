/**
 * A small curated ledger for export tests, inserted directly with drizzle: sources (real JPEG
 * and PNG blobs made with sharp), requests, candidates, checks, judgments, SFT selections, DPO
 * pairs and a few reviews. Also an independent tar reader: Python's `tarfile`.
 */
import { getRubric } from '../../pipeline/judge/index.ts';
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import type { Db } from '../../db/client.ts';
import { candidates, checks, judgments, pairs, requests, reviews, selections, sources } from '../../db/schema/index.ts';
import { BlobStore } from '../../pipeline/blobs.ts';

const run = promisify(execFile);

export const RUBRIC = 'viescore-v1';
/** The judge version of the fixture's judgments: what `export --rubric viescore-v1` reads without JUDGE_URL. */
export const JUDGE_MODEL = 'builtin-metric-v1';
export const PROMPT_HASH = getRubric(RUBRIC).promptHash;
export const RULE = 'select-v1';

export interface Ledger {
  blobs: BlobStore;
  root: string;
  requests: number;
  /** SFT samples expected with no filters (rejected reviews removed). */
  sftExpected: number;
  /** Candidate ids by (request index, seed). */
  candidateIds: number[][];
  pairIds: number[];
  requestIds: number[];
}

/** A small image whose bytes depend on `n` (distinct sha256 per n). */
export async function makeImage(n: number, format: 'jpeg' | 'png' = 'jpeg', size = 48): Promise<Buffer> {
  const raw = Buffer.alloc(size * size * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + n * 31 + ((i * n) % 13)) & 0xff;
  const img = sharp(raw, { raw: { width: size, height: size, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 80 }).toBuffer();
}

/**
 * Fills `db`: `nSources` sources, each with `perSource` requests; every request has 4
 * candidates (seeds 0–3) with descending axes, an SFT pick (the best seed) and two pairs.
 * Request 0's pick is rejected by a reviewer; request 1's pick is accepted.
 */
export async function fillLedger(db: Db, opts: { nSources?: number; perSource?: number; root?: string } = {}): Promise<Ledger> {
  const nSources = opts.nSources ?? 12;
  const perSource = opts.perSource ?? 2;
  const root = opts.root ?? (await mkdtemp(path.join(os.tmpdir(), 'vc-export-blobs-')));
  const blobs = new BlobStore(root);
  const candidateIds: number[][] = [];
  const pairIds: number[] = [];
  const requestIds: number[] = [];
  let img = 0;
  for (let s = 0; s < nSources; s++) {
    const format = s === 3 ? 'png' : 'jpeg'; // one PNG source: exported re-encoded as JPEG
    const bytes = await makeImage(1000 + s, format);
    const stored = await blobs.put(bytes, format === 'png' ? 'png' : 'jpg');
    const [src] = await db
      .insert(sources)
      .values({ sha256: stored.sha256, blob: stored.key, width: 48, height: 48, format, bytes: bytes.length, origin: `fixture/${s}.${format}` })
      .returning({ id: sources.id });
    for (let q = 0; q < perSource; q++) {
      const [req] = await db
        .insert(requests)
        .values({ sourceId: src!.id, instruction: `make it ${['red', 'blue', 'warm', 'old'][q % 4]} #${s}.${q}`, category: q % 2 ? 'color' : '', candidatesWanted: 4, model: 'm', baseSeed: 0, status: 'selected' })
        .returning({ id: requests.id });
      requestIds.push(req!.id);
      const ids: number[] = [];
      for (let seed = 0; seed < 4; seed++) {
        const eb = await blobs.put(await makeImage(img++), 'jpg');
        const [cand] = await db
          .insert(candidates)
          .values({ requestId: req!.id, seed, sha256: eb.sha256, blob: eb.key, width: 48, height: 48, generator: 'builtin@local', latencyMs: 5, status: 'judged' })
          .returning({ id: candidates.id });
        ids.push(cand!.id);
        const hasFaces = seed % 2 === 0;
        await db.insert(checks).values({
          candidateId: cand!.id,
          ruleVersion: 'checks-v1',
          faceStatus: hasFaces ? 'pass' : 'no_faces',
          faceMinIou: hasFaces ? 0.95 : null,
          faceThreshold: 0.9,
          faceCount: hasFaces ? 1 : 0,
          faces: {},
          detectorVersion: 'blazeface',
          changeStatus: 'pass',
          changedFraction: 0.25,
          largestComponentShare: 0.5,
          change: {},
          passed: true,
          latencyMs: 3,
        });
        const base = 9 - seed * 1.5; // seed 0 best, strictly dominating the next seeds
        await db.insert(judgments).values({
          candidateId: cand!.id,
          judgeModel: JUDGE_MODEL,
          rubric: RUBRIC,
          promptHash: PROMPT_HASH,
          ok: true,
          rawScores: { editing_success: base, over_editing: base, naturalness: base, artifacts: base },
          scores: [base, base],
          axisInstruction: base,
          axisPreservation: base - 0.5,
          axisQuality: base - (q % 2),
          aggregate: { SC: base, PQ: base, O: base },
          passesThresholds: true,
          attempts: 1,
          latencyMs: 4,
        });
      }
      candidateIds.push(ids);
      await db.insert(selections).values({ requestId: req!.id, candidateId: ids[0]!, ruleVersion: RULE, rubric: RUBRIC, judgeModel: JUDGE_MODEL, promptHash: PROMPT_HASH, params: {}, score: 9 });
      for (const [w, l, rank] of [[0, 2, 1], [1, 3, 2]] as const) {
        const [p] = await db
          .insert(pairs)
          .values({ requestId: req!.id, chosenId: ids[w]!, rejectedId: ids[l]!, ruleVersion: RULE, rubric: RUBRIC, judgeModel: JUDGE_MODEL, promptHash: PROMPT_HASH, params: {}, margins: [3, 3, 3], totalMargin: 9, rank })
          .returning({ id: pairs.id });
        pairIds.push(p!.id);
      }
    }
  }
  // request 0: the SFT pick is rejected by a reviewer (never exported; its pair with chosen seed 0 too)
  await db.insert(reviews).values({ candidateId: candidateIds[0]![0]!, reviewer: 'ann', verdict: 'accept' });
  await db.insert(reviews).values({ candidateId: candidateIds[0]![0]!, reviewer: 'bob', verdict: 'reject' });
  // request 1: the SFT pick is accepted; its pair (0, 2) is accepted by the pair's own review
  await db.insert(reviews).values({ candidateId: candidateIds[1]![0]!, reviewer: 'ann', verdict: 'accept' });
  await db.insert(reviews).values({ pairId: pairIds[2]!, reviewer: 'ann', verdict: 'accept' });
  // request 2: the pair (1, 3) is rejected at pair level
  await db.insert(reviews).values({ pairId: pairIds[5]!, reviewer: 'ann', verdict: 'reject' });
  return { blobs, root, requests: nSources * perSource, sftExpected: nSources * perSource - 1, candidateIds, pairIds, requestIds };
}

export interface PyMember {
  name: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  type: string;
  /** Bytes 257–265 of the member's header: `ustar\u000000` for POSIX ustar. */
  magic: string;
  /** sha256 of the member's bytes. */
  sha256: string;
  /** Parsed content of `.json` members; text of `.txt` members; JPEG magic check of `.jpg`. */
  json?: Record<string, unknown>;
  text?: string;
  jpeg?: boolean;
}

export interface PyShard {
  file: string;
  size: number;
  sha256: string;
  members: PyMember[];
}

const PY = `
import hashlib, json, sys, tarfile
out = []
for path in sys.argv[1:]:
    data = open(path, 'rb').read()
    members = []
    with tarfile.open(path, 'r:') as tf:
        for m in tf.getmembers():
            body = tf.extractfile(m).read() if m.isfile() else b''
            e = {'name': m.name, 'size': m.size, 'mode': m.mode, 'uid': m.uid, 'gid': m.gid,
                 'uname': m.uname, 'gname': m.gname, 'mtime': m.mtime, 'type': m.type.decode('ascii', 'replace'),
                 'magic': data[m.offset + 257:m.offset + 265].decode('latin-1'),
                 'sha256': hashlib.sha256(body).hexdigest()}
            if m.name.endswith('.json'): e['json'] = json.loads(body.decode('utf-8'))
            if m.name.endswith('.txt'): e['text'] = body.decode('utf-8')
            if m.name.endswith('.jpg'): e['jpeg'] = body[:3] == b'\\xff\\xd8\\xff'
            members.append(e)
    out.append({'file': path, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'members': members})
print(json.dumps(out))
`;

/** Reads tar files with Python's standard `tarfile` (an implementation independent of ours). */
export async function readTarsWithPython(files: string[]): Promise<PyShard[]> {
  if (!files.length) return [];
  const { stdout } = await run('/usr/bin/python3', ['-c', PY, ...files], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as PyShard[];
}
