/**
 * Hard-check results: one row per candidate and rule version. A retried check finds the row.
 */
import { desc, eq } from 'drizzle-orm';
import type { Db } from '../client.ts';
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

/** The newest check of a candidate, whatever its rule version (what decides the next stage). */
export async function latestCheck(db: Db, candidateId: number): Promise<{ id: number; passed: boolean; ruleVersion: string } | undefined> {
  const [r] = await db
    .select({ id: checks.id, passed: checks.passed, ruleVersion: checks.ruleVersion })
    .from(checks)
    .where(eq(checks.candidateId, candidateId))
    .orderBy(desc(checks.id))
    .limit(1);
  return r;
}
