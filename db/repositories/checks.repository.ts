/**
 * Hard-check results: one row per candidate and rule version. A retried check finds the row.
 */
import { desc, eq, sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
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

/**
 * The check stage's write, one statement: inserts the check (ON CONFLICT DO NOTHING) and, when
 * it was new, moves its candidate generated → checked (passed) or rejected. `inserted` false:
 * another attempt's row was there first and nothing moved (the caller reads the stored row).
 * `moved`: whether the candidate moved now.
 */
export async function insertCheckAndMove(db: Db, row: NewCheck): Promise<{ inserted: boolean; moved: boolean }> {
  const insert = db
    .insert(checks)
    .values({ ...row, latencyMs: Math.round(row.latencyMs) })
    .onConflictDoNothing({ target: [checks.candidateId, checks.ruleVersion] })
    .returning({ passed: checks.passed })
    .getSQL();
  const [r] = await rows<{ inserted: number; moved: number }>(
    db,
    sql`WITH ins AS (${insert}),
        mv AS (UPDATE candidates c SET status = CASE WHEN ins.passed THEN 'checked' ELSE 'rejected' END, checked_at = coalesce(c.checked_at, now())
               FROM ins WHERE c.id = ${row.candidateId} AND c.status = 'generated' RETURNING c.id)
        SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM mv)::int AS moved`,
  );
  return { inserted: Number(r?.inserted ?? 0) > 0, moved: Number(r?.moved ?? 0) > 0 };
}
