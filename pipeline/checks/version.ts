/**
 * What a hard check runs with, and the check version those settings make. Kept apart from the
 * checks themselves so that reading the current check version (status, select, export) loads no
 * image or model code.
 */
import type { Config } from '../config.ts';
import { FAIL_SCORE as ARTIFACT_FAIL_SCORE, ARTIFACT_RULE_VERSION, type ArtifactMode } from './artifact-check.ts';
import { CHANGE_RULE_VERSION, MIN_REGION_FRACTION, NO_CHANGE_FRACTION } from './change-check.ts';
import { DETECTOR_VERSION, type FaceSearch } from '../faces/blazeface.ts';
import { faceRuleVersion, type FaceUncertain } from '../faces/face-check.ts';

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
   * Also search the whole edit like a source and list the faces found away from the source's
   * (slower; `inspect` uses it, so a person sees every face; the verdict is unchanged). Default:
   * the edit is measured around the source's faces (plus large faces anywhere), and not at all
   * when the source has none (`edit.faces` is then empty).
   */
  fullEditDetection?: boolean;
  /**
   * 'fine' (default): faces down to ~2 % of the long side are found (tiled proposals, about 5×
   * the cost of decoding the pair); 'fast': faces from ~5 % (whole-image proposals only).
   */
  faceSearch?: FaceSearch;
  /** How a source whose best face candidate is only likely (`uncertain`) is decided; default 'fail'. */
  faceUncertain?: FaceUncertain;
  /** The grid-artifact rule: 'on' (default) rejects a fail, 'record' only stores it, 'off' skips it. */
  artifactMode?: ArtifactMode;
}

/** The options the configuration gives for a request of `category` (what the worker and inspect both use). */
export function hardCheckOptionsFromConfig(checks: Config['checks'], category?: string): HardCheckOptions {
  return {
    faceIoUThreshold: checks.faceIoUThreshold,
    changePixelThreshold: checks.changePixelThreshold,
    maxImagePixels: checks.maxImagePixels,
    exemptFaceCheck: category !== undefined && category !== '' && checks.faceExemptCategories.includes(category),
    faceSearch: checks.faceSearch,
    faceUncertain: checks.faceUncertain,
    artifactMode: checks.artifactMode,
  };
}

/** One rule of the check version: its own version and every setting that can change its verdict. */
export interface CheckVersionPart {
  rule: string;
  params: Record<string, string | number | boolean>;
}

/**
 * The parts of the check version, in order: each hard check adds one entry here (its rule
 * version plus the detector version and thresholds it runs with). A change to any of them is a
 * new check version, which `vibe-curate recheck` applies to the existing candidates.
 */
export function checkVersionParts(opts: HardCheckOptions): CheckVersionPart[] {
  return [
    { rule: faceRuleVersion(opts.faceUncertain ?? 'fail'), params: { detector: `${DETECTOR_VERSION}/${opts.faceSearch ?? 'fine'}`, iou: opts.faceIoUThreshold } },
    { rule: CHANGE_RULE_VERSION, params: { px: opts.changePixelThreshold, noChange: NO_CHANGE_FRACTION, minRegion: MIN_REGION_FRACTION } },
    // off: no part, so a deployment that turns the rule off keeps its versions; record differs from on
    ...(opts.artifactMode === 'off' ? [] : [{ rule: ARTIFACT_RULE_VERSION, params: { mode: opts.artifactMode ?? 'on', fail: ARTIFACT_FAIL_SCORE } }]),
  ];
}

/**
 * The check version of `opts`: `rule(k=v,…)+rule(k=v,…)`, stored as every check row's
 * rule_version. Reads of checks (candidate status, selection) follow the current one.
 */
export function checkVersion(opts: HardCheckOptions): string {
  return checkVersionParts(opts)
    .map((p) => `${p.rule}(${Object.entries(p.params).map(([k, v]) => `${k}=${v}`).join(',')})`)
    .join('+');
}

