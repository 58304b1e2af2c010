/**
 * The hard checks on one (source, edit) pair: the face IoU rule and the change rule. The check
 * worker and `vibe-curate inspect` both call `runHardChecks`, so a user sees exactly what the
 * pipeline decided. Bad images throw ImageError naming the subject (file path or blob id).
 */
import { changeCheck, type ChangeCheckResult } from './change-check.ts';
import { getFaceDetector, type Box, type Face, type FaceSearch } from './faces/blazeface.ts';
import { faceCheck, mapFace, type FaceCheckResult } from './faces/face-check.ts';
import { decodeImage, type DecodedImage } from './images.ts';

export interface HardCheckOptions {
  /** Minimum IoU per source face (0–1); 0.9 by default in config. */
  faceIoUThreshold: number;
  /** Per-channel difference (0–255) above which a pixel counts as changed. */
  changePixelThreshold: number;
  /** Decompression-bomb limit, pixels of either image. */
  maxImagePixels: number;
  /** The request's category is exempt from the face rule: faces are still detected and recorded. */
  exemptFaceCheck?: boolean;
  /**
   * Search the whole edit for small faces even where the source has none (slower; `inspect` uses
   * it). Default: small faces are looked for in the edit only where the source has faces.
   */
  fullEditDetection?: boolean;
  /**
   * 'fine' (default): faces down to ~2 % of the long side are found (tiled proposals, about 5×
   * the cost of decoding the pair); 'fast': faces from ~5 % (whole-image proposals only).
   */
  faceSearch?: FaceSearch;
}

export interface ReportFace {
  box: [number, number, number, number];
  score: number;
}

export interface HardCheckReport {
  source: { width: number; height: number; faces: ReportFace[] };
  /** Edit size is its own; its face boxes are in source pixels. */
  edit: { width: number; height: number; faces: ReportFace[] };
  faceCheck: FaceCheckResult;
  changeCheck: ChangeCheckResult;
  faceCheckExempt: boolean;
  /** Face rule not failed (or exempt) and the change rule passed. */
  passed: boolean;
}

/** Decodes both images once, runs both rules, and returns the verdict with its evidence. */
export async function runHardChecks(
  sourceBytes: Buffer,
  editBytes: Buffer,
  opts: HardCheckOptions,
  subjects: { source?: string; edit?: string } = {},
): Promise<HardCheckReport> {
  const [src, edit] = await Promise.all([
    decodeImage(sourceBytes, subjects.source ?? 'source', { maxPixels: opts.maxImagePixels }),
    decodeImage(editBytes, subjects.edit ?? 'edit', { maxPixels: opts.maxImagePixels }),
  ]);
  return checkDecoded(src, edit, opts);
}

/** `runHardChecks` on images already decoded (for callers that keep the pixels). */
export async function checkDecoded(src: DecodedImage, edit: DecodedImage, opts: HardCheckOptions): Promise<HardCheckReport> {
  const detector = await getFaceDetector();
  const search = opts.faceSearch ?? 'fine';
  const sourceFaces = await detector.detect(src, { search });
  const editFaces = await detector.detect(edit, { search, near: editNear(sourceFaces, src, edit, opts) });
  const fc = faceCheck(sourceFaces, editFaces, src, edit, { threshold: opts.faceIoUThreshold, detectorVersion: `${detector.version}/${search}` });
  const cc = await changeCheck(src, edit, { pixelThreshold: opts.changePixelThreshold });
  const exempt = opts.exemptFaceCheck ?? false;
  return {
    source: { width: src.width, height: src.height, faces: sourceFaces.map(reportFace) },
    edit: { width: edit.width, height: edit.height, faces: fc.editFacesInSourceCoords.map(reportFace) },
    faceCheck: fc,
    changeCheck: cc,
    faceCheckExempt: exempt,
    passed: (exempt || fc.status !== 'fail') && cc.status === 'pass',
  };
}

/**
 * Where the edit's close look goes: at each source face, mapped into edit pixels (a face that
 * stayed put or moved under a face width is found there). With no source faces the rule is
 * `no_faces` whatever the edit holds, so only the cheap whole-image pass runs on the edit.
 */
function editNear(sourceFaces: Face[], src: DecodedImage, edit: DecodedImage, opts: HardCheckOptions): Box[] | undefined {
  if (opts.fullEditDetection) return undefined;
  return sourceFaces.map((f) => mapFace(f, src, edit).box);
}

function reportFace(f: Face): ReportFace {
  return { box: f.box.map((v) => Math.round(v * 100) / 100) as ReportFace['box'], score: Math.round(f.score * 10_000) / 10_000 };
}
