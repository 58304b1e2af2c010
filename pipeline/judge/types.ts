/**
 * The judge's vocabulary: inputs, judgments and the Judge a client implements. Every judgment
 * names its rubric, model and prompt hash, so results of different rubric versions never mix.
 */
import type { Axes, Rubric } from './rubrics/types.ts';

export interface JudgeInput {
  source: Buffer;
  edit: Buffer;
  instruction: string;
  category?: string;
  signal?: AbortSignal;
}

export interface JudgmentBase {
  rubric: string;
  model: string;
  /** sha256 (hex) of the rubric's prompt template (for metric-v1: of its method text). */
  promptHash: string;
  /** Wall time of the whole judgment, retries included, in milliseconds. */
  latencyMs: number;
  /** Requests made (VLM) or 1 (metric judge). */
  attempts: number;
  /** The last reply text as received (VLM), null for the metric judge. */
  rawReply: string | null;
  /** Tokens summed over every attempt, when the server reported them. */
  usage?: { promptTokens?: number; completionTokens?: number };
}

export interface JudgmentOk extends JudgmentBase {
  ok: true;
  /** The rubric's own scores, on the rubric's own scale, keyed by the rubric's names. */
  rawScores: Record<string, number>;
  /** The rubric's axes (`rubric.axisNames`) in fixed order, on 0–10: what dominance and the geometric mean use. */
  scoreVector: number[];
  axes: Axes;
  /** Derived values the rubric defines (viescore: SC, PQ, O; nhr: keep). */
  aggregate: Record<string, number | boolean>;
  passesThresholds: boolean;
}

export interface JudgmentFailed extends JudgmentBase {
  ok: false;
  /** One line, why no score could be given. */
  error: string;
}

export type Judgment = JudgmentOk | JudgmentFailed;

export interface Judge {
  readonly model: string;
  readonly rubric: Rubric;
  judge(input: JudgeInput): Promise<Judgment>;
}
