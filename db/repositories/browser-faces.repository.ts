/**
 * Browser face detections (MediaPipe in the request view): the server's faces of an image to
 * compare them with, and one row per image and model version (a re-run replaces it).
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { browserFaces } from '../schema/index.ts';

export type ImageKind = 'source' | 'candidate';
type Box = [number, number, number, number];

/**
 * The server's face boxes of an image, in source pixels: a source's from the newest check of
 * any of its candidates; a candidate's from its newest check (the edit's faces, mapped into
 * source pixels). `null` when the image does not exist; `checked` false when no check has run.
 */
export async function serverFaces(db: Db, kind: ImageKind, id: number): Promise<{ boxes: Box[]; checked: boolean } | null> {
  const [r] =
    kind === 'source'
      ? await rows<{ exists: boolean; faces: { source?: { box: Box }[] } | null }>(
          db,
          sql`SELECT EXISTS (SELECT 1 FROM sources WHERE id = ${id}) AS exists,
                     (SELECT k.faces FROM checks k JOIN candidates c ON c.id = k.candidate_id JOIN requests r ON r.id = c.request_id
                      WHERE r.source_id = ${id} ORDER BY k.id DESC LIMIT 1) AS faces`,
        )
      : await rows<{ exists: boolean; faces: { edit?: { box: Box }[] } | null }>(
          db,
          sql`SELECT EXISTS (SELECT 1 FROM candidates WHERE id = ${id}) AS exists,
                     (SELECT k.faces FROM checks k WHERE k.candidate_id = ${id} ORDER BY k.id DESC LIMIT 1) AS faces`,
        );
  if (!r?.exists) return null;
  const list = (kind === 'source' ? (r.faces as { source?: { box: Box }[] } | null)?.source : (r.faces as { edit?: { box: Box }[] } | null)?.edit) ?? [];
  return { boxes: list.map((f) => f.box), checked: r.faces !== null };
}

export type NewBrowserFaces = typeof browserFaces.$inferInsert;

/** Stores one image's browser result; the same image and model version again replaces it. */
export async function upsertBrowserFaces(db: Db, row: NewBrowserFaces): Promise<void> {
  await db
    .insert(browserFaces)
    .values(row)
    .onConflictDoUpdate({
      target: [browserFaces.imageKind, browserFaces.imageId, browserFaces.modelVersion],
      set: {
        model: row.model,
        faces: row.faces,
        faceCount: row.faceCount,
        serverFaceCount: row.serverFaceCount,
        disagrees: row.disagrees,
        comparison: row.comparison,
        createdAt: sql`now()`,
      },
    });
}

/** SQL condition (candidates `c`, requests `r`): the candidate or its source has a browser result that disagrees. */
export const browserDisagreesCondition = sql`EXISTS (SELECT 1 FROM browser_faces bf WHERE bf.disagrees AND (
  (bf.image_kind = 'candidate' AND bf.image_id = c.id) OR (bf.image_kind = 'source' AND bf.image_id = r.source_id)))`;
