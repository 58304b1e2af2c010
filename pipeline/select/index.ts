/**
 * Selection: the SFT pick and the strict-dominance DPO pairs, computed set-based in Postgres one
 * batch of requests per statement, incremental (only requests settled since their last
 * selection) and versioned (rule version, rubric and params stored with every row). The rules
 * and their TypeScript reference live in rules.ts, sft-pick.ts and dominance.ts.
 *
 * Stored per (request, rule version, rubric): one selections row (candidate null when nothing
 * qualified) and the kept pairs, rank 1 = largest margin. A pair that a later run no longer
 * selects is deleted, unless a review refers to it: then it stays with rank 0 (not selected).
 */
import { checkVersion, hardCheckOptionsFromConfig } from '../checks/version.ts';
import type { Config } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { configuredJudgeVersions, ensembleKey, judgeVersion, thresholdsInForce, type JudgeVersion } from '../judge/index.ts';
import type { Db } from '../../db/client.ts';
import {
  countPendingSelection,
  nextPendingSelection,
  selectBatchDryRun,
  selectBatchRules,
  type SelectionChangeGroup,
} from '../../db/repositories/selection.repository.ts';
import { SELECTION_RULE_VERSION, type SelectionParams } from './rules.ts';
import { selectionRule, type SelectionRuleVersion } from './registry.ts';
import { SCALAR_RULE_VERSION, type ScalarParams } from './scalar.ts';

export { SELECTION_RULE_VERSION, MAX_AXES, geometricMean, mayLose, qualifies, usable } from './rules.ts';
export type { CandidateFacts, SelectionParams, Verdict } from './rules.ts';
export { pickSft, type SftPick } from './sft-pick.ts';
export { dominance, dpoPairs, type DominanceMargin, type DpoPair } from './dominance.ts';
export { SCALAR_RULE_VERSION, notDominant, pickScalar, scalarPairs, scalarScore, type ScalarCandidateFacts, type ScalarParams, type ScalarWeights } from './scalar.ts';
export { SELECTION_RULES, SELECTION_RULE_VERSIONS, selectionRule, type SelectionRule, type SelectionRuleVersion } from './registry.ts';
export { ENSEMBLE_RULE_VERSION, ensembleScore, ensembleSelect, ensembleSettings, runEnsembleSelection } from './ensemble.ts';
export type { EnsembleCandidate, EnsembleJudge, EnsembleSettings } from './ensemble.ts';

/** Requests per statement: bounds both the statement's working set and the ids held in Node. */
export const DEFAULT_SELECTION_BATCH = 5000;

/** The selection parameters of the configuration (DPO_MIN_MARGIN, DPO_MAX_PAIRS, …). */
export function selectionParamsFromConfig(cfg: Config): SelectionParams {
  const s = cfg.selection;
  return {
    minMargin: s.dpoMinMargin,
    maxPairs: s.dpoMaxPairs,
    maxUses: s.dpoMaxUses,
    loserMayFailChecks: s.loserMayFailChecks,
    reviewAcceptOverridesThresholds: s.reviewAcceptOverridesThresholds,
  };
}

/** Everything a selection run reads besides the ledger: the versions and the settings in force. */
export interface SelectionSettings {
  judge: JudgeVersion;
  params: SelectionParams;
  /** Applied to the raw scores at selection time (stored in the rows' params). */
  thresholds: Record<string, number>;
  /** The check version whose checks count. */
  checkVersion: string;
  /** scalar-v1's weights and least gap (PAIR_WEIGHTS, PAIR_MIN_GAP). */
  scalar: ScalarParams;
  /** The rules a run applies: SELECT_RULES. */
  rules: SelectionRuleVersion[];
  /** JUDGES_FILE: the ensemble's composite version, under which its picks and pairs are stored (funnels count those). */
  selectionJudge?: JudgeVersion;
}

/**
 * The settings of the configuration: the configured judge version (or the one `pick` names),
 * its thresholds in force, the DPO parameters and the current check version.
 */
