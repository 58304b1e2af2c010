/**
 * `vibe-curate inspect --source FILE --edit FILE [--instruction TEXT] [--category C] [--judge] [--json]`:
 * the hard checks (and optionally the judge) on one triplet, through the same `runHardChecks`
 * the check worker uses. Bad images end as `vibe-curate: FILE: why` with exit code 2.
 */
import type { Command } from 'commander';
import { hardCheckOptionsFromConfig, runHardChecks, type HardCheckReport } from '../pipeline/checks/index.ts';
import type { Config } from '../pipeline/config.ts';
import { InputError } from '../pipeline/errors/index.ts';
import { readImageFile } from '../pipeline/images.ts';
import type { Judgment } from '../pipeline/judge/index.ts';
import { createJudges } from '../workers/judges.ts';
import type { CliContext } from './context.ts';

export interface InspectOptions {
  source: string;
  edit: string;
  instruction?: string;
  category?: string;
  judge?: boolean;
}

/** What `inspect --json` prints (ARCHITECTURE.md, stable: fields are only ever added). */
export interface InspectResult {
  source: HardCheckReport['source'];
  edit: HardCheckReport['edit'];
  faceCheck: Omit<HardCheckReport['faceCheck'], 'editFacesInSourceCoords'>;
  changeCheck: HardCheckReport['changeCheck'];
  artifactCheck: HardCheckReport['artifactCheck'];
  faceCheckExempt: boolean;
  passed: boolean;
  judge: null | JudgeSummary;
  /** With JUDGES_FILE and --judge: every judge's result, in the file's order (`judge` is the first). */
  judges?: JudgeSummary[];
}

type JudgeSummary =
  | { ok: true; rubric: string; model: string; promptHash: string; axes: Record<string, number>; rawScores: Record<string, number>; aggregate: Record<string, number | boolean>; passesThresholds: boolean; latencyMs: number }
  | { ok: false; rubric: string; model: string; promptHash: string; error: string; latencyMs: number };

/** Runs the checks (and the judge when asked) on one pair of files. Throws InputError/ImageError naming the file. */
export async function inspectPair(opts: InspectOptions, cfg: Config): Promise<InspectResult> {
  if (opts.judge && !opts.instruction?.trim()) throw new InputError('required with --judge', { subject: '--instruction' });
  const maxPixels = cfg.checks.maxImagePixels;
  const source = await readImageFile(opts.source, { maxPixels });
  const edit = await readImageFile(opts.edit, { maxPixels });
  const report = await runHardChecks(
    source,
    edit,
    {
      ...hardCheckOptionsFromConfig(cfg.checks, opts.category),
      fullEditDetection: true, // a person looking at one pair wants every face in the edit
    },
    { source: opts.source, edit: opts.edit },
  );
  const { editFacesInSourceCoords: _mapped, ...faceCheck } = report.faceCheck;
  let judge: JudgeSummary | null = null;
  let judges: JudgeSummary[] | undefined;
  if (opts.judge) {
    // JUDGES_FILE: every judge, in parallel; `judge` stays the first one's.
    const all = await Promise.all(createJudges(cfg.judge).map((j) => j.judge({ source, edit, instruction: opts.instruction!, category: opts.category })));
    judge = summariseJudgment(all[0]!);
    if (cfg.judge.judges) judges = all.map(summariseJudgment);
  }
  return {
    source: report.source,
    edit: report.edit,
    faceCheck,
    changeCheck: report.changeCheck,
    artifactCheck: report.artifactCheck,
    faceCheckExempt: report.faceCheckExempt,
    passed: report.passed,
    judge,
    ...(judges ? { judges } : {}),
  };
}

function summariseJudgment(j: Judgment): JudgeSummary {
  if (!j.ok) return { ok: false, rubric: j.rubric, model: j.model, promptHash: j.promptHash, error: j.error, latencyMs: j.latencyMs };
  return {
    ok: true,
    rubric: j.rubric,
    model: j.model,
    promptHash: j.promptHash,
    axes: j.axes,
    rawScores: j.rawScores,
    aggregate: j.aggregate,
    passesThresholds: j.passesThresholds,
    latencyMs: j.latencyMs,
  };
}

