/**
 * A small ledger written directly (no pipeline): N requests × K candidates with real image
 * blobs, checks with face boxes, judgments, an SFT pick and a DPO pair per request. For the
 * API tests of the dashboard; the end-to-end tests use a real pipeline run instead.
 */
import { getRubric } from '../../pipeline/judge/index.ts';
import sharp from 'sharp';
import type { BlobStore } from '../../pipeline/blobs.ts';
import type { Db } from '../../db/client.ts';
import { candidates, checks, judgments, pairs, requests, selections, sources } from '../../db/schema/index.ts';

export interface Seeded {
  requestIds: number[];
  candidateIds: number[];
  pairIds: number[];
}

async function png(w: number, h: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** Seeds `n` requests of `k` candidates; categories alternate 'color' / 'object'. */
export async function seedLedger(db: Db, blobs: BlobStore, o: { n: number; k: number; rubric?: string }): Promise<Seeded> {
  const rubric = o.rubric ?? 'viescore-v1';
  // The judge version a dashboard configured with this rubric reads (no JUDGE_URL: the built-in model name).
  const judge = { judgeModel: 'builtin-metric-v1', promptHash: getRubric(rubric).promptHash };
  const out: Seeded = { requestIds: [], candidateIds: [], pairIds: [] };
  for (let i = 0; i < o.n; i++) {
    const src = await blobs.put(await png(96, 64, [20 + i * 10, 80, 140]), 'png');
    const [s] = await db
      .insert(sources)
      .values({ sha256: src.sha256, blob: src.key, width: 96, height: 64, format: 'png', bytes: src.bytes, origin: `src-${i}.png` })
      .returning({ id: sources.id });
    const category = i % 2 === 0 ? 'color' : 'object';
    const [r] = await db
      .insert(requests)
      .values({
        sourceId: s!.id,
        instruction: i === 0 ? 'make the sky 100% purple_ish' : `edit number ${i}: make it ${category === 'color' ? 'warmer' : 'bigger'}`,
        category,
        candidatesWanted: o.k,
        model: 'test',
        baseSeed: 1000,
        status: 'selected',
      })
      .returning({ id: requests.id });
    out.requestIds.push(r!.id);
    const ids: number[] = [];
    for (let j = 0; j < o.k; j++) {
      const e = await blobs.put(await png(96, 64, [20 + i * 10, 80 + j * 30, 140]), 'png');
      const failsFace = j === o.k - 1;
      const [c] = await db
        .insert(candidates)
        .values({
          requestId: r!.id,
          seed: 1000 + j,
          sha256: e.sha256,
          blob: e.key,
          width: 96,
          height: 64,
          generator: 'test@local',
          latencyMs: 5,
          status: failsFace ? 'rejected' : 'judged',
          checkedAt: new Date(),
          judgedAt: failsFace ? null : new Date(),
        })
        .returning({ id: candidates.id });
      ids.push(c!.id);
      const iou = failsFace ? 0.5 : 0.95 - j * 0.01;
      await db.insert(checks).values({
        candidateId: c!.id,
        ruleVersion: 'checks-v1',
        faceStatus: failsFace ? 'fail' : 'pass',
        faceMinIou: iou,
        faceThreshold: 0.9,
        faceCount: 1,
        faces: { source: [{ box: [30, 10, 20, 24], score: 0.9 }], edit: [{ box: [31, 11, 20, 24], score: 0.9 }], matches: [{ source: 0, edit: 0, iou }] },
        detectorVersion: 'test',
        changeStatus: 'pass',
        changedFraction: 0.2,
        largestComponentShare: 0.9,
        change: {},
        passed: !failsFace,
        latencyMs: 3,
      });
      if (!failsFace) {
        const a = 8 - j;
        await db.insert(judgments).values({
          candidateId: c!.id,
          judgeModel: 'builtin-metric-v1',
          rubric,
          promptHash: judge.promptHash,
          ok: true,
          rawScores: { editing_success: a, over_editing: a, naturalness: a, artifacts: a },
          scores: [a, a],
          axisInstruction: a,
          axisPreservation: a - 0.5,
          axisQuality: a,
          aggregate: { SC: a, PQ: a, O: a },
          passesThresholds: a >= 6,
          rawReply: `{"score": [${a}, ${a}]}`,
          attempts: 1,
          latencyMs: 2,
        });
      }
    }
    out.candidateIds.push(...ids);
    await db.insert(selections).values({ requestId: r!.id, candidateId: ids[0]!, ruleVersion: 'sel-v1', rubric, ...judge, params: {}, score: 8 });
    const [p] = await db
      .insert(pairs)
      .values({ requestId: r!.id, chosenId: ids[0]!, rejectedId: ids[1]!, ruleVersion: 'sel-v1', rubric, ...judge, params: {}, margins: [1, 1], totalMargin: 2, rank: 1 })
      .returning({ id: pairs.id });
    out.pairIds.push(p!.id);
  }
  return out;
}
