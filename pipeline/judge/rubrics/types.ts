/**
 * What a rubric is: its axes, raw scores, thresholds and prompt (or method), and what it derives
 * from raw scores. The judges (pipeline/judge/types.ts) answer a rubric.
 */
import type { z } from 'zod';

export type AxisName = 'instruction' | 'preservation' | 'quality';
export const AXIS_NAMES: readonly AxisName[] = ['instruction', 'preservation', 'quality'];

/** The three canonical axes every judgment stores, each on 0–10 (higher is better). */
export type Axes = Record<AxisName, number>;

export type RubricId = 'viescore-v1' | 'nhr-v1' | 'imgedit-v1' | 'metric-v1';

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
