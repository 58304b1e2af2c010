/**
 * Near-duplicate groups of sources in SQL: candidates by shared banded LSH key (the GIN index on
 * `sources.phash_bands`), verified by Hamming distance (`bit_count` of the XOR), merged into the
 * stored groups (`sources.near_dup_group`: the group's smallest sha256).
 *
 * Concurrency: grouping runs under one transaction-scoped advisory lock, so groupings from
 * several enqueue processes run one after another. A source's row (hash and keys) is committed
 * before its grouping starts, so of two near-duplicates the one grouped second always sees the
 * other and joins their groups, whichever process inserted either.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';

const GROUPING_LOCK = 724312; // pg_advisory_xact_lock key (db/client.ts uses 724311 for migrations)

/** Joins components: members of each touched group plus the verified edges; returns id → canonical sha256. */
function mergeGroups(members: { id: number; sha256: string; g: string }[], edges: { a: number; b: number }[]): Map<number, string> {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    while (parent.get(x)! !== r) {
      const next = parent.get(x)!;
      parent.set(x, r);
      x = next;
    }
    return r;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const m of members) parent.set(m.id, m.id);
  const byGroup = new Map<string, number>();
  for (const m of members) {
    const first = byGroup.get(m.g);
    if (first === undefined) byGroup.set(m.g, m.id);
    else union(first, m.id);
  }
  for (const e of edges) if (parent.has(e.a) && parent.has(e.b)) union(e.a, e.b);
  const canonical = new Map<number, string>();
  for (const m of members) {
    const r = find(m.id);
    const c = canonical.get(r);
    if (c === undefined || m.sha256 < c) canonical.set(r, m.sha256);
  }
  return new Map(members.map((m) => [m.id, canonical.get(find(m.id))!]));
}

/** Runs `fn` in a transaction that holds the grouping lock (no enqueue groups meanwhile). */
export async function withGroupingLock<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t.execute(sql`SELECT pg_advisory_xact_lock(${GROUPING_LOCK})`);
    return fn(t);
  });
}

/**
 * Groups the given sources that are not grouped yet (hash known, `near_dup_group` null) with
 * every source within Hamming `distance`. Returns how many sources changed group.
 */
export async function groupNewSources(db: Db, ids: readonly number[], distance: number): Promise<number> {
  if (!ids.length) return 0;
  return withGroupingLock(db, async (t) => {
    const fresh = await rows<{ id: number }>(
      t,
      sql`SELECT id FROM sources WHERE id = ANY(${sql.param(ids)}::bigint[]) AND near_dup_group IS NULL AND phash IS NOT NULL`,
    );
    if (!fresh.length) return 0;
    const freshIds = fresh.map((r) => Number(r.id));
    const edges = await rows<{ a: number; b: number }>(
      t,
      sql`SELECT n.id AS a, s.id AS b
          FROM sources n
          JOIN sources s ON s.phash_bands && n.phash_bands AND s.id <> n.id
          WHERE n.id = ANY(${sql.param(freshIds)}::bigint[]) AND s.phash IS NOT NULL
            AND bit_count((n.phash # s.phash)::bit(64)) <= ${distance}`,
    );
    const touched = [...new Set([...freshIds, ...edges.map((e) => Number(e.b))])];
    const members = await rows<{ id: number; sha256: string; g: string; current: string | null }>(
      t,
      sql`WITH t AS (SELECT coalesce(near_dup_group, sha256) AS g FROM sources WHERE id = ANY(${sql.param(touched)}::bigint[]))
          SELECT id, sha256, coalesce(near_dup_group, sha256) AS g, near_dup_group AS current FROM sources
          WHERE id = ANY(${sql.param(touched)}::bigint[]) OR near_dup_group IN (SELECT g FROM t)`,
    );
    const list = members.map((m) => ({ id: Number(m.id), sha256: m.sha256, g: m.g }));
    const groupOf = mergeGroups(list, edges.map((e) => ({ a: Number(e.a), b: Number(e.b) })));
    const changes = members.filter((m) => m.current !== groupOf.get(Number(m.id)));
    await setGroups(t, changes.map((m) => ({ id: Number(m.id), group: groupOf.get(Number(m.id))! })));
    return changes.length;
  });
}

