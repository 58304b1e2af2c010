/**
 * Charts as inline SVG, drawn by this file alone (nothing downloaded): a histogram and a
 * multi-series line chart. Both scale to their container's width (viewBox + width 100%).
 */
import { svg } from './common.js';

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2'];

/** A histogram of `counts` over bins starting at `edges`, each `width` wide. */
export function histogram({ title, edges, counts, width, max: xMax, color = COLORS[0] }) {
  const W = 320;
  const H = 150;
  const pad = { l: 34, r: 8, t: 20, b: 22 };
  const top = Math.max(1, ...counts);
  const bw = (W - pad.l - pad.r) / counts.length;
  const y = (v) => H - pad.b - ((H - pad.t - pad.b) * v) / top;
  const total = counts.reduce((a, b) => a + b, 0);
  const bars = counts.map((n, i) =>
    svg(
      'rect',
      { x: (pad.l + i * bw + 0.5).toFixed(1), y: y(n).toFixed(1), width: Math.max(1, bw - 1).toFixed(1), height: (H - pad.b - y(n)).toFixed(1), fill: color, 'data-count': n },
      svg('title', {}, `${edges[i].toFixed(2)}–${(edges[i] + width).toFixed(2)}: ${n}`),
    ),
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = f * (xMax ?? edges[edges.length - 1] + width);
    const x = pad.l + f * (W - pad.l - pad.r);
    return svg('text', { x: x.toFixed(1), y: H - 6, 'text-anchor': 'middle', class: 'tick' }, String(+v.toFixed(2)));
  });
  return svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title} histogram, ${total} values` },
    svg('text', { x: pad.l, y: 13, class: 'chart-title' }, `${title} (n=${total})`),
    svg('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: 'axis' }),
    svg('text', { x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end', class: 'tick' }, String(top)),
    svg('text', { x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end', class: 'tick' }, '0'),
    bars,
    ticks,
  );
}

/** A line chart: `series` = [{name, points: [[t, v], …]}], t in ms. */
export function lineChart({ title, series, yLabel = '' }) {
  const W = 640;
  const H = 200;
  const pad = { l: 40, r: 10, t: 22, b: 24 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: no data yet` }, svg('text', { x: pad.l, y: 14, class: 'chart-title' }, title), svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'muted-text' }, 'no data yet'));
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(t0 + 1, ...all.map((p) => p[0]));
  const top = Math.max(1, ...all.map((p) => p[1]));
  const x = (t) => pad.l + ((W - pad.l - pad.r) * (t - t0)) / (t1 - t0);
  const y = (v) => H - pad.b - ((H - pad.t - pad.b) * v) / top;
  const fmtT = (t) => new Date(t).toISOString().slice(11, 16);
  const lines = series.map((s, i) =>
    svg('polyline', { points: s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' '), fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.8, 'data-series': s.name }),
  );
  const legend = series.map((s, i) => svg('text', { x: W - pad.r - (series.length - i) * 92, y: 14, fill: COLORS[i % COLORS.length], class: 'legend' }, `■ ${s.name}`));
  return svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, class: 'chart wide', role: 'img', 'aria-label': title },
    svg('text', { x: pad.l, y: 14, class: 'chart-title' }, title),
    legend,
    svg('line', { x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b, class: 'axis' }),
    svg('text', { x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end', class: 'tick' }, `${+top.toFixed(2)}${yLabel}`),
    svg('text', { x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end', class: 'tick' }, '0'),
    svg('text', { x: pad.l, y: H - 6, class: 'tick' }, fmtT(t0)),
    svg('text', { x: W - pad.r, y: H - 6, 'text-anchor': 'end', class: 'tick' }, fmtT(t1)),
    lines,
  );
}