export function selectionSettings(cfg: Config, pick: { rubric?: string; model?: string } = {}): SelectionSettings {
  const judge = judgeVersion(cfg.judge, pick);
  // JUDGES_FILE with no judge named: selection is the ensemble's (select-ensemble-v1), counted under its composite version.
  const ensemble = cfg.judge.judges && pick.rubric === undefined && pick.model === undefined ? ensembleKey(configuredJudgeVersions(cfg.judge)) : undefined;
  return {
    ...(ensemble ? { selectionJudge: ensemble } : {}),
    judge,
    params: selectionParamsFromConfig(cfg),
    thresholds: thresholdsInForce(cfg.judge, judge.rubric),
    checkVersion: checkVersion(hardCheckOptionsFromConfig(cfg.checks)),
    scalar: { weights: { ...cfg.selection.pairWeights }, minGap: cfg.selection.pairMinGap },
    rules: [...cfg.selection.rules],
  };
}

/** Per category (and in total under ''), what `select --dry-run` predicts. */
export interface SelectionDiffCounts {
  /** Requests whose SFT pick changes (gained, lost or replaced). */
  picksChanged: number;
  /** Requests that get a pick where they had none or another one. */
  picksGained: number;
  /** Requests that lose their pick or have it replaced. */
  picksLost: number;
  pairsGained: number;
  pairsLost: number;
}

export interface SelectionDiff {
  total: SelectionDiffCounts;
  byCategory: Record<string, SelectionDiffCounts>;
  /** The first `listLimit` changes of each kind, by request id. */
  picks: { requestId: number; category: string; before: number | null; after: number | null }[];
  pairsGained: { requestId: number; category: string; chosenId: number; rejectedId: number }[];
  pairsLost: { requestId: number; category: string; chosenId: number; rejectedId: number }[];
  /** Whether a list was cut at listLimit. */
  truncated: boolean;
}

const zeroCounts = (): SelectionDiffCounts => ({ picksChanged: 0, picksGained: 0, picksLost: 0, pairsGained: 0, pairsLost: 0 });

function addGroup(d: SelectionDiff, g: SelectionChangeGroup): void {
  const cat = (d.byCategory[g.category] ??= zeroCounts());
  for (const n of [d.total, cat]) {
    if (g.kind === 'pick') {
      n.picksChanged += g.n;
      n.picksGained += g.withB;
      n.picksLost += g.withA;
    } else if (g.kind === 'pair_gained') n.pairsGained += g.n;
    else n.pairsLost += g.n;
  }
  for (const c of g.first) {
    if (c.kind === 'pick') d.picks.push({ requestId: c.requestId, category: c.category, before: c.a, after: c.b });
    else (c.kind === 'pair_gained' ? d.pairsGained : d.pairsLost).push({ requestId: c.requestId, category: c.category, chosenId: c.a!, rejectedId: c.b! });
  }
  if (g.first.length < g.n) d.truncated = true;
}

export interface SelectionRunResult {
  /** Requests selected (each now has a selections row for this rule version and rubric). */
  requests: number;
  /** Of those, requests with a pick. */
  picks: number;
  /** Pairs selected (stored for this rule version and rubric). */
  pairs: number;
  /** Wall time, milliseconds. */
  ms: number;
  /** With dryRun and one rule: what the run would change; nothing was written. */
  diff?: SelectionDiff;
  /** Per rule version: its picks and pairs (with dryRun: 0 and 0, and its diff). */
  byRule: Record<string, { picks: number; pairs: number; diff?: SelectionDiff }>;
}

function checkScalar(sp: ScalarParams | undefined): asserts sp is ScalarParams {
  const bad = (field: string, why: string) => new InputError(why, { subject: `selection.scalar.${field}` });
  if (!sp) throw bad('weights', 'expected the scalar-v1 parameters');
  const w = sp.weights;
  for (const k of ['instruction', 'preservation', 'quality'] as const) {
    if (!Number.isFinite(w?.[k]) || w[k] < 0) throw bad(`weights.${k}`, 'expected a number ≥ 0');
  }
  if (Math.abs(w.instruction + w.preservation + w.quality - 1) > 1e-9) throw bad('weights', 'expected weights summing to 1');
  if (!Number.isFinite(sp.minGap) || sp.minGap < 0) throw bad('minGap', 'expected a number ≥ 0');
}