/** Writes `near_dup_group` for the given sources, a thousand per statement. */
export async function setGroups(db: Db, changes: readonly { id: number; group: string }[]): Promise<void> {
  for (let i = 0; i < changes.length; i += 1000) {
    const part = changes.slice(i, i + 1000);
    await db.execute(sql`UPDATE sources SET near_dup_group = v.g
      FROM unnest(${sql.param(part.map((c) => c.id))}::bigint[], ${sql.param(part.map((c) => c.group))}::text[]) AS v(id, g)
      WHERE sources.id = v.id`);
  }
}

/** Sources whose hash is known but not yet grouped (a grouping cut short), by id. */
export async function ungroupedSourceIds(db: Db, limit = 10_000): Promise<number[]> {
  const r = await rows<{ id: number }>(db, sql`SELECT id FROM sources WHERE near_dup_group IS NULL AND phash IS NOT NULL ORDER BY id LIMIT ${limit}`);
  return r.map((x) => Number(x.id));
}

export interface NearDupStats {
  /** Groups of two or more sources. */
  groups: number;
  /** Sources in such groups. */
  sources: number;
  /** Members of the largest group (1 when no two sources are near-duplicates; 0 with no sources). */
  largest: number;
  /** Sources without a perceptual hash yet (stored before hashing existed): `vibe-curate near-dups` fills them in. */
  unhashed: number;
}

/** Counts of near-duplicate groups. */
export async function nearDupStats(db: Db): Promise<NearDupStats> {
  const [r] = await rows<{ groups: number; sources: number; largest: number; unhashed: number }>(
    db,
    sql`SELECT count(*) FILTER (WHERE n > 1)::int AS groups,
               coalesce(sum(n) FILTER (WHERE n > 1), 0)::int AS sources,
               coalesce(max(n), 0)::int AS largest,
               (SELECT count(*) FROM sources WHERE phash IS NULL)::int AS unhashed
        FROM (SELECT count(*) AS n FROM sources GROUP BY coalesce(near_dup_group, sha256)) g`,
  );
  return { groups: Number(r?.groups ?? 0), sources: Number(r?.sources ?? 0), largest: Number(r?.largest ?? 0), unhashed: Number(r?.unhashed ?? 0) };
}

/** The group members of source `id` (itself included), by id; empty when the source is unknown. */
export async function nearDuplicatesOf(db: Db, id: number): Promise<{ id: number; sha256: string; origin: string; distance: number | null }[]> {
  const r = await rows<{ id: number; sha256: string; origin: string; distance: number | null }>(
    db,
    sql`SELECT s.id, s.sha256, s.origin, bit_count((s.phash # me.phash)::bit(64))::int AS distance
        FROM sources me JOIN sources s ON coalesce(s.near_dup_group, s.sha256) = coalesce(me.near_dup_group, me.sha256)
        WHERE me.id = ${id} ORDER BY s.id`,
  );
  return r.map((x) => ({ ...x, id: Number(x.id), distance: x.distance === null ? null : Number(x.distance) }));
}

/** Every source's id, sha256, blob and hash (signed decimal text, null when unknown), a page at a time in id order. */
export async function* streamSourceHashes(db: Db, page = 10_000): AsyncGenerator<{ id: number; sha256: string; blob: string; phash: string | null; group: string | null }[]> {
  let after = 0;
  for (;;) {
    const r = await rows<{ id: number; sha256: string; blob: string; phash: string | null; group: string | null }>(
      db,
      sql`SELECT id, sha256, blob, phash::text AS phash, near_dup_group AS "group" FROM sources WHERE id > ${after} ORDER BY id LIMIT ${page}`,
    );
    if (!r.length) return;
    yield r.map((x) => ({ ...x, id: Number(x.id) }));
    after = Number(r[r.length - 1]!.id);
  }
}

/** Stores a source's hash and band keys. */
export async function setSourceHashes(db: Db, list: readonly { id: number; phash: string; bands: number[] }[]): Promise<void> {
  for (let i = 0; i < list.length; i += 1000) {
    const part = list.slice(i, i + 1000);
    await db.execute(sql`UPDATE sources SET phash = v.h, phash_bands = v.b
      FROM (SELECT * FROM jsonb_to_recordset(${JSON.stringify(part.map((p) => ({ id: p.id, h: p.phash, b: p.bands })))}::jsonb)
            AS x(id bigint, h bigint, b int[])) AS v
      WHERE sources.id = v.id`);
  }
}
