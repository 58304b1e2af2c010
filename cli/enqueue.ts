/**
 * `vibe-curate enqueue --manifest FILE.jsonl`: streams the manifest, stores sources by content
 * hash, creates requests and enqueues their generate jobs. A bad line is reported on stderr as
 * `FILE:LINE: why` and skipped; the summary says how many were added, already present and
 * rejected. Exit 2 when the manifest cannot be read or every line was rejected.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { InputError } from '../pipeline/errors/index.ts';
import { readManifest } from '../pipeline/manifest.ts';
import { enqueueManifest } from '../pipeline/stages/enqueue.ts';
import type { CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';

interface Flags {
  manifest?: string;
  candidates?: string;
  model?: string;
  json?: boolean;
}

/** Counts newline characters (the progress bar's total), streaming. */
async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  }
  return n;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('enqueue')
    .description('create requests from a JSONL manifest ({"image", "instruction", "category"}) and enqueue them')
    .option('--manifest <file>', 'JSONL manifest; image paths are relative to its folder, or http(s) URLs')
    .option('--candidates <k>', 'candidates per request (default: CANDIDATES)')
    .option('--model <name>', 'inference model name (default: INFERENCE_MODEL)')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: Flags) => {
      if (!flags.manifest) throw new InputError('expected a manifest file', { subject: '--manifest' });
      const file = path.resolve(flags.manifest);
      const st = await stat(file).catch(() => null);
      if (!st) throw new InputError('no such file', { subject: flags.manifest });
      if (!st.isFile()) throw new InputError('not a file', { subject: flags.manifest });
      const cfg = ctx.config();
      let candidates = cfg.inference.candidates;
      if (flags.candidates !== undefined) {
        candidates = /^\d+$/.test(flags.candidates.trim()) ? Number(flags.candidates) : NaN;
        if (!(candidates >= 1 && candidates <= 16)) throw new InputError(`expected an integer from 1 to 16, got '${flags.candidates}'`, { subject: '--candidates' });
      }
      const model = flags.model?.trim() || cfg.inference.model;
      const h = await ctx.db();
      const { set } = await commandQueues(ctx);

      const tty = process.stderr.isTTY && !flags.json;
      const multi = tty ? new cliProgress.MultiBar({ stream: process.stderr, format: 'enqueue [{bar}] {value}/{total} lines | {eta_formatted} left', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic) : null;
      const bar = multi?.create(await countLines(file), 0);
      const shown = flags.manifest;
      const summary = await enqueueManifest(readManifest(file), {
        db: h.db,
        blobs: ctx.blobs(),
        queues: set,
        candidates,
        model,
        baseDir: path.dirname(file),
        maxPixels: cfg.checks.maxImagePixels,
        nearDupDistance: cfg.nearDup.distance,
        onReject: (line, why) => {
          const msg = `${shown}:${line}: ${why}`;
          if (multi) multi.log(`${msg}\n`);
          else process.stderr.write(`${msg}\n`);
        },
        onProgress: (n) => bar?.update(n),
      }).finally(() => multi?.stop());
      const { requestIds: _ids, ...counts } = summary;
      if (flags.json) console.log(JSON.stringify({ manifest: file, candidates, model, ...counts }));
      else console.log(`enqueue ${shown}: ${counts.added} added, ${counts.present} already present, ${counts.rejected} rejected (${counts.lines} lines); ${counts.enqueued} generate jobs enqueued`);
      if (counts.lines > 0 && counts.rejected === counts.lines) process.exitCode = 2;
    });
}
