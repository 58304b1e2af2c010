/**
 * `vibe-curate export`: writes WebDataset shards (or Parquet for DPO) and manifest.json into
 * `--out`, records the export in Postgres, shows a progress bar on a TTY and prints a summary
 * (`--json`: the ExportResult). `VIBE_EXPORT_SAMPLE_DELAY_MS` throttles the writer (ms per
 * sample) so a test can interrupt an export halfway.
 */
import { configuredJudgeVersions, ensembleKey, judgeVersion, type JudgeVersion } from '../pipeline/judge/index.ts';
import { ENSEMBLE_RULE_VERSION } from '../pipeline/select/ensemble.ts';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { InputError } from '../pipeline/errors/index.ts';
import { runExport, type ExportOptions } from '../pipeline/export/index.ts';
import type { CliContext } from './context.ts';

interface Flags {
  kind?: string;
  out?: string;
  shardSamples: string;
  shardBytes?: string;
  valFraction: string;
  minAxis?: string;
  reviewedOnly?: boolean;
  format: string;
  maxSide?: string;
  reencodeJpeg?: boolean;
  rubric?: string;
  judgeModel?: string;
  ruleVersion?: string;
  force?: boolean;
  json?: boolean;
}

const bad = (flag: string, why: string): never => {
  throw new InputError(why, { subject: flag });
};

function positiveInt(flag: string, v: string): number {
  const s = v.trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) bad(flag, `expected a positive integer, got '${v}'`);
  return n;
}

/** `instruction=6,quality=5` → `{instruction: 6, quality: 5}` (0–10 each). */
export function parseMinAxis(v: string): Partial<Record<'instruction' | 'preservation' | 'quality', number>> {
  const out: Partial<Record<'instruction' | 'preservation' | 'quality', number>> = {};
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(instruction|preservation|quality)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) bad('--min-axis', `expected AXIS=N[,AXIS=N] with AXIS instruction|preservation|quality, got '${part}'`);
    const n = Number(m![2]);
    if (n > 10) bad('--min-axis', `${m![1]}: expected 0 to 10, got ${n}`);
    out[m![1] as 'instruction'] = n;
  }
  if (!Object.keys(out).length) bad('--min-axis', `expected AXIS=N[,AXIS=N], got '${v}'`);
  return out;
}

