/**
 * `vibe-curate demo`: the whole pipeline on the embedded default, in this one process. Migrates,
 * starts the built-in inference core (unless INFERENCE_URL is set) and the judge, enqueues the
 * sample images shipped in the repo × the built-in instruction set, runs generate → check →
 * judge → select with a progress bar per stage, exports SFT and DPO shards, prints the funnel
 * and where the shards are; `--serve` then keeps the dashboard up until SIGINT. Re-running it
 * is idempotent: the same requests are already done, nothing new is generated.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { startDashboard } from '../dashboards/server.ts';
import { configuredJudgeVersions, ensembleKey, judgeVersion } from '../pipeline/judge/index.ts';
import { ENSEMBLE_RULE_VERSION } from '../pipeline/select/ensemble.ts';
import type { RunProgress } from '../db/repositories/requests.repository.ts';
import { InputError } from '../pipeline/errors/index.ts';
import { runExport, type ExportResult } from '../pipeline/export/index.ts';
import { SAMPLE_INSTRUCTIONS } from '../pipeline/builtin/instruction-grammar.ts';
import { enableProcessMetrics } from '../pipeline/metrics.ts';
import { runLocalPipeline, type LocalRequest } from './run-local.ts';
import { PACKAGE_ROOT } from '../pipeline/package-root.ts';
import { untilSignal, type CliContext } from './context.ts';
import { formatFunnel } from './status.ts';

/** The sample images shipped in the repo (see LICENSES.md there). */
export const DEMO_IMAGE_DIR = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'images');

/** Images the demo uses: every PNG/JPEG in the fixture folder except the deliberately broken one. */
export function demoImages(dir = DEMO_IMAGE_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f) && f !== 'truncated.jpg')
    .sort();
}

/**
 * `n` distinct (image, instruction) requests, spread over images and instructions in a fixed
 * order (the same n always gives the same requests, so a re-run finds them done).
 */
