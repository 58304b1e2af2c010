/** The SFT pick of one request: the brute-force reference of the SQL in selection.repository.ts. */
import { geometricMean, qualifies, type CandidateFacts, type SelectionParams } from './rules.ts';

export interface SftPick {
  /** The picked candidate; null when none qualifies. */
  candidateId: number | null;
  /** Its geometric mean (canonical 0–10); null with no pick. */
  score: number | null;
}

/** Highest geometric mean among qualifying candidates; ties to the lowest seed. */
export function pickSft(cands: readonly CandidateFacts[], params: SelectionParams): SftPick {
  let best: { c: CandidateFacts; g: number } | null = null;
  for (const c of cands) {
    if (!qualifies(c, params)) continue;
    const g = geometricMean(c.scores!);
    if (!best || g > best.g || (g === best.g && c.seed < best.c.seed)) best = { c, g };
  }
  return best ? { candidateId: best.c.id, score: best.g } : { candidateId: null, score: null };
}