/** Turns parsed flags into ExportOptions; a bad flag throws InputError naming it. */
export function optionsFromFlags(f: Flags, judge: JudgeVersion): Omit<ExportOptions, 'onProgress'> {
  if (f.kind !== 'sft' && f.kind !== 'dpo') bad('--kind', `expected sft or dpo, got '${f.kind ?? ''}'`);
  if (!f.out) bad('--out', 'expected a directory');
  if (f.format !== 'webdataset' && f.format !== 'parquet') bad('--format', `expected webdataset or parquet, got '${f.format}'`);
  if (f.format === 'parquet' && f.kind !== 'dpo') bad('--format', 'parquet is written for --kind dpo only');
  const vf = Number(f.valFraction);
  if (f.valFraction.trim() === '' || !(vf >= 0 && vf <= 1)) bad('--val-fraction', `expected a number from 0 to 1, got '${f.valFraction}'`);
  return {
    kind: f.kind as 'sft' | 'dpo',
    outDir: f.out!,
    shardSamples: positiveInt('--shard-samples', f.shardSamples),
    shardBytes: f.shardBytes === undefined ? undefined : positiveInt('--shard-bytes', f.shardBytes),
    valFraction: vf,
    minAxis: f.minAxis === undefined ? undefined : parseMinAxis(f.minAxis),
    reviewedOnly: Boolean(f.reviewedOnly),
    format: f.format as 'webdataset' | 'parquet',
    maxSide: f.maxSide === undefined ? undefined : positiveInt('--max-side', f.maxSide),
    reencodeJpeg: Boolean(f.reencodeJpeg),
    rubric: judge.rubric,
    judgeModel: judge.model,
    promptHash: judge.promptHash,
    ruleVersion: f.ruleVersion,
    force: Boolean(f.force),
  };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write SFT triplets or DPO pairs as WebDataset shards (or Parquet for DPO) with manifest.json')
    .option('--kind <kind>', 'sft | dpo')
    .option('--out <dir>', 'output directory (its basename is the export name served at /exports/NAME/)')
    .option('--shard-samples <n>', 'samples per shard', '1000')
    .option('--shard-bytes <bytes>', 'cut shards before this many bytes (images counted as stored)')
    .option('--val-fraction <f>', 'fraction of sources in the val split (0–1)', '0.05')
    .option('--min-axis <list>', 'minimum axes, e.g. instruction=6,quality=5 (0–10)')
    .option('--reviewed-only', 'only samples a reviewer accepted')
    .option('--format <format>', 'webdataset | parquet (parquet: --kind dpo only)', 'webdataset')
    .option('--max-side <px>', 're-encode images to fit this longest side')
    .option('--reencode-jpeg', 're-encode every image as JPEG quality 95')
    .option('--rubric <rubric>', 'judge rubric (default: the configured judge\'s: metric-v1 without JUDGE_URL, else JUDGE_RUBRIC)')
    .option('--judge-model <name>', "judge model whose judgments and selection to export (default: the configured judge's)")
    .option('--rule-version <v>', 'selection rule version (default: the first of SELECT_RULES with rows, else the newest present)')
    .option('--force', 'write into a non-empty --out that holds no export of this kind and format')
    .option('--json', 'print the result as JSON')
    .action(async (flags: Flags) => {
      const cfg = ctx.config();
      // select-ensemble-v1 (named, or JUDGES_FILE without --rubric / --judge-model): the ensemble's rows, every judge version recorded.
      const ensemble = flags.ruleVersion === ENSEMBLE_RULE_VERSION || (cfg.judge.judges !== undefined && flags.rubric === undefined && flags.judgeModel === undefined && flags.ruleVersion === undefined);
      if (ensemble && !cfg.judge.judges) throw new InputError(`${ENSEMBLE_RULE_VERSION} reads the judges of JUDGES_FILE, which is not set`, { subject: '--rule-version' });
      const judges = ensemble ? configuredJudgeVersions(cfg.judge) : undefined;
      const opts = optionsFromFlags(
        { ...flags, ruleVersion: ensemble ? ENSEMBLE_RULE_VERSION : flags.ruleVersion },
        judges ? ensembleKey(judges) : judgeVersion(cfg.judge, { rubric: flags.rubric, model: flags.judgeModel }),
      );
      if (judges) opts.judges = judges;
      else opts.preferRuleVersions = cfg.selection.rules;
      const delay = Number(process.env.VIBE_EXPORT_SAMPLE_DELAY_MS ?? 0);
      const h = await ctx.db();
      const bar = process.stderr.isTTY && !flags.json ? new SingleBar({ stream: process.stderr, format: 'export {bar} {value}/{total} samples | {eta}s' }, Presets.shades_classic) : null;
      let started = false;
      const result = await runExport(h.db, ctx.blobs(), {
        ...opts,
        nearDupDistance: ctx.config().nearDup.distance,
        sampleDelayMs: Number.isFinite(delay) && delay > 0 ? delay : undefined,
        onProgress: (n, total) => {
          if (!bar) return;
          if (!started) {
            bar.start(total, n);
            started = true;
          } else bar.update(n);
        },
      }).finally(() => bar?.stop());
      if (flags.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const bySplit = new Map<string, { shards: number; samples: number }>();
      for (const s of result.shards) {
        const t = bySplit.get(s.split) ?? { shards: 0, samples: 0 };
        t.shards += 1;
        t.samples += s.nsamples;
        bySplit.set(s.split, t);
      }
      const splits = [...bySplit].map(([k, v]) => `${k} ${v.samples} samples in ${v.shards} shard(s)`).join(', ') || 'no samples';
      console.log(`export ${result.name}: ${result.samples} ${opts.kind} samples, ${mb(result.bytes)} (${splits})`);
      console.log(`manifest: ${result.manifestPath}`);
    });
}