/** How one face's IoU was measured, for a person: registration (NCC, the move found) or the detector. */
function measuredBy(m: InspectResult['faceCheck']['matches'][number]): string {
  const sign = (v: number) => `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(2)}`;
  if (m.method === 'registration' && m.transform) {
    return `registration (NCC ${m.confidence?.toFixed(3)}), moved ${sign(m.transform.tx)}, ${sign(m.transform.ty)} px, scale ${m.transform.s.toFixed(3)}${m.changed ? ', face changed' : ''}`;
  }
  return `detector${m.edit === null ? ', no face there' : ` (score ${m.confidence?.toFixed(3)})`}`;
}

/** A few lines for a person: sizes, faces (how each was measured), the two verdicts, the judge's axes. */
export function humanSummary(r: InspectResult, opts: InspectOptions): string {
  const pct = (v: number) => `${(v * 100).toFixed(v < 0.01 ? 3 : 1)} %`;
  const faces = (n: number) => `${n} face${n === 1 ? '' : 's'}`;
  const fc = r.faceCheck;
  const cc = r.changeCheck;
  const lines = [
    `source  ${opts.source}  ${r.source.width}×${r.source.height}, ${faces(r.source.faces.length)}`,
    `edit    ${opts.edit}  ${r.edit.width}×${r.edit.height}, ${faces(r.edit.faces.length)}`,
    `faces   ${fc.status}${fc.minIoU === null ? '' : `  min IoU ${fc.minIoU.toFixed(3)} (threshold ${fc.threshold})`}` +
      `${fc.extraEditFaces ? `, ${fc.extraEditFaces} extra in the edit` : ''}${r.faceCheckExempt ? '  (category exempt)' : ''}`,
    ...fc.matches.map((m) => `  face ${m.source + 1}  IoU ${m.iou.toFixed(3)} by ${measuredBy(m)}`),
    `change  ${cc.status}  ${pct(cc.changedFraction)} of pixels changed, largest region ${pct(cc.largestComponentFraction)} of the image, ${cc.components} regions`,
    `grid    ${artifactLine(r.artifactCheck)}`,
  ];
  for (const j of r.judges ?? (r.judge ? [r.judge] : [])) {
    lines.push(
      j.ok
        ? `judge   ${j.rubric} (${j.model}): ${Object.entries(j.axes).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}${j.passesThresholds ? '' : '  (below thresholds)'}`
        : `judge   ${j.rubric} (${j.model}) failed: ${j.error}`,
    );
  }
  lines.push(`verdict ${r.passed ? 'passes' : 'fails'} the hard checks`);
  return `${lines.join('\n')}\n`;
}

function artifactLine(a: InspectResult['artifactCheck']): string {
  if (a.status === 'off') return 'off';
  const where = a.period === null ? 'no region large enough to measure' : `score ${a.score.toFixed(2)} (threshold ${a.threshold}), strongest: ${a.pattern} of period ${a.period} px in the ${a.region?.kind} region`;
  return `${a.status}  ${where}${a.enforced ? '' : '  (recorded, not enforced)'}`;
}

/** Registers `inspect`. Exit 0 whatever the verdict; 2 for a bad image or flag; 1 when the judge failed. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('run the hard checks (faces, change, grid artifacts) and optionally the judge on one source/edit pair')
    .requiredOption('--source <file>', 'source image')
    .requiredOption('--edit <file>', 'edited image')
    .option('--instruction <text>', 'the edit instruction (needed by --judge)')
    .option('--category <name>', 'request category (FACE_EXEMPT_CATEGORIES skips the face rule)')
    .option('--judge', 'also ask the configured judge (JUDGES_FILE: every judge)')
    .option('--json', 'print one JSON object')
    .action(async (opts: InspectOptions & { json?: boolean }) => {
      const result = await inspectPair(opts, ctx.config());
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : humanSummary(result, opts));
      if ((result.judges ?? (result.judge ? [result.judge] : [])).some((j) => !j.ok)) process.exitCode = 1;
    });
}