function checkParams(p: SelectionParams): void {
  const bad = (field: string, why: string) => new InputError(why, { subject: `selection.${field}` });
  if (!Number.isFinite(p.minMargin) || p.minMargin < 0) throw bad('minMargin', 'expected a number ≥ 0');
  if (!Number.isInteger(p.maxPairs) || p.maxPairs < 0) throw bad('maxPairs', 'expected an integer ≥ 0');
  if (!Number.isInteger(p.maxUses) || p.maxUses < 0) throw bad('maxUses', 'expected an integer ≥ 0');
  if (typeof p.loserMayFailChecks !== 'boolean') throw bad('loserMayFailChecks', 'expected true or false');
  if (typeof p.reviewAcceptOverridesThresholds !== 'boolean') throw bad('reviewAcceptOverridesThresholds', 'expected true or false');
}

/**
 * Runs selection for `requestIds`, or, when omitted, for every request settled since its last
 * selection (status settled or selected, settled_at > selected_at or never selected; with `all`
 * every settled or selected one), in
 * batches of `batchSize` requests, one statement each. Idempotent: a re-run rewrites the same
 * rows (upserts keyed by request / chosen+rejected, rule version and rubric). Node holds the
 * ids of the batches in flight, never candidates.
 */
export async function runSelection(
  db: Db,
  opts: {
    /** The judge version whose judgments are read (and named by the rows written). */
    judge: JudgeVersion;
    params: SelectionParams;
    /** The rule versions applied, in order (default: select-v1 alone). */
    rules?: readonly SelectionRuleVersion[];
    /** scalar-v1's parameters; needed when rules include it. */
    scalar?: ScalarParams;
    /**
     * Stamp the requests selected (default true). A run that leaves out a rule the select stage
     * runs passes false, so that stage still finds them due.
     */
    stamp?: boolean;
    /** Thresholds applied to the raw scores now; omitted: each judgment's stored pass/fail. */
    thresholds?: Record<string, number>;
    /** The check version whose checks count; omitted: each candidate's newest check. */
    checkVersion?: string;
    /** Compute and compare with the stored selection, write nothing (requests stay due). */
    dryRun?: boolean;
    /** dryRun: the most changes of each kind listed (counts are always complete). Default 100. */
    listLimit?: number;
    requestIds?: number[];
    /** Without requestIds: every settled or selected request, not only those settled since their last selection. */
    all?: boolean;
    batchSize?: number;
    /** Batches in flight at once on separate connections (disjoint requests: they never conflict). Default 1. */
    concurrency?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<SelectionRunResult> {
  const t0 = performance.now();
  checkParams(opts.params);
  if (!opts.judge.rubric) throw new InputError('expected a rubric id', { subject: 'rubric' });
  const batchSize = opts.batchSize ?? DEFAULT_SELECTION_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError('expected an integer ≥ 1', { subject: 'batchSize' });
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('expected an integer ≥ 1', { subject: 'concurrency' });
  // Exactly the five rule parameters: they are stored with every row.
  const { minMargin, maxPairs, maxUses, loserMayFailChecks, reviewAcceptOverridesThresholds } = opts.params;
  const params: SelectionParams = { minMargin, maxPairs, maxUses, loserMayFailChecks, reviewAcceptOverridesThresholds };
  const rules = [...new Set(opts.rules ?? [SELECTION_RULE_VERSION])].map((v) => selectionRule(v, 'rules'));
  if (rules.length === 0) throw new InputError('expected at least one rule version', { subject: 'rules' });
  if (rules.some((r) => r.version === SCALAR_RULE_VERSION)) checkScalar(opts.scalar);
  const inputs = { params, scalar: opts.scalar ?? { weights: { instruction: 0, preservation: 0, quality: 0 }, minGap: 0 } };
  const out: SelectionRunResult = { requests: 0, picks: 0, pairs: 0, ms: 0, byRule: {} };
  const storedParams: Record<string, unknown> = {};
  if (opts.thresholds) storedParams.thresholds = opts.thresholds;
  if (opts.checkVersion !== undefined) storedParams.checkVersion = opts.checkVersion;
  const newDiff = (): SelectionDiff => ({ total: zeroCounts(), byCategory: {}, picks: [], pairsGained: [], pairsLost: [], truncated: false });
  // Per rule: its SQL, the params its rows store, and its counts.
  const plans = rules.map((r) => {
    out.byRule[r.version] = opts.dryRun ? { picks: 0, pairs: 0, diff: newDiff() } : { picks: 0, pairs: 0 };
    return { rule: r, sql: r.sql(inputs), rowParams: { ...r.storedParams(inputs), ...storedParams } };
  });
  const stamp = opts.stamp !== false;
  const pending = { all: opts.all, missing: { ruleVersions: rules.map((r) => r.version), judge: opts.judge } };
  let total = 0;
  let done = 0;

  // The next batch of ids, or null when there is none: a slice of requestIds, or the next page
  // of due requests (keyset paging by id, so batches in flight are never fetched twice).
  let next: () => Promise<number[] | null>;
  if (opts.requestIds) {
    const bad = opts.requestIds.find((id) => !Number.isSafeInteger(id) || id < 1);
    if (bad !== undefined) throw new InputError(`expected request ids (integers ≥ 1), got ${bad}`, { subject: 'requestIds' });
    const ids = [...new Set(opts.requestIds)].sort((a, b) => a - b);
    total = ids.length;
    let i = 0;
    next = async () => (i < ids.length ? ids.slice(i, (i += batchSize)) : null);
  } else {
    total = await countPendingSelection(db, pending);
    let after = 0;
    next = async () => {
      const ids = await nextPendingSelection(db, after, batchSize, pending);
      if (ids.length === 0) return null;
      after = ids[ids.length - 1]!;
      return ids;
    };
  }
  opts.onProgress?.(0, total);
  let fetching: Promise<number[] | null> = Promise.resolve([]);
  const lane = async () => {
    for (;;) {
      // One fetch at a time: each lane waits for the previous fetch before starting its own.
      const ids = await (fetching = fetching.then(() => next()));
      if (!ids) return;
      // Each rule in turn over the batch (one transaction, one set of request locks); only the
      // last one stamps the requests selected.
      const inputs = plans.map((plan, i) => ({
        requestIds: ids,
        judge: opts.judge,
        ruleVersion: plan.rule.version,
        params,
        thresholds: opts.thresholds,
        checkVersion: opts.checkVersion,
        rowParams: plan.rowParams,
        rule: plan.sql,
        stamp: stamp && i === plans.length - 1,
      }));
      if (opts.dryRun) {
        for (const input of inputs) {
          const diff = out.byRule[input.ruleVersion]!.diff!;
          for (const g of await selectBatchDryRun(db, input, opts.listLimit ?? 100)) addGroup(diff, g);
        }
      } else {
        const results = await selectBatchRules(db, inputs);
        out.requests += results[0]!.requests;
        results.forEach((r, i) => {
          const mine = out.byRule[inputs[i]!.ruleVersion]!;
          out.picks += r.picks;
          out.pairs += r.pairs;
          mine.picks += r.picks;
          mine.pairs += r.pairs;
        });
      }
      done += ids.length;
      total = Math.max(total, done);
      opts.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (opts.dryRun) {
    out.requests = done;
    // Each batch and category listed its first changes: keep the first listLimit of each kind overall.
    const limit = opts.listLimit ?? 100;
    const order = (a: { requestId: number; chosenId?: number }, b: { requestId: number; chosenId?: number }) => a.requestId - b.requestId || (a.chosenId ?? 0) - (b.chosenId ?? 0);
    for (const mine of Object.values(out.byRule)) {
      const diff = mine.diff!;
      for (const key of ['picks', 'pairsGained', 'pairsLost'] as const) {
        const list = (diff[key] as { requestId: number; chosenId?: number }[]).sort(order);
        if (list.length > limit) {
          list.length = limit;
          diff.truncated = true;
        }
      }
    }
    if (plans.length === 1) out.diff = out.byRule[plans[0]!.rule.version]!.diff;
  }
  out.ms = performance.now() - t0;
  return out;
}
