/**
 * The hard checks on one (source, edit) pair: the face IoU rule, the change rule and the
 * grid-artifact rule. The check
 * worker and `vibe-curate inspect` both call `runHardChecks`, so a user sees exactly what the
 * pipeline decided. Bad images throw ImageError naming the subject (file path or blob id).
 */
import { createHash } from 'node:crypto';
import { artifactCheck, type ArtifactCheckResult } from './artifact-check.ts';
import { changeCheck, type ChangeCheckResult } from './change-check.ts';
import { getFaceDetector, type Box, type DetectOptions, type Face, type FaceSearch } from '../faces/blazeface.ts';
import { boxIoU, editDetectionsMatter, faceCheckRegistered, faceVerdictFails, mapFace, type FaceCheckResult } from '../faces/face-check.ts';
import { registerFaces } from '../faces/register.ts';
import { findSourceFaces, sourceFacesVersion, type SourceFaces } from '../faces/source-faces.ts';
import { decodeImage, type DecodedImage } from '../images.ts';
import type { HardCheckOptions } from './version.ts';

export { checkVersion, checkVersionParts, hardCheckOptionsFromConfig, type CheckVersionPart, type HardCheckOptions } from './version.ts';
export { ARTIFACT_RULE_VERSION } from './artifact-check.ts';

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
  artifactCheck: ArtifactCheckResult;
  faceCheckExempt: boolean;
  /** Face rule not failed (or exempt), the change rule passed, and no enforced artifact failure. */
  passed: boolean;
}

/**
 * The source's faces when already known (the `source_faces` table), and a callback that is given
 * them when they had to be searched (to store them).
 */
export interface KnownSourceFaces {
  known?: SourceFaces;
  found?: (faces: SourceFaces, detectorVersion: string) => Promise<void>;
}

/** The detector version the source faces of a check are stored under (the models, passes and search mode). */
export async function sourceFacesKey(opts: HardCheckOptions): Promise<string> {
  return sourceFacesVersion(await getFaceDetector(), opts.faceSearch ?? 'fine');
}

/** Decodes both images once, runs the rules, and returns the verdict with its evidence. */
export async function runHardChecks(
  sourceBytes: Buffer,
  editBytes: Buffer,
  opts: HardCheckOptions,
  subjects: { source?: string; edit?: string } = {},
  sourceFaces: KnownSourceFaces = {},
): Promise<HardCheckReport> {
  const search = opts.faceSearch ?? 'fine';
  const [source, edit] = await Promise.all([
    cachedSource(sourceBytes, subjects.source ?? 'source', opts.maxImagePixels),
    decodeImage(editBytes, subjects.edit ?? 'edit', { maxPixels: opts.maxImagePixels }),
  ]);
  let faces = source.faces[search];
  if (!faces && sourceFaces.known) faces = source.faces[search] = Promise.resolve(sourceFaces.known);
  if (!faces) {
    const found = getFaceDetector().then(async (d) => {
      const f = await findSourceFaces(d, source.img, search);
      await sourceFaces.found?.(f, sourceFacesVersion(d, search));
      return f;
    });
    source.faces[search] = faces = found;
    found.catch(() => {
      if (source.faces[search] === found) delete source.faces[search];
    });
  }
  return checkDecoded(source.img, edit, opts, await faces);
}

/**
 * `runHardChecks` on images already decoded (for callers that keep the pixels). `sourceFaces`:
 * the source's detections when already known (same search mode).
 */
