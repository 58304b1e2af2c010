/**
 * Agreement between two judges (JUDGES_FILE), over the candidates both have scored: how often
 * their pass/fail differs (thresholds in force applied to each judge's raw scores), the
 * Spearman correlation of their aggregates (each judge's geometric mean of its own axes, 0–10),
 * and the candidates where the aggregates differ most. One statement per pair of judges.
 */
import { sql } from 'drizzle-orm';
import { rows, type Db } from '../client.ts';
import { thresholdsMetSql } from './selection.repository.ts';

export interface AgreementJudge {
  rubric: string;
  model: string;
  promptHash: string;
  thresholds: Record<string, number>;
}

export interface Disagreement {
  candidateId: number;
  requestId: number;
  seed: number;
  instruction: string;
  /** Each judge's aggregate (geometric mean of its axes, 0–10), in the pair's order. */
  aggregates: [number, number];
  passes: [boolean, boolean];
  /** |aggregates[0] − aggregates[1]|. */
  gap: number;
}

export interface PairAgreement {
  /** Candidates with a current ok judgment of both judges. */
  candidates: number;
  /** Of those, how many one judge passes and the other fails. */
  passFailDisagree: number;
  /** passFailDisagree / candidates; null with no candidate. */
  disagreementRate: number | null;
  /** Spearman's rho of the two aggregates (average ranks for ties); null when undefined (fewer than 2, or a constant side). */
  spearman: number | null;
  /** The largest gaps first (ties: pass/fail disagreement first, then candidate id). */
  largest: Disagreement[];
}

const current = (alias: string, v: AgreementJudge) => sql`
  JOIN LATERAL (
    SELECT jj.scores::float8[] AS s, jj.raw_scores || coalesce(jj.aggregate, '{}'::jsonb) AS vals FROM judgments jj
    WHERE jj.candidate_id = c.id AND jj.rubric = ${v.rubric} AND jj.judge_model = ${v.model} AND jj.prompt_hash = ${v.promptHash}
      AND jj.ok AND jj.scores IS NOT NULL AND jj.superseded_at IS NULL
    ORDER BY jj.id DESC LIMIT 1
  ) ${sql.raw(alias)} ON cardinality(${sql.raw(alias)}.s) > 0`;

/** Geometric mean of an axis array: exp(mean ln), 0 when an axis is not positive. */
const geo = (alias: string) => sql.raw(`(SELECT CASE WHEN bool_and(x > 0) THEN exp(avg(ln(CASE WHEN x > 0 THEN x ELSE 1 END))) ELSE 0 END FROM unnest(${alias}.s) x)`);

/** Agreement of judges `a` and `b` over every candidate both scored; `limit` largest disagreements listed. */
export async function judgePairAgreement(db: Db, a: AgreementJudge, b: AgreementJudge, limit = 10): Promise<PairAgreement> {
  const [r] = await rows<{ n: number; disagree: number; rho: number | null; largest: Disagreement[] | null }>(
    db,
    sql`WITH both_ AS MATERIALIZED (
          SELECT c.id, c.request_id, c.seed, rq.instruction, ${geo('ja')} AS ga, ${geo('jb')} AS gb,
                 ${thresholdsMetSql(sql`ja.vals`, a.thresholds)} AS pa, ${thresholdsMetSql(sql`jb.vals`, b.thresholds)} AS pb
          FROM candidates c JOIN requests rq ON rq.id = c.request_id
          ${current('ja', a)}
          ${current('jb', b)}
        ),
        ranked AS (
          SELECT *, (rank() OVER (ORDER BY ga) + count(*) OVER () - rank() OVER (ORDER BY ga DESC) + 1) / 2.0 AS ra,
                    (rank() OVER (ORDER BY gb) + count(*) OVER () - rank() OVER (ORDER BY gb DESC) + 1) / 2.0 AS rb
          FROM both_
        ),
        top AS (
          SELECT * FROM both_ ORDER BY abs(ga - gb) DESC, (pa <> pb) DESC, id LIMIT ${Math.max(0, Math.trunc(limit))}
        )
        SELECT (SELECT count(*) FROM both_)::int AS n,
               (SELECT count(*) FROM both_ WHERE pa <> pb)::int AS disagree,
               (SELECT corr(ra, rb) FROM ranked) AS rho,
               (SELECT json_agg(json_build_object('candidateId', id, 'requestId', request_id, 'seed', seed, 'instruction', instruction,
                                                  'aggregates', json_build_array(round(ga::numeric, 4), round(gb::numeric, 4)),
                                                  'passes', json_build_array(pa, pb), 'gap', round(abs(ga - gb)::numeric, 4))
                                ORDER BY abs(ga - gb) DESC, (pa <> pb) DESC, id) FROM top) AS largest`,
  );
  const n = Number(r?.n ?? 0);
  const disagree = Number(r?.disagree ?? 0);
  const rho = r?.rho === null || r?.rho === undefined ? null : Number(r.rho);
  return {
    candidates: n,
    passFailDisagree: disagree,
    disagreementRate: n ? disagree / n : null,
    spearman: rho === null || Number.isNaN(rho) ? null : rho,
    largest: (r?.largest ?? []).map((d) => ({
      ...d,
      candidateId: Number(d.candidateId),
      requestId: Number(d.requestId),
      aggregates: [Number(d.aggregates[0]), Number(d.aggregates[1])],
      gap: Number(d.gap),
    })),
  };
}
