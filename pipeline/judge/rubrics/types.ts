/**
 * The judge's vocabulary: rubrics, inputs and judgments. Every judgment names its rubric,
 * model and prompt hash, so results of different rubric versions never mix.
 */
import type { z } from 'zod';

export type AxisName = 'instruction' | 'preservation' | 'quality';
export const AXIS_NAMES: readonly AxisName[] = ['instruction', 'preservation', 'quality'];

/** The three canonical axes every judgment stores, each on 0–10 (higher is better). */
export type Axes = Record<AxisName, number>;

export type RubricId = 'viescore-v1' | 'nhr-v1' | 'imgedit-v1' | 'metric-v1';

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

/** What a rubric derives from its raw scores; everything a judgment stores besides them. */
export interface RubricScores {
  scoreVector: number[];
  axes: Axes;
  aggregate: Record<string, number | boolean>;
  passesThresholds: boolean;
}

export interface Rubric {
  id: RubricId;
  /** The rubric's axes, in the fixed order of `scoreVector`. */
  axisNames: string[];
  /** Raw score names the rubric produces (a superset of axisNames when it asks more). */
  rawNames: string[];
  /** Inclusive range of the raw scores. */
  scale: { min: number; max: number };
  /** Minimum values, keyed by a raw score or aggregate name; a judgment passes when all hold. */
  thresholds: Record<string, number>;
  /** The prompt template (VLM rubrics) or the method description (metric-v1). */
  prompt: string;
  /** sha256 hex of `prompt`. */
  promptHash: string;
  /** Derives the stored values from raw scores (assumed already validated). */
  score(raw: Record<string, number>): RubricScores;
}

/** A rubric a VLM answers: a prompt, and one zod schema that both validates the reply and becomes its JSON schema. */
export interface VlmRubric extends Rubric {
  kind: 'vlm';
  replySchema: z.ZodType<Record<string, unknown>>;
  /** `json_schema.name` in the request. */
  schemaName: string;
  /** The prompt text sent, the template filled in with the instruction. */
  renderPrompt(instruction: string, category?: string): string;
}

export interface Judge {
  readonly model: string;
  readonly rubric: Rubric;
  judge(input: JudgeInput): Promise<Judgment>;
}
