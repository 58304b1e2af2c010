/**
 * `vibe-curate status [--json]`: the funnel (how many requests and candidates reached each
 * stage, and why the rest stopped) and the queue depths.
 */
import type { Command } from 'commander';
import { describeError } from '../pipeline/errors/index.ts';
import { QUEUE_NAMES } from '../pipeline/jobs.ts';
import { queueDepths, type QueueDepths } from '../pipeline/queues.ts';
import type { Funnel } from '../db/repositories/funnel.repository.ts';
import { getFunnel } from '../db/repositories/funnel.repository.ts';
import { nearDupStats, type NearDupStats } from '../db/repositories/near-dup.repository.ts';
import type { CliContext } from './context.ts';
import { commandQueues } from './queues-context.ts';
import { formatJudgeVersion } from '../pipeline/judge/index.ts';
import { formatAgreement, judgeAgreement } from '../pipeline/judge/agreement.ts';
import { selectionSettings } from '../pipeline/select/index.ts';
import { judgeVersionOptions } from './select.ts';

/** The funnel as an aligned plain-text table. */
export function formatFunnel(f: Funnel): string {
  const row = (label: string, n: number, detail = '') => `${label.padEnd(22)}${String(n).padStart(8)}${detail ? `  ${detail}` : ''}`;
  const r = f.requests;
  const stages = Object.entries(f.failures.byStage).map(([s, n]) => `${s} ${n}`).join(', ');
  return [
    row('requests', r.total, `pending ${r.pending}, generated ${r.generated}, settled ${r.settled}, selected ${r.selected}, failed ${r.failed}`),
    row('candidates generated', f.candidates.generated, f.candidates.failed ? `${f.candidates.failed} failed for good` : ''),
    row('  checked', f.checks.checked, f.checkVersion ? `check version ${f.checkVersion}` : ''),
    row('  passed checks', f.checks.passed),
    row('  failed checks', f.checks.failed, `face ${f.checks.faceFail}, no_change ${f.checks.noChange}, noise_only ${f.checks.noiseOnly}, artifact ${f.checks.artifactFail}`),
    ...(f.checks.faceUncertain ? [row('  face uncertain', f.checks.faceUncertain, 'source face only likely; FACE_UNCERTAIN decides')] : []),
    row('  judged', f.judgments.judged, `ok ${f.judgments.ok}, unscorable ${f.judgments.failed}${f.judge ? `, judge ${formatJudgeVersion(f.judge)}` : ''}`),
    row('  judged, rejected', f.judgments.onRejected, 'judge calls on candidates that failed a hard check (JUDGE_REJECTED)'),
    row('  above thresholds', f.judgments.aboveThresholds, f.rubric ? `rubric ${f.rubric}` : ''),
    row('SFT picks', f.selection.sftPicks, `of ${f.selection.requestsSelected} selected requests`),
    row('DPO pairs', f.selection.dpoPairs, f.selection.ruleVersion ? `rule ${f.selection.ruleVersion}` : ''),
    // Each rule side by side (the dominance-versus-scalar comparison): pairs, of them not dominant, picks.
    ...Object.entries(f.selection.rules).map(([v, n]) =>
      row(`  ${v} pairs`, n.dpoPairs, `not dominant ${n.notDominant}, SFT picks ${n.sftPicks} of ${n.requestsSelected}`),
    ),
    row('failures (open)', f.failures.total, stages),
  ].join('\n');
}

/** The near-duplicate groups as one funnel-style row. */
export function formatNearDups(n: NearDupStats & { distance: number }): string {
  const extra = n.unhashed ? `, ${n.unhashed} unhashed (run near-dups)` : '';
  return `${'near-dup groups'.padEnd(22)}${String(n.groups).padStart(8)}  ${n.sources} sources, largest ${n.largest}, distance ≤ ${n.distance}${extra}`;
}

/** Queue depths as a table. */
export function formatDepths(d: QueueDepths): string {
  const cols = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
  const head = `${'queue'.padEnd(10)}${cols.map((c) => c.padStart(11)).join('')}`;
  return [head, ...QUEUE_NAMES.map((q) => `${q.padEnd(10)}${cols.map((c) => String(c === 'waiting' ? d[q].waiting + d[q].prioritized : d[q][c]).padStart(11)).join('')}`)].join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  judgeVersionOptions(
    program.command('status').description('the funnel (requests → candidates → checks → judgments → picks and pairs) and queue depths'),
  )
    .option('--json', 'print {funnel, queues} as JSON')
    .action(async (flags: { rubric?: string; judgeModel?: string; json?: boolean }) => {
      const cfg = ctx.config();
      const h = await ctx.db();
      const funnel = await getFunnel(h.db, selectionSettings(cfg, { rubric: flags.rubric, model: flags.judgeModel }));
      const nearDuplicates = { distance: cfg.nearDup.distance, ...(await nearDupStats(h.db)) };
      // JUDGES_FILE: how the judges agree (pass/fail, Spearman, largest disagreements); null with one judge.
      const agreement = await judgeAgreement(h.db, cfg.judge);
      // The funnel is Postgres alone: without Redis it is still printed, queue depths as null.
      let queues: QueueDepths | null = null;
      let queueError: string | undefined;
      try {
        queues = await queueDepths((await commandQueues(ctx)).set);
      } catch (err) {
        queueError = describeError(err);
      }
      const prefix = cfg.queue.prefix;
      if (flags.json) console.log(JSON.stringify({ funnel, queues, prefix, database: h.where, nearDuplicates, agreement, ...(queueError ? { queueError } : {}) }));
      else console.log(`${formatFunnel(funnel)}\n${formatNearDups(nearDuplicates)}\n\n${agreement ? `${formatAgreement(agreement)}\n\n` : ''}${queues ? formatDepths(queues) : `queues: unavailable (${queueError})`}`);
      if (queueError) {
        process.stderr.write(`vibe-curate: status: queue depths unavailable: ${queueError}\n`);
        process.exitCode = 1;
      }
    });
}
