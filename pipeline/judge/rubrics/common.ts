/** Helpers shared by the rubric files. */
import { createHash } from 'node:crypto';
import type { Axes, RubricScores } from './types.ts';

export const sha256Text = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/** Whether every threshold holds against the raw scores and aggregates (a missing value fails). */
export function meetsThresholds(thresholds: Record<string, number>, values: Record<string, number | boolean>): boolean {
  return Object.entries(thresholds).every(([k, min]) => typeof values[k] === 'number' && (values[k] as number) >= min);
}

/** Rounds to 4 decimals so stored scores are stable across platforms. */
export const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

export function finish(scoreVector: number[], axes: Axes, aggregate: Record<string, number | boolean>, passesThresholds: boolean): RubricScores {
  return {
    scoreVector: scoreVector.map(round4),
    axes: { instruction: round4(axes.instruction), preservation: round4(axes.preservation), quality: round4(axes.quality) },
    aggregate,
    passesThresholds,
  };
}

/** Fills `{{instruction}}` and `{{category}}` in a template; the instruction is JSON-quoted so it cannot break the prompt. */
export function fill(template: string, instruction: string, category?: string): string {
  return template.replaceAll('{{instruction}}', JSON.stringify(instruction)).replaceAll('{{category}}', category ?? 'unspecified');
}
