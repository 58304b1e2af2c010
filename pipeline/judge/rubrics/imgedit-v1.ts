/**
 * `imgedit-v1`: an ImgEdit-style rubric. ImgEdit scores an edit with a VLM on three criteria,
 * each an integer 1–5: instruction adherence, image-editing quality and detail preservation,
 * and words the question differently per edit type (add, remove, replace, attribute change,
 * style, background, extract, compose, action). The prompts below are ours, written from those
 * published criteria; `overall` is the mean of the three.
 *
 * Edit type: chosen from the request's category (`editTypeOf`). Our own categories (the
 * built-in editor's grammar and the demo manifest) map as follows; ImgEdit's type names
 * themselves map to themselves; everything else, and no category, gets the generic variant:
 *
 * | our category | ImgEdit edit type | why |
 * | --- | --- | --- |
 * | style | style | a global look (sepia, pop-art, vintage) is a style transfer |
 * | color | attribute change | the colours of what is there change, its content does not |
 * | frame, text | add | a border or a caption is a new element put on the picture |
 * | tone, detail, geometry | generic | brightness, sharpness, flips and crops have no ImgEdit type |
 *
 * One judge version per rubric: the prompt hash is the sha256 of every variant (in the fixed
 * order of IMGEDIT_TYPES, each under its name), not of the variant one call used. Judgments of
 * one rubric under one prompt set therefore share a version whatever the request's category;
 * changing any variant changes the version of all of them, which is right, since a threshold or
 * a comparison over a campaign reads every category at once.
 *
 * Canonical axes on 0–10 as (score − 1) × 2.5: instruction = instruction_adherence,
 * preservation = detail_preservation, quality = editing_quality. The score vector (dominance,
 * geometric mean) is the same three in that order, so a DPO margin means what it means on the
 * other rubrics.
 */
import { z } from 'zod';
import type { VlmRubric } from './types.ts';
import { fill, finish, meetsThresholds, round4, sha256Text } from './common.ts';

const score = z.number().int().min(1).max(5);

export const imgeditReply = z.strictObject({
  reasoning: z.string(),
  instruction_adherence: score,
  editing_quality: score,
  detail_preservation: score,
});

export const IMGEDIT_TYPES = ['add', 'remove', 'replace', 'attribute', 'style', 'background', 'extract', 'compose', 'action', 'generic'] as const;
export type ImgEditType = (typeof IMGEDIT_TYPES)[number];

/** Our categories → ImgEdit edit types (see the table above); ImgEdit's own names are accepted too. */
export const CATEGORY_TO_IMGEDIT: Readonly<Record<string, ImgEditType>> = {
  style: 'style',
  color: 'attribute',
  colour: 'attribute',
  frame: 'add',
  text: 'add',
  tone: 'generic',
  detail: 'generic',
  geometry: 'generic',
  add: 'add',
  remove: 'remove',
  replace: 'replace',
  attribute: 'attribute',
  attribute_change: 'attribute',
  adjust: 'attribute',
  background: 'background',
  extract: 'extract',
  compose: 'compose',
  action: 'action',
};

/** The ImgEdit edit type of a request category (case and separators ignored); generic when unknown. */
export function editTypeOf(category?: string): ImgEditType {
  const key = (category ?? '').trim().toLowerCase().replace(/[\s-]+/g, '_');
  return CATEGORY_TO_IMGEDIT[key] ?? 'generic';
}

const HEAD = `You are grading an image edit for a benchmark of instruction-based image editors.
Two images are given: the first is the original image, the second is the edited image, produced from the original by the instruction {{instruction}} (category: {{category}}).
Give three integer scores from 1 to 5 (higher is better). What each score means for this kind of edit:`;

const TAIL = `Score each criterion on its own: a perfect edit of the wrong thing still scores 1 on instruction_adherence, a faithful but damaged edit scores low on editing_quality only. Put a short explanation in "reasoning", then the three scores. Reply with JSON only.`;

