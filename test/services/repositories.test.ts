/**
 * The pipeline's repositories on both drivers (Postgres through node-postgres, and PGlite):
 * request inserts keep any instruction text byte for byte and are idempotent; arrays of ids and
 * of text go in as bound parameters whatever they hold; a request settles exactly once and only when every
 * candidate is terminal; one open failure per (stage, subject).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../db/client.ts';
import { countPastStage, insertCandidates, moveCandidate, reopenForJudging } from '../../db/repositories/candidates.repository.ts';
import { openFailures, recordFailure, resolveFailure } from '../../db/repositories/failures.repository.ts';
import { getFunnel } from '../../db/repositories/funnel.repository.ts';
import { setGroups } from '../../db/repositories/near-dup.repository.ts';
import { insertRequests, markRequestGenerated, runProgress, settleAllDone, settleRequest } from '../../db/repositories/requests.repository.ts';
import { upsertSources } from '../../db/repositories/sources.repository.ts';
import type { DbHandle } from '../../db/client.ts';
import { createPgliteDb, createTestDb } from '../helpers/db.ts';

describe.each(['postgres', 'pglite'] as const)('pipeline repositories on %s', (kind) => {
  let t: DbHandle & { cleanup?: () => Promise<void> };
  let sourceId: number;
  beforeAll(async () => {
    t = kind === 'postgres' ? await createTestDb() : await createPgliteDb();
    const ids = await upsertSources(t.db, [{ sha256: 'a'.repeat(64), blob: `aa/${'a'.repeat(64)}.png`, width: 8, height: 8, format: 'png', bytes: 10, origin: 'a.png' }]);
    sourceId = ids.get('a'.repeat(64))!;
  });
  afterAll(async () => (t?.cleanup ? t.cleanup() : t?.close()));

  it('inserts requests with any instruction text, once', async () => {
    const texts = ['say "hi", {ok}', 'back\\slash \\" mixed', 'NULL', 'line\nbreak\ttab', 'ünïcødé ✓ 🎨', ' ', 'a,b}{c'];
    const list = texts.map((instruction, i) => ({ sourceId, instruction, category: `c${i}`, candidatesWanted: 2, model: 'm', baseSeed: i }));
    const first = await insertRequests(t.db, list);
    expect(first.map((r) => r.created)).toEqual(texts.map(() => true));
    const stored = await rows<{ id: number; instruction: string }>(t.db, sql`SELECT id, instruction FROM requests ORDER BY id`);
    expect(stored.map((r) => r.instruction).sort()).toEqual([...texts].sort());
    const again = await insertRequests(t.db, [...list, list[0]!]);
    expect(again.map((r) => r.created)).toEqual([...texts.map(() => false), false]);
    expect(again.map((r) => r.id)).toEqual([...first.map((r) => r.id), first[0]!.id]);
  });

  it('settles a request once, only when every candidate is judged, rejected or failed', async () => {
    const [req] = await insertRequests(t.db, [{ sourceId, instruction: 'settle me', category: '', candidatesWanted: 3, model: 'm', baseSeed: 1 }]);
    const id = req!.id;
    expect(await settleRequest(t.db, id)).toBe(false); // pending, no candidates
    const cand = (seed: number) => ({ requestId: id, seed, sha256: String(seed).padStart(64, '0'), blob: 'x', width: 1, height: 1, generator: 'g', latencyMs: 1 });
    expect(await insertCandidates(t.db, [cand(1), cand(2), cand(3)])).toBe(3);
    expect(await insertCandidates(t.db, [cand(1), cand(2), cand(3)])).toBe(0);
    await markRequestGenerated(t.db, id);
    const ids = (await rows<{ id: number }>(t.db, sql`SELECT id FROM candidates WHERE request_id = ${id} ORDER BY seed`)).map((r) => r.id);
    await moveCandidate(t.db, ids[0]!, ['generated'], 'rejected');
    await moveCandidate(t.db, ids[1]!, ['generated'], 'checked');
    await moveCandidate(t.db, ids[1]!, ['checked'], 'judged');
    expect(await settleRequest(t.db, id)).toBe(false); // one still generated
    expect(await settleAllDone(t.db)).not.toContain(id);
    await moveCandidate(t.db, ids[2]!, ['generated'], 'failed');
    // With JUDGE_REJECTED the rejected candidate is still to be judged; without it, it is terminal.
    expect(await settleRequest(t.db, id, { judgeRejected: true })).toBe(false);
    const off = { judgeRejected: false };
    const results = await Promise.all([settleRequest(t.db, id, off), settleRequest(t.db, id, off), settleRequest(t.db, id, off)]);
    expect(results.filter((x) => x === 'settled')).toHaveLength(1);
    // Settled and not yet selected: a later caller (a retried job) is told its selection is still due.
    expect(await settleRequest(t.db, id, off)).toBe('due');
    const [r] = await rows<{ status: string; settled: boolean }>(t.db, sql`SELECT status, settled_at IS NOT NULL AS settled FROM requests WHERE id = ${id}`);
    expect(r).toEqual({ status: 'settled', settled: true });
    expect((await getFunnel(t.db)).requests.settled).toBe(1);
  });

  it('keeps one open failure per stage and subject, and a null id for a subject that does not exist', async () => {
    expect(await recordFailure(t.db, { stage: 'check', subject: 'candidate:999999', candidateId: 999999, attempts: 2, error: 'boom\nsecond line' })).toBe(true);
    expect(await recordFailure(t.db, { stage: 'check', subject: 'candidate:999999', candidateId: 999999, attempts: 3, error: 'again' })).toBe(false);
    const open = await openFailures(t.db, { stage: 'check' });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ subject: 'candidate:999999', attempts: 2, error: 'boom second line' });
    expect(open[0]!.candidateId).toBeUndefined();
    expect(await resolveFailure(t.db, open[0]!.id)).toBe(true);
    expect(await resolveFailure(t.db, open[0]!.id)).toBe(false);
    expect(await recordFailure(t.db, { stage: 'check', subject: 'candidate:999999', attempts: 1, error: 'after resolve' })).toBe(true);
    expect((await getFunnel(t.db)).failures).toEqual({ total: 1, byStage: { check: 1 } });
  });

  it('passes id and text arrays as one parameter each, whatever the text holds', async () => {
    const groups = ['plain', 'say "hi"', 'back\\slash', 'a,b', '{braced}', 'NULL', '', ' padded '];
    const list = groups.map((g, i) => ({ sha256: String(i).padStart(64, 'b'), blob: `bb/${i}.png`, width: 8, height: 8, format: 'png', bytes: 10, origin: `${g}.png` }));
    const ids = [...(await upsertSources(t.db, list)).values()];
    await setGroups(t.db, ids.map((id, i) => ({ id, group: groups[i]! })));
    const stored = await rows<{ id: number; g: string }>(t.db, sql`SELECT id, near_dup_group AS g FROM sources WHERE id = ANY(${sql.param(ids)}::bigint[]) ORDER BY id`);
    expect(stored.map((r) => [Number(r.id), r.g])).toEqual(ids.map((id, i) => [id, groups[i]]).sort((a, b) => Number(a[0]) - Number(b[0])));

    const [req] = await insertRequests(t.db, [{ sourceId, instruction: 'reopen me', category: '', candidatesWanted: 2, model: 'm', baseSeed: 2 }]);
    const cand = (seed: number) => ({ requestId: req!.id, seed, sha256: String(seed).padStart(64, 'c'), blob: 'x', width: 1, height: 1, generator: 'g', latencyMs: 1 });
    await insertCandidates(t.db, [cand(1), cand(2)]);
    const cids = (await rows<{ id: number }>(t.db, sql`SELECT id FROM candidates WHERE request_id = ${req!.id} ORDER BY seed`)).map((r) => Number(r.id));
    expect(await moveCandidate(t.db, cids[0]!, ['checked', 'generated'], 'checked')).toBe(true);
    expect(await moveCandidate(t.db, cids[0]!, ['generated', 'rejected'], 'judged')).toBe(false);
    expect(await moveCandidate(t.db, cids[0]!, ['checked'], 'judged')).toBe(true);
    expect(await countPastStage(t.db, cids, 'judge')).toBe(1);
    expect((await reopenForJudging(t.db, [...cids, 999_999])).map(Number)).toEqual([cids[0]]);
    expect(await countPastStage(t.db, cids, 'judge')).toBe(0);
    expect((await runProgress(t.db, [req!.id])).candidates).toBe(2);
  });
});