export function demoRequests(n: number, images: readonly string[]): LocalRequest[] {
  const all: LocalRequest[] = [];
  const I = images.length;
  const S = SAMPLE_INSTRUCTIONS.length;
  // Walk the image × instruction grid diagonally: consecutive requests differ in both.
  for (let d = 0; d < S && all.length < n; d++) {
    for (let i = 0; i < I && all.length < n; i++) {
      const s = SAMPLE_INSTRUCTIONS[(i + d) % S]!;
      all.push({ image: images[i]!, instruction: s.instruction, category: s.category });
    }
  }
  const seen = new Set<string>();
  return all.filter((r) => {
    const k = `${r.image}\n${r.instruction}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function positiveInt(flag: string, v: string, max: number): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!(n >= 1 && n <= max)) throw new InputError(`expected an integer from 1 to ${max}, got '${v}'`, { subject: flag });
  return n;
}

/** Progress bars per stage on a TTY, a plain line every few seconds otherwise. */
function progressView(tty: boolean) {
  if (tty) {
    const multi = new cliProgress.MultiBar(
      { stream: process.stderr, format: '{stage} [{bar}] {value}/{total} {unit}', hideCursor: true, clearOnComplete: false, barsize: 30 },
      cliProgress.Presets.shades_classic,
    );
    const bars = {
      generate: multi.create(1, 0, { stage: 'generate', unit: 'requests' }),
      check: multi.create(1, 0, { stage: 'check   ', unit: 'candidates' }),
      judge: multi.create(1, 0, { stage: 'judge   ', unit: 'candidates' }),
      select: multi.create(1, 0, { stage: 'select  ', unit: 'requests' }),
    };
    return {
      update(p: RunProgress) {
        bars.generate.setTotal(Math.max(1, p.requests));
        bars.generate.update(p.generated);
        bars.check.setTotal(Math.max(1, p.candidates));
        bars.check.update(p.checked);
        bars.judge.setTotal(Math.max(1, p.toJudge));
        bars.judge.update(p.judged);
        bars.select.setTotal(Math.max(1, p.requests));
        bars.select.update(p.finished);
      },
      stop: () => multi.stop(),
    };
  }
  let last = 0;
  let lastLine = '';
  return {
    update(p: RunProgress) {
      const line = `generate ${p.generated}/${p.requests} requests, check ${p.checked}/${p.candidates}, judge ${p.judged}/${p.toJudge}, select ${p.finished}/${p.requests}`;
      const now = Date.now();
      if (line !== lastLine && (now - last > 3000 || p.finished === p.requests)) {
        process.stderr.write(`${line}\n`);
        last = now;
        lastLine = line;
      }
    },
    stop: () => {},
  };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('run the whole pipeline on the sample images in this process, export SFT and DPO shards, print the funnel')
    .option('--requests <n>', 'requests (sample image × instruction)', '24')
    .option('--candidates <k>', 'candidates per request', '4')
    .option('--out <dir>', 'where the shards go (default DATA_DIR/exports/demo)')
    .option('--serve', 'keep the dashboard up afterwards, until SIGINT')
    .action(async (flags: { requests: string; candidates: string; out?: string; serve?: boolean }) => {
      const n = positiveInt('--requests', flags.requests, 10_000);
      const k = positiveInt('--candidates', flags.candidates, 16);
      const cfg = ctx.config();
      const out = path.resolve(flags.out ?? path.join(cfg.dataDir, 'exports', 'demo'));
      const images = demoImages();
      const requests = demoRequests(n, images);
      const t0 = performance.now();
      const h = await ctx.db();
      const redis = await ctx.redis();
      const blobs = ctx.blobs();
      enableProcessMetrics();
      process.stderr.write(`demo: ${requests.length} requests (${images.length} sample images × built-in instructions), ${k} candidates each; database ${h.kind} ${h.where}\n`);

      const view = progressView(Boolean(process.stderr.isTTY));
      const run = await runLocalPipeline({
        db: h.db,
        blobs,
        config: cfg,
        redisUrl: redis.url,
        requests,
        baseDir: DEMO_IMAGE_DIR,
        candidates: k,
        onProgress: (p) => view.update(p),
        onReject: (line, why) => process.stderr.write(`demo: request ${line}: ${why}\n`),
      }).finally(() => view.stop());

      const exports: ExportResult[] = [];
      // The version the run judged and selected with (JUDGES_FILE: the ensemble's, select-ensemble-v1).
      const judges = cfg.judge.judges ? configuredJudgeVersions(cfg.judge) : undefined;
      const judge = judges ? ensembleKey(judges) : judgeVersion(cfg.judge);
      for (const kind of ['sft', 'dpo'] as const) {
        exports.push(
          await runExport(h.db, blobs, {
            kind, outDir: path.join(out, kind), shardSamples: 1000, valFraction: 0.1, format: 'webdataset',
            rubric: judge.rubric, judgeModel: judge.model, promptHash: judge.promptHash, nearDupDistance: cfg.nearDup.distance,
            ...(judges ? { judges, ruleVersion: ENSEMBLE_RULE_VERSION } : {}),
          }),
        );
      }
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(`\n${formatFunnel(run.funnel)}\n`);
      const e = run.enqueue;
      console.log(`this run: ${e.added} new request(s), ${e.present} already present; ${run.progress.selected} selected, ${run.progress.failedRequests} failed, in ${secs} s`);
      for (const x of exports) {
        const files = x.shards.map((s) => s.url).join(', ') || 'no shards';
        console.log(`${x.name.padEnd(4)} ${String(x.samples).padStart(5)} samples  ${x.outDir}  (${files}; manifest ${path.basename(x.manifestPath)})`);
      }
      if (!flags.serve) return;
      const dash = await startDashboard({ db: h.db, blobs, config: cfg, redisUrl: redis.url, port: cfg.dashboard.port, host: '127.0.0.1' });
      ctx.onClose(() => dash.close());
      console.log(`dashboard: ${dash.url}  (Ctrl-C to stop)`);
      await untilSignal();
      await dash.close();
    });
}
