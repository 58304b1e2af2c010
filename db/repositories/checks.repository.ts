/**
 * Hard-check results: one row per candidate and check version (pipeline/checks/index.ts checkVersion).
 * A retried check finds the row; a recheck under a new version adds one beside it.
 */
import { type Db } from '../client.ts';
import { checks } from '../schema/index.ts';

export type NewCheck = typeof checks.$inferInsert;

/** Inserts a check (ON CONFLICT (candidate_id, rule_version) DO NOTHING); returns whether it was new. */
export async function insertCheck(db: Db, row: NewCheck): Promise<boolean> {
  const r = await db
    .insert(checks)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing({ target: [checks.candidateId, checks.ruleVersion] })
    .returning({ id: checks.id });
  return r.length > 0;
}
