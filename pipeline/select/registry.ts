/**
 * The selection rules, one entry per rule version: what it stores with its rows and the SQL
 * that computes its pick and pairs inside the shared selection statement. `SELECT_RULES` names
 * the ones the select stage runs; `select --rule` runs any.
 */
import { SELECTION_RULE_VERSIONS, type SelectionRuleVersion } from '../config.ts';
import { InputError } from '../errors/index.ts';
import { dominanceRuleSql, type RuleSql } from '../../db/repositories/selection.repository.ts';
import { scalarRuleSql } from '../../db/repositories/scalar-selection.sql.ts';
import { SELECTION_RULE_VERSION, type SelectionParams } from './rules.ts';
import { SCALAR_RULE_VERSION, type ScalarParams } from './scalar.ts';

export { SELECTION_RULE_VERSIONS, type SelectionRuleVersion };

/** What a rule reads besides the ledger. */
export interface RuleInputs {
  params: SelectionParams;
  scalar: ScalarParams;
}

export interface SelectionRule {
  version: SelectionRuleVersion;
  /** One line for `select --help` and the README. */
  summary: string;
  /** The rule's own parameters, stored with every row it writes (thresholds and check version are added beside them). */
  storedParams(i: RuleInputs): Record<string, unknown>;
  /** Its pick and edges in SQL. */
  sql(i: RuleInputs): RuleSql;
}

const useLimits = (p: SelectionParams) => ({
  maxPairs: p.maxPairs,
  maxUses: p.maxUses,
  loserMayFailChecks: p.loserMayFailChecks,
  reviewAcceptOverridesThresholds: p.reviewAcceptOverridesThresholds,
});

export const SELECTION_RULES: Record<SelectionRuleVersion, SelectionRule> = {
  [SELECTION_RULE_VERSION]: {
    version: SELECTION_RULE_VERSION,
    summary: 'strict dominance on every rubric axis, Σ margin ≥ DPO_MIN_MARGIN; SFT pick by geometric mean',
    storedParams: ({ params }) => ({ minMargin: params.minMargin, ...useLimits(params) }),
    sql: ({ params }) => dominanceRuleSql(params),
  },
  [SCALAR_RULE_VERSION]: {
    version: SCALAR_RULE_VERSION,
    summary: 'weighted sum of the canonical axes (PAIR_WEIGHTS), best against worst with gap ≥ PAIR_MIN_GAP; SFT pick by that score',
    storedParams: ({ params, scalar }) => ({ weights: scalar.weights, minGap: scalar.minGap, ...useLimits(params) }),
    sql: ({ scalar }) => scalarRuleSql(scalar),
  },
};

/** The rule of `version`; an InputError naming `subject` when there is none. */
export function selectionRule(version: string, subject = 'rule'): SelectionRule {
  const r = (SELECTION_RULES as Record<string, SelectionRule | undefined>)[version];
  if (!r) throw new InputError(`expected one of ${SELECTION_RULE_VERSIONS.join(', ')}, got ${version}`, { subject });
  return r;
}
