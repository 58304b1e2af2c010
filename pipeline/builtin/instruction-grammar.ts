/**
 * The instruction grammar of the built-in CPU inference core: free-text edit instructions
 * ("make it black and white", "rotate 15° clockwise", "add a caption saying 'Hello'") mapped to
 * one global edit that sharp can honestly perform. Pure and synchronous, so the judge and the
 * tests can ask what an instruction means without running an edit.
 */

export type EditOp =
  | 'grayscale'
  | 'sepia'
  | 'warmer'
  | 'cooler'
  | 'brighter'
  | 'darker'
  | 'more_contrast'
  | 'less_contrast'
  | 'saturate'
  | 'desaturate'
  | 'hue_shift'
  | 'blur'
  | 'sharpen'
  | 'posterize'
  | 'border'
  | 'caption'
  | 'flip_horizontal'
  | 'flip_vertical'
  | 'rotate'
  | 'zoom'
  | 'invert';

/** Every op, in a stable order (handy for tests and reports). */
export const EDIT_OPS: readonly EditOp[] = [
  'grayscale', 'sepia', 'warmer', 'cooler', 'brighter', 'darker', 'more_contrast', 'less_contrast',
  'saturate', 'desaturate', 'hue_shift', 'blur', 'sharpen', 'posterize', 'border', 'caption',
  'flip_horizontal', 'flip_vertical', 'rotate', 'zoom', 'invert',
];

export interface EditSpec {
  op: EditOp;
  /** Op-specific magnitude: degrees for hue_shift/rotate (positive = clockwise), factor for zoom, levels for posterize, pixels for border. */
  amount?: number;
  /** Caption text. */
  text?: string;
  /** Border colour as `#rrggbb`. */
  color?: string;
}

const COLORS: Record<string, string> = {
  black: '#000000', white: '#ffffff', red: '#d62728', green: '#2ca02c', blue: '#1f5fd6', yellow: '#f2d40f',
  orange: '#ff7f0e', purple: '#8e44ad', pink: '#f06ea9', gray: '#808080', grey: '#808080', gold: '#d4af37',
  silver: '#c0c0c0', brown: '#8b5a2b', navy: '#1b2a6b', teal: '#128c8c', cyan: '#00bcd4', magenta: '#d81b8c',
};

const DEFAULT_BORDER_COLOR = '#ffffff';
const DEFAULT_HUE_DEGREES = 90;
const DEFAULT_ZOOM = 1.5;

interface Rule {
  op: EditOp;
  re: RegExp;
  /** Fills `amount`, `color`, … from the normalised instruction. */
  extra?: (s: string) => Omit<EditSpec, 'op'>;
}

const num = String.raw`(\d+(?:\.\d+)?)`;

function degrees(s: string): number | undefined {
  const m = new RegExp(`${num}\\s*(?:°|º|deg\\b|degrees?\\b)`).exec(s);
  return m ? Number(m[1]) : undefined;
}

function rotateAmount(s: string): { amount: number } {
  const ccw = /\b(counter[- ]?clockwise|anti[- ]?clockwise|ccw|to the left|left)\b/.test(s);
  if (/upside[- ]down|\b180\b|half a turn|half turn/.test(s)) return { amount: 180 };
  const deg = degrees(s) ?? (/\b(slight|slightly|a bit|a little|tilt)\b/.test(s) ? 10 : 90);
  return { amount: ccw ? -deg : deg };
}

function hueAmount(s: string): { amount: number } {
  const deg = degrees(s);
  if (deg !== undefined) return { amount: /\b(back|backward|negative|minus)\b/.test(s) ? -deg : deg };
  const m = new RegExp(`\\bby\\s+${num}\\b`).exec(s);
  return { amount: m ? Number(m[1]) : DEFAULT_HUE_DEGREES };
}

function zoomAmount(s: string): { amount: number } {
  const times = new RegExp(`${num}\\s*(?:x|×|times)\\b|${num}\\s*×`).exec(s);
  if (times) {
    const f = Number(times[1] ?? times[2]);
    if (f > 1 && f <= 8) return { amount: f };
  }
  const pct = new RegExp(`${num}\\s*(?:%|percent)`).exec(s);
  if (pct) {
    const p = Number(pct[1]);
    const f = p > 100 ? p / 100 : 1 + p / 100;
    if (f > 1 && f <= 8) return { amount: f };
  }
  if (/\b(slight|slightly|a bit|a little)\b/.test(s)) return { amount: 1.2 };
  if (/\b(tight|close[- ]?up|a lot|strongly|way)\b/.test(s)) return { amount: 2 };
  return { amount: DEFAULT_ZOOM };
}

function posterizeAmount(s: string): { amount?: number } {
  const m = new RegExp(`${num}\\s*(?:levels?|colou?rs?|tones?|shades?)`).exec(s);
  const n = m ? Math.round(Number(m[1])) : undefined;
  return n !== undefined && n >= 2 && n <= 64 ? { amount: n } : {};
}

