/**
 * The dashboard's face badge: an `uncertain` face check (no face, but a likely one) shows the
 * warning colour, not the colour of a pass; the style sheet defines that colour.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// The dashboard's browser module (plain JS, no type declarations), loaded as the page loads it.
const { faceBadgeClass } = (await import(new URL('../../dashboards/web/common.js', import.meta.url).href)) as { faceBadgeClass: (status: string) => string };

describe('face badge colour', () => {
  it('fail is bad, uncertain is warn, pass and no_faces are ok', () => {
    expect(faceBadgeClass('fail')).toBe('bad');
    expect(faceBadgeClass('uncertain')).toBe('warn');
    expect(faceBadgeClass('pass')).toBe('ok');
    expect(faceBadgeClass('no_faces')).toBe('ok');
  });

  it('the style sheet gives .badge.warn its own colours', () => {
    const css = readFileSync(new URL('../../dashboards/web/style.css', import.meta.url), 'utf8');
    const rule = /\.badge\.warn\s*\{([^}]*)\}/.exec(css);
    expect(rule?.[1]).toContain('var(--flag)');
    expect(rule?.[1]).not.toContain('var(--ok');
  });

  it('the request and browse views colour the face badge with it', () => {
    for (const page of ['request.js', 'browse.js']) {
      const js = readFileSync(new URL(`../../dashboards/web/${page}`, import.meta.url), 'utf8');
      expect(js, page).toMatch(/badge \$\{faceBadgeClass\((ck|row)\.face_status\)\}/);
    }
  });
});
