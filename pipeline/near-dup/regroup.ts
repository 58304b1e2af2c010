/**
 * `vibe-curate near-dups`: hashes sources stored before perceptual hashing existed, rewrites
 * every source's band keys for the current NEAR_DUP_DISTANCE, and recomputes every group from
 * scratch in memory (pipeline/near-dup/group.ts). Enqueue keeps groups current on its own; this
 * is for a changed distance, an upgraded database, or a check.
 */
import { readFile } from 'node:fs/promises';
import type { Db } from '../../db/client.ts';
import { nearDupStats, setGroups, setSourceHashes, streamSourceHashes, withGroupingLock, type NearDupStats } from '../../db/repositories/near-dup.repository.ts';
import type { BlobStore } from '../blobs.ts';
import { bandKeys } from './bands.ts';
import { groupNearDuplicates } from './group.ts';
import { fromSigned, phashOfImage, toSignedString } from './phash.ts';

export interface RegroupResult extends NearDupStats {
  distance: number;
  /** Sources hashed now (they had no hash). */
  hashed: number;
  /** Sources whose hash could not be computed (missing or unreadable blob). */
  unreadable: number;
  /** Sources whose group changed. */
  changed: number;
  ms: number;
}

export async function regroupAll(db: Db, blobs: BlobStore, distance: number): Promise<RegroupResult> {
  const t0 = performance.now();
  let hashed = 0;
  let unreadable = 0;
  for await (const page of streamSourceHashes(db)) {
    const todo = page.filter((s) => s.phash === null);
    const out: { id: number; phash: string; bands: number[] }[] = [];
    for (const s of todo) {
      try {
        const h = await phashOfImage(await readFile(blobs.path(s.blob)));
        out.push({ id: s.id, phash: toSignedString(h), bands: bandKeys(h, distance) });
      } catch {
        unreadable++;
      }
    }
    await setSourceHashes(db, out);
    hashed += out.length;
  }
  const changed = await withGroupingLock(db, async (tx) => {
    const ids: number[] = [];
    const shas: string[] = [];
    const current: (string | null)[] = [];
    const hi: number[] = [];
    const lo: number[] = [];
    const bands: { id: number; phash: string; bands: number[] }[] = [];
    for await (const page of streamSourceHashes(tx)) {
      for (const s of page) {
        if (s.phash === null) continue; // unreadable blob: left out of every group
        const h = fromSigned(s.phash);
        ids.push(s.id);
        shas.push(s.sha256);
        current.push(s.group);
        hi.push(h.hi);
        lo.push(h.lo);
        bands.push({ id: s.id, phash: s.phash, bands: bandKeys(h, distance) });
      }
    }
    await setSourceHashes(tx, bands);
    const { group } = groupNearDuplicates(Uint32Array.from(hi), Uint32Array.from(lo), distance);
    const canonical = new Map<number, string>();
    for (let i = 0; i < ids.length; i++) {
      const g = group[i]!;
      const c = canonical.get(g);
      if (c === undefined || shas[i]! < c) canonical.set(g, shas[i]!);
    }
    const changes: { id: number; group: string }[] = [];
    for (let i = 0; i < ids.length; i++) {
      const g = canonical.get(group[i]!)!;
      if (current[i] !== g) changes.push({ id: ids[i]!, group: g });
    }
    await setGroups(tx, changes);
    return changes.length;
  });
  return { distance, hashed, unreadable, changed, ...(await nearDupStats(db)), ms: performance.now() - t0 };
}
