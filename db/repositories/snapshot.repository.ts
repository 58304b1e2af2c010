/**
 * Point-in-time reads: a REPEATABLE READ, READ ONLY transaction sees the ledger as it was when
 * its first statement ran, whatever workers, `select` and reviewers commit meanwhile. Its
 * snapshot is exported (`pg_export_snapshot()`) so readers on other connections can share it,
 * and its time and the ledger's high-water ids are what a manifest records.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

/** Tables whose highest id a snapshot records. */
export const HIGH_WATER_TABLES = ['requests', 'candidates', 'checks', 'judgments', 'selections', 'pairs', 'reviews'] as const;
export type HighWaterTable = (typeof HIGH_WATER_TABLES)[number];

export interface SnapshotInfo {
  /** When the snapshot was taken (the transaction's start), ISO 8601. */
  at: string;
  /** Highest id of each ledger table in the snapshot (0 when empty). */
  highWater: Record<HighWaterTable, number>;
  /** `pg_export_snapshot()`: other connections may `SET TRANSACTION SNAPSHOT` it while `fn` runs. */
  exportedId: string | null;
}

/**
 * Runs `fn` in one REPEATABLE READ, READ ONLY transaction: every read through its `tx` sees one
 * snapshot. Only reads: write through the outer `db` before or after (on PGlite, one connection,
 * a write inside `fn` through `db` would wait for the transaction).
 */
export async function inSnapshot<T>(db: Db, fn: (tx: Db, snap: SnapshotInfo) => Promise<T>): Promise<T> {
  return db.transaction(async (t) => {
    const tx = t as unknown as Db;
    await tx.execute(sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    const cols = HIGH_WATER_TABLES.map((name) => `(SELECT coalesce(max(id), 0) FROM ${name})::bigint AS ${name}`).join(', ');
    const [r] = await rows<Record<string, unknown>>(tx, sql.raw(`SELECT now() AS at, ${cols}`));
    const [e] = await rows<{ id: string }>(tx, sql`SELECT pg_export_snapshot() AS id`);
    const exportedId = e?.id ?? null;
    const highWater = Object.fromEntries(HIGH_WATER_TABLES.map((name) => [name, Number(r?.[name] ?? 0)])) as Record<HighWaterTable, number>;
    const at = r?.at instanceof Date ? r.at.toISOString() : new Date(String(r?.at)).toISOString();
    return fn(tx, { at, highWater, exportedId });
  });
}
