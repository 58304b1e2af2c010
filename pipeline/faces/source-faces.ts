/**
 * A source's faces, searched once: the faces (score from FACE_SCORE_HIGH) and, when there is
 * none, the best candidate (from FACE_SCORE_LOW) that makes the source `uncertain`. This is what
 * the `source_faces` table keeps per (source, detector version), so the K edits of a request and
 * any later recheck reuse it instead of searching the source again.
 */
import type { DecodedImage } from '../images.ts';
import { FACE_SCORE_HIGH, type Box, type Face, type FaceDetector, type FaceSearch } from './blazeface.ts';

export interface SourceFaces {
  faces: Face[];
  /** The best candidate when `faces` is empty and one scored between the low and high score; else null. */
  uncertainFace: { box: Box; score: number } | null;
}

/** The detector version a source's faces are stored under: the models and passes, and the search mode. */
export function sourceFacesVersion(detector: FaceDetector, search: FaceSearch): string {
  return `${detector.version}/${search}`;
}

/** Searches the source once for faces and candidates. */
export async function findSourceFaces(detector: FaceDetector, img: DecodedImage, search: FaceSearch): Promise<SourceFaces> {
  const all = await detector.detect(img, { search, candidates: true });
  const faces = all.filter((f) => f.score >= FACE_SCORE_HIGH);
  let uncertainFace: SourceFaces['uncertainFace'] = null;
  if (faces.length === 0) {
    for (const c of all) if (!uncertainFace || c.score > uncertainFace.score) uncertainFace = { box: c.box, score: c.score };
  }
  return { faces, uncertainFace };
}