/** The three criteria per edit type: what adherence, quality and preservation look at. */
const CRITERIA: Record<ImgEditType, [string, string, string]> = {
  add: [
    'the requested object or element is present, of the kind, number, position and size asked. 5: exactly as asked; 1: nothing was added or something else was.',
    'the added element fits the scene: scale, perspective, lighting, shadows and edges are right, no seams or artifacts. 5: it looks as if it was always there; 1: pasted, distorted or broken.',
    'everything else in the picture is unchanged: other objects, background, identity, layout. 5: only the addition differs; 1: the rest of the image changed a lot.',
  ],
  remove: [
    'the named object is gone completely, and only that object. 5: fully removed; 1: still there, or the wrong object removed.',
    'the area it left is filled plausibly: continuous background, textures and lines, no smudge, blur patch or ghost outline. 5: no trace; 1: an obvious hole or smear.',
    'everything outside the removed object is unchanged. 5: only the removal differs; 1: unrelated content changed or lost.',
  ],
  replace: [
    'the named object was replaced by the requested one, in the same place. 5: the right object in the right place; 1: not replaced, or replaced by something else.',
    'the new object is rendered well and fits the scene: scale, perspective, lighting, contact with its surroundings. 5: natural; 1: distorted or pasted.',
    'everything except the replaced object is unchanged. 5: only the replacement differs; 1: the scene around it changed.',
  ],
  attribute: [
    'the requested attribute (colour, material, texture, expression, pose detail) changed as asked, on the intended subject or the whole image as asked. 5: exactly the asked change; 1: no change or the wrong one.',
    'the changed attribute looks natural: consistent shading and texture, clean boundaries, no colour bleeding, banding or clipping. 5: clean; 1: blotchy or broken.',
    'the subject keeps its shape and identity and the rest of the image is unchanged. 5: only the attribute differs; 1: shapes, identity or layout changed.',
  ],
  style: [
    'the image shows the requested style (medium, era, colour treatment, artistic look) throughout. 5: clearly and consistently the style asked; 1: no visible style change or a different one.',
    'the stylised image is coherent and well made: no noise, banding, broken textures or half-applied patches. 5: a clean rendition; 1: damaged.',
    'the content, composition and subjects of the original are still there and recognisable under the new style. 5: same scene, new look; 1: the scene was lost.',
  ],
  background: [
    'the background changed as asked while the foreground subject stayed. 5: the requested background; 1: unchanged, or the wrong one.',
    'the subject sits naturally in the new background: matching light, colour, scale and clean edges, no halo. 5: seamless; 1: a visible cut-out.',
    'the foreground subject is unchanged: shape, identity, pose, details. 5: identical subject; 1: the subject changed or was damaged.',
  ],
  extract: [
    'the requested subject was isolated as asked (alone, on a plain or transparent-looking background). 5: exactly that subject, nothing else; 1: the wrong subject or nothing isolated.',
    'the extracted subject has clean, accurate edges, with no missing parts or leftover background. 5: clean cut; 1: ragged or incomplete.',
    'the subject looks exactly as it did in the original: shape, colour, details. 5: identical; 1: altered.',
  ],
  compose: [
    'every part of a multi-step instruction was carried out. 5: all parts done; 1: none, or only a small part.',
    'the combined changes are coherent with one another and with the scene, free of artifacts. 5: natural; 1: conflicting or broken.',
    'whatever none of the steps asks to change is kept. 5: only the requested changes; 1: much else changed.',
  ],
  action: [
    'the subject now performs the requested action or takes the requested pose. 5: clearly the asked action; 1: no change or another action.',
    'the new pose is anatomically plausible and well rendered: limbs, hands, faces, contact with objects. 5: natural; 1: broken anatomy or artifacts.',
    'the subject keeps its identity, clothing and appearance, and the scene is unchanged. 5: same subject and scene; 1: a different subject or scene.',
  ],
  generic: [
    'the edit carries out the instruction completely and precisely. 5: exactly what was asked; 1: ignored or done wrong.',
    'the edited image is clean and natural: no distortion, noise, blockiness, checkerboard patterns, smudges, broken text or anatomy. 5: clean; 1: badly damaged.',
    'everything the instruction does not ask to change is kept: identity, layout, background, details. 5: only the requested change; 1: unrelated content changed or lost.',
  ],
};

/** The prompt template of one edit type. */
function variant(type: ImgEditType): string {
  const [adh, qual, pres] = CRITERIA[type];
  return `${HEAD}
- instruction_adherence: ${adh}
- editing_quality: ${qual}
- detail_preservation: ${pres}
${TAIL}`;
}

export const IMGEDIT_PROMPTS: Readonly<Record<ImgEditType, string>> = Object.fromEntries(IMGEDIT_TYPES.map((t) => [t, variant(t)])) as Record<ImgEditType, string>;

/** Every variant under its name, in IMGEDIT_TYPES order: what the prompt hash covers. */
const PROMPT_SET = IMGEDIT_TYPES.map((t) => `### ${t}\n${IMGEDIT_PROMPTS[t]}`).join('\n\n');

/**
 * Every score ≥ 3 and overall ≥ 3.5. On ImgEdit's scale 3 is "done, with visible flaws": below
 * it on any criterion an edit either misses the instruction, is visibly damaged, or changed what
 * it should have kept, and training on it teaches that failure. Overall ≥ 3.5 then asks for at
 * least one criterion above the floor (3, 3, 4 or better), so "barely acceptable everywhere" is
 * not kept; strong editors' published ImgEdit means sit around 3.5–4.2, so this keeps edits at
 * least as good as an average strong-editor output.
 */
export const IMGEDIT_DEFAULT_THRESHOLDS: Record<string, number> = {
  instruction_adherence: 3,
  editing_quality: 3,
  detail_preservation: 3,
  overall: 3.5,
};

/** 1–5 → 0–10. */
const toCanonical = (x: number): number => (x - 1) * 2.5;

/** Builds the rubric; `thresholds` replaces the defaults (keys: a raw score or `overall`, on 1–5). */
export function imgeditV1(thresholds: Record<string, number> = IMGEDIT_DEFAULT_THRESHOLDS): VlmRubric {
  const axisNames = ['instruction_adherence', 'detail_preservation', 'editing_quality'];
  return {
    kind: 'vlm',
    id: 'imgedit-v1',
    axisNames,
    rawNames: ['instruction_adherence', 'editing_quality', 'detail_preservation'],
    scale: { min: 1, max: 5 },
    thresholds: { ...thresholds },
    prompt: PROMPT_SET,
    promptHash: sha256Text(PROMPT_SET),
    replySchema: imgeditReply,
    schemaName: 'imgedit_v1',
    renderPrompt: (instruction, category) => fill(IMGEDIT_PROMPTS[editTypeOf(category)], instruction, category),
    score(raw) {
      const overall = round4((raw.instruction_adherence! + raw.editing_quality! + raw.detail_preservation!) / 3);
      return finish(
        axisNames.map((n) => toCanonical(raw[n]!)),
        {
          instruction: toCanonical(raw.instruction_adherence!),
          preservation: toCanonical(raw.detail_preservation!),
          quality: toCanonical(raw.editing_quality!),
        },
        { overall },
        meetsThresholds(thresholds, { ...raw, overall }),
      );
    },
  };
}