export async function checkDecoded(src: DecodedImage, edit: DecodedImage, opts: HardCheckOptions, known?: SourceFaces): Promise<HardCheckReport> {
  const detector = await getFaceDetector();
  const search = opts.faceSearch ?? 'fine';
  known ??= await findSourceFaces(detector, src, search);
  const sourceFaces = known.faces;
  const changed = changeCheck(src, edit, { pixelThreshold: opts.changePixelThreshold });
  // Each source face registered in the edit: the IoU measures the edit, not two detections' jitter.
  // (Synchronous, so it runs while sharp's resize for the change check, if any, goes on off this thread.)
  const regs = registerFaces(src, edit, sourceFaces.map((f) => f.box));
  // The edit is searched on the source faces' crops when its detections can change the verdict
  // (a face to confirm, or one for the detection-only fallback), or when asked to
  // (fullEditDetection, which also adds every other face a full search finds, without changing
  // what the rule sees). With no source faces the rule is `no_faces` whatever the edit holds.
  const near = editNear(sourceFaces, src, edit);
  const editSearched = near.length > 0 && (opts.fullEditDetection === true || editDetectionsMatter(regs));
  const editFaces = editSearched ? await detector.detect(edit, { search, near }) : [];
  if (opts.fullEditDetection) {
    for (const f of await detector.detect(edit, { search })) if (!editFaces.some((e) => boxIoU(e.box, f.box) > 0)) editFaces.push(f);
  }
  const uncertain = opts.faceUncertain ?? 'fail';
  const fc = faceCheckRegistered(sourceFaces, editFaces, regs, src, edit, {
    threshold: opts.faceIoUThreshold,
    detectorVersion: sourceFacesVersion(detector, search),
    uncertain,
    uncertainFace: known.uncertainFace,
    editSearched: editSearched || opts.fullEditDetection === true,
  });
  const cc = await changed;
  const ac = artifactCheck(src, edit, { changeBox: cc.largestComponentBox, faceBoxes: sourceFaces.map((f) => f.box) }, opts.artifactMode ?? 'on');
  const exempt = opts.exemptFaceCheck ?? false;
  return {
    source: { width: src.width, height: src.height, faces: sourceFaces.map(reportFace) },
    edit: { width: edit.width, height: edit.height, faces: fc.editFacesInSourceCoords.map(reportFace) },
    faceCheck: fc,
    changeCheck: cc,
    artifactCheck: ac,
    faceCheckExempt: exempt,
    passed: (exempt || !faceVerdictFails(fc.status, uncertain)) && cc.status === 'pass' && !(ac.enforced && ac.status === 'fail'),
  };
}

interface SourceEntry {
  img: DecodedImage;
  faces: Partial<Record<FaceSearch, Promise<SourceFaces>>>;
}

/**
 * The K candidates of a request share one source, and their checks usually run back to back:
 * the decoded source and its faces are kept for the last SOURCE_CACHE_SIZE sources (by content
 * hash and pixel limit), so the source is decoded and searched once per request, not K times.
 */
const SOURCE_CACHE_SIZE = 4;
const SOURCE_CACHE_MAX_PIXELS = 8_000_000; // 8 MP (24 MB of RGB): larger sources are not kept
const sourceCache = new Map<string, Promise<SourceEntry>>();

/** Forgets the kept sources (benchmarks measuring cold checks; tests). */
export function clearSourceCache(): void {
  sourceCache.clear();
}

async function cachedSource(bytes: Buffer, subject: string, maxPixels: number): Promise<SourceEntry> {
  const key = `${createHash('sha256').update(bytes).digest('hex')}:${maxPixels}`;
  let entry = sourceCache.get(key);
  if (entry) {
    sourceCache.delete(key); // most recently used goes last
  } else {
    entry = decodeImage(bytes, subject, { maxPixels }).then((img) => {
      if (img.width * img.height > SOURCE_CACHE_MAX_PIXELS) sourceCache.delete(key);
      return { img, faces: {} };
    });
    entry.catch(() => sourceCache.delete(key)); // a bad image is not kept (its error names this subject)
  }
  sourceCache.set(key, entry);
  while (sourceCache.size > SOURCE_CACHE_SIZE) sourceCache.delete(sourceCache.keys().next().value!);
  return entry;
}

/**
 * Where the edit's close look goes: the crops that measured the source's faces, mapped into edit
 * pixels (a face that stayed put gives the same box; one that moved under a face width is still
 * found), plus large faces anywhere.
 */
function editNear(sourceFaces: Face[], src: DecodedImage, edit: DecodedImage): NonNullable<DetectOptions['near']> {
  const sx = edit.width / src.width;
  const sy = edit.height / src.height;
  return sourceFaces.map((f) => ({
    box: mapFace(f, src, edit).box,
    ...(f.crop ? { crop: [f.crop[0] * sx, f.crop[1] * sy, f.crop[2] * sx, f.crop[3] * sy] as Box } : {}),
  }));
}

function reportFace(f: Face): ReportFace {
  return { box: f.box.map((v) => Math.round(v * 100) / 100) as ReportFace['box'], score: Math.round(f.score * 10_000) / 10_000 };
}