function borderColor(s: string): { color: string; amount?: number } {
  const hex = /#([0-9a-f]{6}|[0-9a-f]{3})\b/.exec(s);
  let color = DEFAULT_BORDER_COLOR;
  if (hex) {
    const h = hex[1]!;
    color = h.length === 3 ? `#${[...h].map((c) => c + c).join('')}` : `#${h}`;
  } else {
    for (const [name, value] of Object.entries(COLORS)) {
      if (new RegExp(`\\b${name}\\b`).test(s)) {
        color = value;
        break;
      }
    }
  }
  const px = new RegExp(`${num}\\s*(?:px|pixels?)`).exec(s);
  return px ? { color, amount: Number(px[1]) } : { color };
}

/** Ordered: the first rule that matches wins, so more specific phrasings come first. */
const RULES: Rule[] = [
  { op: 'border', re: /\b(border|frame|framed|outline the (?:photo|image|picture))\b/, extra: borderColor },
  { op: 'flip_vertical', re: /\b(flip|mirror|reflect)\w*\b.*\b(vertical|vertically|upside[- ]down|top to bottom|over)\b|\bupside[- ]down\b.*\bflip|\bvertical (?:flip|mirror)/ },
  { op: 'flip_horizontal', re: /\b(flip|flipped|mirror|mirrored|reflect)\b|\bhorizontal (?:flip|mirror)|\bleft[- ]to[- ]right\b/ },
  { op: 'hue_shift', re: /\bhue\b|\bcolou?r wheel\b|\bshift (?:all )?(?:the )?colou?rs\b|\bcycle the colou?rs\b/, extra: hueAmount },
  { op: 'rotate', re: /\b(rotate|rotated|rotation|tilt|tilted|spin)\b|\bturn\b.*(?:\b(?:degrees?|clockwise|counter[- ]?clockwise|anti[- ]?clockwise|sideways|upside[- ]down|on its side)\b|°)|\bupside[- ]down\b/, extra: rotateAmount },
  { op: 'zoom', re: /\b(zoom|zoomed|crop|cropped|close[- ]?up|closer|punch in|magnify|enlarge the (?:centre|center|middle))\b/, extra: zoomAmount },
  { op: 'invert', re: /\b(invert|inverted|inverse|negative|negate)\b/ },
  { op: 'posterize', re: /\b(posteri[sz]e|posteri[sz]ed|poster|pop[- ]art|fewer colou?rs|reduce the (?:number of )?colou?rs|flat colou?rs|colou?r levels|quanti[sz]e)\b/, extra: posterizeAmount },
  { op: 'grayscale', re: /\b(gr[ae]y ?scale|black[- ]and[- ]white|black & white|b ?& ?w|b\/w|monochrome|monochromatic|colou?rless|remove (?:all )?(?:the )?colou?rs?|no colou?rs?|without colou?rs?|drain (?:all )?(?:the )?colou?rs?)\b/ },
  { op: 'sepia', re: /\b(sepia|vintage|antique|old[- ]fashioned|old photo(?:graph)?|aged|retro|faded brown|brown tone|daguerreotype|19th century)\b/ },
  { op: 'desaturate', re: /\b(desaturat\w*|less saturat\w*|reduce (?:the )?saturation|lower (?:the )?saturation|decrease (?:the )?saturation|mute|muted|mutes|dull|duller|subdued|less (?:vivid|vibrant|colou?rful|intense)|tone down (?:the )?colou?rs|pastel|washed[- ]out colou?rs)\b/ },
  { op: 'saturate', re: /\b(saturat\w*|vivid|vibrant|colou?rful|more colou?r|boost (?:the )?colou?rs?|richer colou?rs?|intensify (?:the )?colou?rs?|punchy colou?rs?|pop more|make the colou?rs pop)\b/ },
  { op: 'less_contrast', re: /\b(less|lower|lowered|reduce|reduced|decrease|decreased|soften|softer|weaken|low)\b[^.]*\bcontrast\b|\bcontrast\b[^.]*\b(down|lower|less|reduced)\b|\b(flatter|flat look|matte|washed[- ]out|faded|hazy|foggy)\b/ },
  { op: 'more_contrast', re: /\bcontrast\b|\b(punchier|more dramatic|dramatic)\b/ },
  { op: 'cooler', re: /\b(less warm|cool|cooler|cold|colder|icy|chilly|wintry|winter|blue tint|bluish|bluer|more blue|moonlight)\b/ },
  { op: 'warmer', re: /\b(warm|warmer|warmth|golden|golden hour|sunset|orange tint|amber|cozy|cosy|less cold|less blue|summer)\b/ },
  { op: 'darker', re: /\b(less bright|reduce (?:the )?(?:brightness|exposure)|lower (?:the )?(?:brightness|exposure)|decrease (?:the )?(?:brightness|exposure)|underexpose\w*|darken|darker|dark|dim|dimmer|night|nighttime|moody|gloomy|shadowy)\b/ },
  { op: 'brighter', re: /\b(brighten|brighter|bright|brightness|lighten|lighter|more light|exposure|overexpose\w*|illuminate|sunnier|light up)\b/ },
  { op: 'sharpen', re: /\b(sharpen|sharpened|sharper|sharp|crisp|crisper|clearer|more detail|more detailed|enhance (?:the )?(?:details|edges)|deblur|unblur|less blurry|remove (?:the )?blur|in focus)\b/ },
  { op: 'blur', re: /\b(blur|blurred|blurry|blurrier|out of focus|defocus\w*|soft focus|soften|softer|dreamy|gaussian|smooth(?:en)? (?:it|the image|everything)|hazier)\b/ },
];

