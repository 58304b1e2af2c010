import { describe, expect, it } from 'vitest';
import { EDIT_OPS, parseInstruction, SAMPLE_INSTRUCTIONS, type EditOp } from '../../pipeline/builtin/instruction-grammar.ts';

/** At least two different phrasings per op, the way people write edit instructions. */
const PHRASINGS: Record<EditOp, string[]> = {
  grayscale: ['Convert the photo to black and white', 'make it grayscale', 'B&W please', 'remove all the colour', 'Turn it monochrome'],
  sepia: ['Apply a sepia filter', 'make it look like an old photograph', 'give it a vintage feel', 'Antique look'],
  warmer: ['Make it warmer', 'add a golden hour glow', 'warm up the tones', 'give it a cozy sunset feel'],
  cooler: ['make the image cooler', 'give it a cold, icy look', 'add a bluish tint', 'more blue please'],
  brighter: ['Brighten the photo', 'make it lighter', 'increase the exposure', 'Make it brighter'],
  darker: ['Darken the image', 'make it darker', 'lower the brightness', 'make it look like night', 'less bright'],
  more_contrast: ['increase the contrast', 'more contrast please', 'boost contrast', 'make it punchier'],
  less_contrast: ['reduce the contrast', 'lower contrast', 'give it a faded, washed-out look', 'soften the contrast'],
  saturate: ['make the colors more vivid', 'increase saturation', 'boost the colours', 'more vibrant'],
  desaturate: ['desaturate the image', 'mute the colors', 'make it less saturated', 'tone down the colours'],
  hue_shift: ['shift the hue by 60 degrees', 'rotate the hue 45°', 'change the hue', 'cycle the colors around the colour wheel'],
  blur: ['blur the photo', 'make it blurry', 'throw it out of focus', 'soften the image'],
  sharpen: ['sharpen the image', 'make it crisper', 'enhance the details', 'make it less blurry'],
  posterize: ['posterize it', 'posterise to 3 levels', 'make it look like a pop-art poster', 'reduce the number of colors'],
  border: ['add a border', 'put a red frame around the picture', 'add a 20px black border', 'frame it in gold'],
  caption: ['add a caption saying "Happy birthday"', "write 'hello' at the bottom", 'add the text "SALE"', 'put a title "Mars 2030" on it'],
  flip_horizontal: ['flip it horizontally', 'mirror the image', 'flip left to right', 'Mirror it'],
  flip_vertical: ['flip it vertically', 'flip the image upside down', 'mirror it top to bottom'],
  rotate: ['rotate 90 degrees', 'turn it 180°', 'rotate it counterclockwise', 'tilt the photo slightly', 'turn the picture upside down'],
  zoom: ['zoom in', 'crop closer to the subject', 'zoom in 2x', 'make it a close-up'],
  invert: ['invert the colors', 'make it a photo negative', 'negate the image'],
};

describe('parseInstruction', () => {
  for (const op of EDIT_OPS) {
    it(`recognises varied phrasings of ${op}`, () => {
      for (const text of PHRASINGS[op]) expect(parseInstruction(text)?.op, text).toBe(op);
    });
  }

  it('returns null for instructions no global operation can do', () => {
    for (const text of ['', '   ', 'replace the dog with a cat', 'remove the person on the left', 'dance', 'make her smile']) {
      expect(parseInstruction(text), text).toBeNull();
    }
  });

  it('extracts magnitudes: degrees, zoom factor, levels, colour and caption text', () => {
    expect(parseInstruction('rotate the image 90 degrees clockwise')).toEqual({ op: 'rotate', amount: 90 });
    expect(parseInstruction('rotate it counterclockwise')).toEqual({ op: 'rotate', amount: -90 });
    expect(parseInstruction('turn it upside down')).toEqual({ op: 'rotate', amount: 180 });
    expect(parseInstruction('rotate by 15° to the left')).toEqual({ op: 'rotate', amount: -15 });
    expect(parseInstruction('shift the hue by 120 degrees')).toEqual({ op: 'hue_shift', amount: 120 });
    expect(parseInstruction('zoom in 2x')).toEqual({ op: 'zoom', amount: 2 });
    expect(parseInstruction('zoom in 150%')).toEqual({ op: 'zoom', amount: 1.5 });
    expect(parseInstruction('posterize to 3 levels')).toEqual({ op: 'posterize', amount: 3 });
    expect(parseInstruction('add a red border')).toEqual({ op: 'border', color: '#d62728' });
    expect(parseInstruction('add a #0f0 border 12px')).toEqual({ op: 'border', color: '#00ff00', amount: 12 });
    expect(parseInstruction('Add a caption that says "Blue sky, bright day" at the bottom')).toEqual({ op: 'caption', text: 'Blue sky, bright day' });
    expect(parseInstruction('write Hello Mars at the top')).toEqual({ op: 'caption', text: 'Hello Mars' });
  });

  it('does not read keywords inside the caption text as other ops', () => {
    expect(parseInstruction('add the text "make it darker and rotate"')).toEqual({ op: 'caption', text: 'make it darker and rotate' });
  });

  it('is case- and whitespace-insensitive', () => {
    expect(parseInstruction('  MAKE   IT   BLACK AND WHITE ')?.op).toBe('grayscale');
  });
});

describe('SAMPLE_INSTRUCTIONS', () => {
  it('has at least 16 instructions, each parsed, with a category, covering every op', () => {
    expect(SAMPLE_INSTRUCTIONS.length).toBeGreaterThanOrEqual(16);
    const ops = new Set<EditOp>();
    for (const s of SAMPLE_INSTRUCTIONS) {
      const spec = parseInstruction(s.instruction);
      expect(spec, s.instruction).not.toBeNull();
      expect(s.category).toMatch(/^[a-z]+$/);
      ops.add(spec!.op);
    }
    expect([...ops].sort()).toEqual([...EDIT_OPS].sort());
  });
});
