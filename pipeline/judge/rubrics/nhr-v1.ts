/**
 * `nhr-v1`: the NoHumansRequired validator rubric. InstructionAdherence and ImageAesthetic on
 * 1–5 (decimals allowed); keep when both ≥ 4.7.
 *
 * NHR has no preservation score, yet every judgment stores three canonical axes. Rather than
 * invent one, nhr-v1 asks the same model a third question in the same reply,
 * `content_preservation` (1–5: how much of the original that the instruction does not touch
 * is kept). It is stored and mapped to the canonical `preservation` axis only; the keep rule
 * and the score vector (dominance, geometric mean) stay NHR's two axes.
 *
 * Canonical mapping 1–5 → 0–10: (x − 1) · 2.5. The score vector uses the same mapping, so a DPO
 * margin means the same on every rubric.
 */
import { z } from 'zod';
import type { VlmRubric } from './types.ts';
import { fill, finish, meetsThresholds, sha256Text } from './common.ts';

const score = z.number().min(1).max(5);

export const nhrReply = z.strictObject({
  reasoning: z.string(),
  instruction_adherence: score,
  image_aesthetic: score,
  content_preservation: score,
});

const PROMPT = `You are validating an image-editing triplet for a training set.
Two images are given: the first is the original image, the second is the edited image, produced from the original by the instruction {{instruction}} (category: {{category}}).
Rate on a scale from 1 to 5 (decimals allowed, higher is better):
- instruction_adherence: how completely and precisely the edited image carries out the instruction. 5: exactly what was asked, nothing missing; 1: the instruction was ignored or done wrong.
- image_aesthetic: the visual quality of the edited image on its own. 5: clean, natural, free of artifacts (no distortion, noise, blockiness, checkerboard patterns, smudges, broken text or anatomy); 1: badly damaged.
- content_preservation: how well the edited image keeps everything of the original that the instruction does not ask to change (identity, layout, background, details). 5: only the requested change; 1: unrelated content changed or lost.
Be strict: a triplet is kept only when it is near perfect. Put a short explanation in "reasoning", then the three scores. Reply with JSON only.`;

/** Both NHR axes ≥ 4.7 on their 1–5 scale. */
export const NHR_DEFAULT_THRESHOLDS: Record<string, number> = { instruction_adherence: 4.7, image_aesthetic: 4.7 };

/** 1–5 → 0–10. */
export const nhrToCanonical = (x: number): number => (x - 1) * 2.5;

/** Builds the rubric; `thresholds` replaces the defaults (keys: raw score names, on 1–5). */
export function nhrV1(thresholds: Record<string, number> = NHR_DEFAULT_THRESHOLDS): VlmRubric {
  const axisNames = ['instruction_adherence', 'image_aesthetic'];
  return {
    kind: 'vlm',
    id: 'nhr-v1',
    axisNames,
    rawNames: [...axisNames, 'content_preservation'],
    scale: { min: 1, max: 5 },
    thresholds: { ...thresholds },
    prompt: PROMPT,
    promptHash: sha256Text(PROMPT),
    replySchema: nhrReply,
    schemaName: 'nhr_v1',
    renderPrompt: (instruction, category) => fill(PROMPT, instruction, category),
    score(raw) {
      const keep = meetsThresholds(thresholds, raw);
      return finish(
        axisNames.map((n) => nhrToCanonical(raw[n]!)),
        {
          instruction: nhrToCanonical(raw.instruction_adherence!),
          preservation: nhrToCanonical(raw.content_preservation!),
          quality: nhrToCanonical(raw.image_aesthetic!),
        },
        { keep },
        keep,
      );
    },
  };
}
