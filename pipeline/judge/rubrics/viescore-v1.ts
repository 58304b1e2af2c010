/**
 * `viescore-v1`: the VIEScore rubric as GEdit-Bench uses it. Semantic consistency
 * SC = [editing success, over-editing], perceptual quality PQ = [naturalness, artifacts], all
 * integers 0–10, higher is better; SC = min, PQ = min, O = sqrt(SC·PQ).
 *
 * Canonical axes: instruction = editing success, preservation = over-editing score,
 * quality = PQ. Default thresholds: SC ≥ 6 and PQ ≥ 6 (GEdit-Bench reports means around 6–7
 * for strong editors, so 6 keeps edits a rater would call acceptable).
 */
import { z } from 'zod';
import type { VlmRubric } from './types.ts';
import { fill, finish, meetsThresholds, round4, sha256Text } from './common.ts';

const score = z.number().int().min(0).max(10);

/** The reply: reasoning first (the model thinks before it scores), then the four scores. */
export const viescoreReply = z.strictObject({
  reasoning: z.string(),
  editing_success: score,
  over_editing: score,
  naturalness: score,
  artifacts: score,
});

const PROMPT = `You are a professional digital artist. You will evaluate the effectiveness of an AI-generated image edit.
Two images are given: the first is the original image, the second is the edited image produced by an AI from the original and the editing instruction.
The editing instruction is: {{instruction}} (category: {{category}}).
All scores are integers from 0 to 10, and higher is always better.

Semantic consistency:
- editing_success: how well the edit follows the instruction. 0 means the edited image does not follow the instruction at all; 10 means it follows the instruction perfectly.
- over_editing: the degree of over-editing. 0 means the scene in the edited image is completely different from the original; 10 means the edited image can be recognised as a minimal yet effective edit of the original.

Perceptual quality of the edited image:
- naturalness: 0 means the scene does not look natural at all (wrong sense of distance, wrong shadow, wrong lighting); 10 means it looks natural.
- artifacts: 0 means the image contains a large portion of distortion, watermark, scratches, blurred faces, unusual body parts, repeated patterns such as checkerboards, or subjects that are not harmonised; 10 means it has no artifacts.

Do not let the quality of the original affect your judgment of the edit. Put a short explanation in "reasoning", then give the four scores. Reply with JSON only.`;

/** SC ≥ 6 and PQ ≥ 6 on the 0–10 scale. */
export const VIESCORE_DEFAULT_THRESHOLDS: Record<string, number> = { SC: 6, PQ: 6 };

/** Builds the rubric; `thresholds` replaces the defaults (keys: a raw score or SC, PQ, O). */
export function viescoreV1(thresholds: Record<string, number> = VIESCORE_DEFAULT_THRESHOLDS): VlmRubric {
  const axisNames = ['editing_success', 'over_editing', 'naturalness', 'artifacts'];
  return {
    kind: 'vlm',
    id: 'viescore-v1',
    axisNames,
    rawNames: axisNames,
    scale: { min: 0, max: 10 },
    thresholds: { ...thresholds },
    prompt: PROMPT,
    promptHash: sha256Text(PROMPT),
    replySchema: viescoreReply,
    schemaName: 'viescore_v1',
    renderPrompt: (instruction, category) => fill(PROMPT, instruction, category),
    score(raw) {
      const SC = Math.min(raw.editing_success!, raw.over_editing!);
      const PQ = Math.min(raw.naturalness!, raw.artifacts!);
      const O = round4(Math.sqrt(SC * PQ));
      const aggregate = { SC, PQ, O };
      return finish(
        axisNames.map((n) => raw[n]!),
        { instruction: raw.editing_success!, preservation: raw.over_editing!, quality: PQ },
        aggregate,
        meetsThresholds(thresholds, { ...raw, ...aggregate }),
      );
    },
  };
}