const CAPTION_WORDS = /\b(caption|title|subtitle|headline|text|words?|write|writing|label|watermark|says|saying|reads|reading|inscription)\b/;

/** Extracts the caption text: a quoted phrase, or what follows "saying"/"that says"/"reading"/"with the text". */
function captionText(raw: string): string | undefined {
  const quoted = /["“”'‘’«]([^"“”‘’«»]{1,120})["“”'‘’»]/.exec(raw);
  if (quoted && quoted[1]!.trim()) return quoted[1]!.trim();
  const m = /\b(?:saying|that says|which says|reading|that reads|with the (?:text|words?)|the (?:text|words?)|caption|title|write|label)\s*:?\s+(.{1,120}?)\s*(?:\bat the (?:top|bottom)\b.*|\bon (?:the )?(?:top|bottom)\b.*|\bin the (?:corner|middle|center|centre)\b.*)?[.!]?$/i.exec(raw);
  const text = m?.[1]?.trim().replace(/^(?:a|an|the)\s+(?:caption|title|text)\s*/i, '');
  return text ? text : undefined;
}

/**
 * Parses a free-text edit instruction into one EditSpec; `null` when the instruction is not
 * understood (the server answers that with a 400). Case-insensitive, tolerant of wording.
 */
export function parseInstruction(text: string): EditSpec | null {
  if (typeof text !== 'string') return null;
  const raw = text.trim();
  if (!raw || raw.length > 2000) return null;
  const s = raw.toLowerCase().replace(/\s+/g, ' ');

  // A caption first: its text may contain any of the other keywords.
  if (CAPTION_WORDS.test(s) && /\b(add|put|write|place|insert|overlay|stamp|caption|title|label|with)\b/.test(s)) {
    const t = captionText(raw);
    if (t) return { op: 'caption', text: t };
  }
  const unquoted = s.replace(/["“”«][^"“”«»]*["“”»]/g, ' ');
  for (const rule of RULES) {
    if (rule.re.test(unquoted)) return { op: rule.op, ...(rule.extra ? rule.extra(unquoted) : {}) };
  }
  return null;
}

/** Instructions the demo draws from: every op, several phrasings, with a category each. */
export const SAMPLE_INSTRUCTIONS: { instruction: string; category: string }[] = [
  { instruction: 'Convert the photo to black and white', category: 'color' },
  { instruction: 'Give it a sepia tone like an old photograph', category: 'style' },
  { instruction: 'Make the colors warmer, like golden hour', category: 'color' },
  { instruction: 'Give the image a cooler, bluish tint', category: 'color' },
  { instruction: 'Brighten the image', category: 'tone' },
  { instruction: 'Make it darker, as if taken at dusk', category: 'tone' },
  { instruction: 'Increase the contrast', category: 'tone' },
  { instruction: 'Reduce the contrast for a faded matte look', category: 'tone' },
  { instruction: 'Make the colors more vivid', category: 'color' },
  { instruction: 'Mute the colors', category: 'color' },
  { instruction: 'Shift the hue by 120 degrees', category: 'color' },
  { instruction: 'Blur the whole picture', category: 'detail' },
  { instruction: 'Sharpen the details', category: 'detail' },
  { instruction: 'Posterize it to 4 levels like a pop-art print', category: 'style' },
  { instruction: 'Add a thick red border around the picture', category: 'frame' },
  { instruction: 'Add a caption that says "Hello world" at the bottom', category: 'text' },
  { instruction: 'Mirror the image horizontally', category: 'geometry' },
  { instruction: 'Flip it upside down vertically', category: 'geometry' },
  { instruction: 'Rotate the image 90 degrees clockwise', category: 'geometry' },
  { instruction: 'Zoom in 1.5x on the center', category: 'geometry' },
  { instruction: 'Invert the colors like a film negative', category: 'color' },
  { instruction: 'Make it grayscale', category: 'color' },
  { instruction: 'Make it look vintage', category: 'style' },
  { instruction: 'Tilt the photo slightly to the left', category: 'geometry' },
];
