/* global URLSearchParams */
/**
 * Calibration: how often the judge's threshold decision agrees with the reviewers' verdicts
 * (precision, recall, F1, Cohen's κ; overall and per category), and per thresholded score a
 * chart of accepted against rejected candidates with the current and the suggested thresholds.
 * The numbers come from /api/calibration (as `vibe-curate calibrate --json`); the page says how
 * many reviews they rest on, and shows no suggestion when the server withheld them.
 */
import { api, el, fmt, header, queryObject, svg } from './common.js';

const ACCEPT = '#16a34a';
const REJECT = '#dc2626';
const f3 = (x) => (x === null || x === undefined ? '–' : Number(x).toFixed(3));

function agreementTable(r) {
  const row = (label, a) =>
    el('tr', {}, el('td', {}, label), el('td', { class: 'r' }, fmt.int(a.n)), el('td', { class: 'r' }, f3(a.precision)), el('td', { class: 'r' }, f3(a.recall)), el('td', { class: 'r' }, f3(a.f1)), el('td', { class: 'r' }, f3(a.kappa)));
  return el(
    'table',
    { class: 'agreement' },
    el('thead', {}, el('tr', {}, el('th', {}, ''), el('th', { class: 'r' }, 'reviews'), el('th', { class: 'r' }, 'precision'), el('th', { class: 'r' }, 'recall'), el('th', { class: 'r' }, 'F1'), el('th', { class: 'r' }, "Cohen's κ"))),
    el('tbody', {}, row('overall', r.overall), Object.entries(r.perCategory).map(([k, a]) => row(k, a))),
  );
}

/** Bars of accepted (green, up) and rejected (red) counts per score value, with threshold markers. */
function scoreChart(name, s) {
  const W = 420;
  const H = 190;
  const pad = { l: 34, r: 10, t: 24, b: 30 };
  const values = s.distribution.map((d) => d.value);
  const lo = Math.min(...values, s.current);
  const hi = Math.max(...values, s.current);
  const span = Math.max(1, hi - lo);
  const bw = Math.max(3, Math.min(18, (W - pad.l - pad.r) / Math.max(2, values.length + 1) / 2.5));
  // values inset by two bar widths on each side, so edge bars and markers stay inside the plot
  const x = (v) => pad.l + 2 * bw + ((W - pad.l - pad.r - 4 * bw) * (v - lo)) / span;
  const top = Math.max(1, ...s.distribution.map((d) => Math.max(d.accepted, d.rejected)));
  const y = (n) => H - pad.b - ((H - pad.t - pad.b) * n) / top;
  const bars = s.distribution.flatMap((d) => [
    svg('rect', { x: (x(d.value) - bw).toFixed(1), y: y(d.accepted).toFixed(1), width: bw.toFixed(1), height: (H - pad.b - y(d.accepted)).toFixed(1), fill: ACCEPT, class: 'bar-accepted', 'data-value': d.value, 'data-count': d.accepted }, svg('title', {}, `${name} = ${d.value}: ${d.accepted} accepted`)),
    svg('rect', { x: x(d.value).toFixed(1), y: y(d.rejected).toFixed(1), width: bw.toFixed(1), height: (H - pad.b - y(d.rejected)).toFixed(1), fill: REJECT, class: 'bar-rejected', 'data-value': d.value, 'data-count': d.rejected }, svg('title', {}, `${name} = ${d.value}: ${d.rejected} rejected`)),
    svg('text', { x: x(d.value).toFixed(1), y: H - pad.b + 12, 'text-anchor': 'middle', class: 'tick' }, String(d.value)),
  ]);
  const marker = (v, label, cls, dy) => {
    const at = x(v) - bw * 1.25; // just left of the value's bars: the line separates kept from dropped
    // the current threshold's label to the left of its line, the suggestion's to the right (so the
    // two never overlap), unless that side has no room for it
    const room = 70;
    const right = cls === 'current' ? at - room < pad.l : at + room < W - pad.r;
    return [
      svg('line', { x1: at, x2: at, y1: pad.t, y2: H - pad.b, class: cls, stroke: cls === 'current' ? '#6b7280' : '#2563eb', 'stroke-dasharray': cls === 'current' ? '4 3' : null }),
      svg('text', { x: right ? at + 3 : at - 3, y: pad.t + dy, 'text-anchor': right ? 'start' : 'end', class: 'tick' }, label),
    ];
  };
  const best = s.suggested?.bestF1;
  return el(
    'figure',
    { class: 'calib-score', 'data-score': name },
    svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${name}: accepted and rejected candidates per value` },
      svg('text', { x: pad.l, y: 14, class: 'chart-title' }, `${name} (threshold now ≥ ${s.current})`),
      svg('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: 'axis' }),
      svg('text', { x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end', class: 'tick' }, String(top)),
      bars,
      marker(s.current, `now ≥ ${s.current}`, 'current', 10),
      best ? marker(best.threshold, `best F1 ≥ ${best.threshold}`, 'suggested', 22) : [],
      svg('text', { x: W - pad.r, y: H - 4, 'text-anchor': 'end', class: 'tick' }, 'green: accepted · red: rejected'),
    ),
    el('figcaption', {}, suggestionText(name, s)),
  );
}

function suggestionText(name, s) {
  const a = s.agreement;
  const now = `now ≥ ${s.current}: precision ${f3(a.precision)}, recall ${f3(a.recall)}, F1 ${f3(a.f1)}.`;
  if (!s.suggested) return el('span', {}, now, ' ', el('em', { class: 'withheld' }, 'No suggestion (too few reviews).'));
  const b = s.suggested.bestF1;
  const p = s.suggested.precisionTarget;
  return el(
    'span',
    { class: 'suggestion' },
    now,
    ' ',
    b ? `Best F1: ${name} ≥ ${b.threshold} (precision ${f3(b.precision)}, recall ${f3(b.recall)}, F1 ${f3(b.f1)}). ` : 'No best-F1 threshold. ',
    p ? `Precision ≥ 0.9: ${name} ≥ ${p.threshold} (recall ${f3(p.recall)}).` : 'No threshold reaches precision 0.9.',
  );
}

async function load() {
  const q = queryObject();
  document.getElementById('f-rubric').value = q.rubric ?? '';
  document.getElementById('f-model').value = q.judge_model ?? '';
  const params = new URLSearchParams(Object.entries(q).filter(([k, v]) => ['rubric', 'judge_model'].includes(k) && v));
  const basis = document.getElementById('basis');
  try {
    const r = await api(`/api/calibration?${params}`);
    document.getElementById('version').textContent = `${r.rubric} · ${r.judgeModel}`;
    basis.replaceChildren(
      el('strong', { id: 'review-count', 'data-reviews': r.reviews }, `These numbers rest on ${fmt.int(r.reviews)} review(s)`),
      ` (${fmt.int(r.accepted)} accepted, ${fmt.int(r.rejected)} rejected) of candidates this judge version scored.`,
      r.withheld ? el('span', { class: 'withheld', id: 'withheld' }, ` No thresholds are suggested: fewer than ${r.minReviews} reviews.`) : '',
    );
    document.getElementById('agreement').replaceChildren(agreementTable(r));
    document.getElementById('scores').replaceChildren(...Object.entries(r.scores).map(([name, s]) => scoreChart(name, s)));
  } catch (err) {
    basis.textContent = `calibration unavailable: ${err.message}`;
  }
}

header('/calibrate');
load();
