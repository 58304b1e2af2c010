/**
 * Source images: one row per content hash. Inserting the same bytes twice finds the row that is
 * already there.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { sources } from '../schema/index.ts';

export interface NewSource {
  sha256: string;
  /** Blob key relative to the blob root. */
  blob: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  /** The manifest's image field (path or URL). */
  origin: string;
  /** 64-bit perceptual hash as a signed decimal (pipeline/near-dup/phash.ts) and its band keys. */
  phash?: string;
  phashBands?: number[];
}

export interface SourceRow extends NewSource {
  id: number;
}

/**
 * Inserts sources not yet known (by sha256) and returns the id of every given hash, whether
 * it was inserted now or before. One INSERT and at most one SELECT per call.
 */
export async function upsertSources(db: Db, list: readonly NewSource[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  if (!list.length) return ids;
  const unique = [...new Map(list.map((s) => [s.sha256, s])).values()];
  const inserted = await db
    .insert(sources)
    .values(unique.map((s) => ({ ...s, phash: s.phash === undefined ? null : BigInt(s.phash) })))
    .onConflictDoNothing({ target: sources.sha256 })
    .returning({ id: sources.id, sha256: sources.sha256 });
  for (const r of inserted) ids.set(r.sha256, r.id);
  const missing = unique.filter((s) => !ids.has(s.sha256)).map((s) => s.sha256);
  if (missing.length) {
    const found = await db.select({ id: sources.id, sha256: sources.sha256 }).from(sources).where(inArray(sources.sha256, missing));
    for (const r of found) ids.set(r.sha256, r.id);
  }
  return ids;
}

/** The id of a source by its hash, if known (lets enqueue skip re-storing a known image). */
export async function sourceIdsBySha(db: Db, shas: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!shas.length) return out;
  const found = await db.select({ id: sources.id, sha256: sources.sha256 }).from(sources).where(inArray(sources.sha256, [...new Set(shas)]));
  for (const r of found) out.set(r.sha256, r.id);
  return out;
}

/** One source by id. */
export async function getSource(db: Db, id: number): Promise<SourceRow | undefined> {
  const [r] = await db.select().from(sources).where(eq(sources.id, id));
  return r ? { id: r.id, sha256: r.sha256, blob: r.blob, width: r.width, height: r.height, format: r.format, bytes: r.bytes, origin: r.origin } : undefined;
}

/** Number of sources (status, tests). */
export async function countSources(db: Db): Promise<number> {
  const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(sources);
  return Number(r?.n ?? 0);
}
