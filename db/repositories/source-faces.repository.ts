/**
 * A source's faces, kept once per (source, detector version): the check stage reads them before
 * it would search the source, and stores what a search found. Concurrent checks of one source
 * may both search; the first row stays (the same detector gives the same faces).
 */
import { and, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { sourceFaces } from '../schema/index.ts';

/**
 * A source's faces as stored: the JSON the check stage wrote (pipeline/faces/source-faces.ts's
 * SourceFaces), given back as written; the repository does not look inside.
 */
export interface StoredSourceFaces {
  faces: unknown[];
  uncertainFace: unknown;
}

/** The stored faces of a source for this detector version, or undefined when it was never searched with it. */
export async function getSourceFaces(db: Db, sourceId: number, detectorVersion: string): Promise<StoredSourceFaces | undefined> {
  const [r] = await db
    .select({ faces: sourceFaces.faces, uncertainFace: sourceFaces.uncertainFace })
    .from(sourceFaces)
    .where(and(eq(sourceFaces.sourceId, sourceId), eq(sourceFaces.detectorVersion, detectorVersion)));
  if (!r) return undefined;
  return { faces: r.faces as unknown[], uncertainFace: r.uncertainFace ?? null };
}

/** Stores a source's faces for this detector version; a row already there is kept. */
export async function putSourceFaces(db: Db, sourceId: number, detectorVersion: string, found: StoredSourceFaces): Promise<void> {
  await db
    .insert(sourceFaces)
    .values({ sourceId, detectorVersion, faces: found.faces, uncertainFace: found.uncertainFace })
    .onConflictDoNothing();
}
