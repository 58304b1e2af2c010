/**
 * Overview: the funnel (the numbers `vibe-curate status --json` prints, from the same
 * repository), failure reasons, score histograms, and queue depth / throughput charts; refreshed
 * every 5 s.
 */
import { api, el, fmt, header, keyboard, setShortcuts } from './common.js';
import { histogram, lineChart } from './charts.js';

/** Flattens {a: {b: 1}} into [['a.b', 1]] (numbers only). */
function leaves(obj, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(obj ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') out.push([p, v]);
    else if (v && typeof v === 'object') out.push(...leaves(v, p));
  }
  return out;
}

const num = (path, value) => el('span', { class: 'num', 'data-funnel': path }, fmt.int(value));

function renderFunnel(f) {
  const stages = [
    ['Requests', 'requests.total', f.requests.total, null],
    ['Candidates generated', 'candidates.generated', f.candidates.generated, null],
    ['Checked', 'checks.checked', f.checks.checked, f.candidates.generated],
    ['Passed hard checks', 'checks.passed', f.checks.passed, f.checks.checked],
    ['Judged (scored)', 'judgments.ok', f.judgments.ok, f.judgments.judged],
    ['Above thresholds', 'judgments.aboveThresholds', f.judgments.aboveThresholds, f.judgments.ok],
    ['Requests selected', 'selection.requestsSelected', f.selection.requestsSelected, f.requests.total],
    ['SFT picks', 'selection.sftPicks', f.selection.sftPicks, f.selection.requestsSelected],
    [f.selection.ruleVersion ? `DPO pairs (${f.selection.ruleVersion})` : 'DPO pairs', 'selection.dpoPairs', f.selection.dpoPairs, null],
    // The other selection rules side by side: their pairs, and how many are not dominant (the
    // chosen side worse on some axis: strict dominance never makes those).
    ...Object.entries(f.selection.rules ?? {})
      .filter(([rule]) => rule !== f.selection.ruleVersion)
      .flatMap(([rule, n]) => [
        [`DPO pairs (${rule})`, `selection.rules.${rule}.dpoPairs`, n.dpoPairs, null],
        [`Not dominant (${rule})`, `selection.rules.${rule}.notDominant`, n.notDominant, n.dpoPairs],
      ]),
  ];
  const top = Math.max(1, ...stages.map((s) => s[2]));
  return el(
    'table',
    { class: 'funnel-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Stage'), el('th', { class: 'r' }, 'Count'), el('th', { class: 'r' }, 'Pass rate'), el('th', { class: 'bar-col' }, ''))),
    el(
      'tbody',
      {},
      stages.map(([label, path, n, of]) =>
        el(
          'tr',
          {},
          el('td', {}, label),
          el('td', { class: 'r' }, num(path, n)),
          el('td', { class: 'r', title: of === null ? '' : `${n} of ${of}` }, of === null ? '' : fmt.pct(n, of)),
          el('td', { class: 'bar-col' }, el('div', { class: 'bar', style: `width:${((100 * n) / top).toFixed(1)}%` })),
        ),
      ),
    ),
  );
}

function renderReasons(f) {
  const rows = [
    ['Face changed (IoU below threshold)', 'checks.faceFail', f.checks.faceFail, f.checks.checked],
    ['No change', 'checks.noChange', f.checks.noChange, f.checks.checked],
    ['Noise only', 'checks.noiseOnly', f.checks.noiseOnly, f.checks.checked],
    ['Grid artifacts', 'checks.artifactFail', f.checks.artifactFail, f.checks.checked],
    ['No faces in source (not a failure)', 'checks.noFaces', f.checks.noFaces, f.checks.checked],
    ['Judge reply unusable', 'judgments.failed', f.judgments.failed, f.judgments.judged],
    ['Candidates failed', 'candidates.failed', f.candidates.failed, f.candidates.generated],
    ['Requests failed', 'requests.failed', f.requests.failed, f.requests.total],
    ...Object.entries(f.failures.byStage).map(([stage, n]) => [`Open failures: ${stage}`, `failures.byStage.${stage}`, n, null]),
  ];
  return el(
    'table',
    { class: 'reasons-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Reason'), el('th', { class: 'r' }, 'Count'), el('th', { class: 'r' }, 'Share'))),
    el('tbody', {}, rows.map(([label, path, n, of]) => el('tr', {}, el('td', {}, label), el('td', { class: 'r' }, num(path, n)), el('td', { class: 'r' }, of === null ? '' : fmt.pct(n, of))))),
  );
}

function renderCounts(f) {
  return el('dl', {}, leaves(f).map(([path, v]) => [el('dt', {}, path), el('dd', {}, num(path, v))]));
}

function queueSeries(q) {
  const samples = q.samples ?? [];
  const depth = (q.queues ?? []).map((name) => ({
    name,
    points: samples.map((s) => [s.t, (s.counts[name]?.waiting ?? 0) + (s.counts[name]?.active ?? 0) + (s.counts[name]?.delayed ?? 0) + (s.counts[name]?.prioritized ?? 0)]),
  }));
  const failed = (q.queues ?? []).map((name) => ({ name, points: samples.map((s) => [s.t, s.counts[name]?.failed ?? 0]) }));
  return { depth, failed };
}

/** `rubric|model|promptHash`: the `?judge=` value every API call carries (common.js). */
const versionKey = (v) => `${v.rubric}|${v.model}|${v.promptHash}`;
const shortVersion = (v) => `${v.rubric} · ${v.model} · ${v.promptHash.slice(0, 8)}`;

/** The versions in force (judge, thresholds, check version) and, with several judge versions in the ledger, a selector. */
async function renderVersions() {
  const v = await api('/api/versions');
  const j = v.inForce.judge;
  const row = (k, val, attr) => [el('dt', {}, k), el('dd', { dataset: { version: attr } }, val)];
  document.getElementById('versions').replaceChildren(
    ...row('judge model', j.model, 'model'),
    ...row('rubric', j.rubric, 'rubric'),
    ...row('prompt hash', j.promptHash.slice(0, 8), 'prompt'),
    ...row('thresholds', Object.entries(v.inForce.thresholds).map(([k, n]) => `${k} ≥ ${n}`).join(', ') || 'none', 'thresholds'),
    ...row('check version', v.inForce.checkVersion, 'check'),
  );
  const known = v.judgeVersions;
  if (!known.some((x) => versionKey(x) === versionKey(j))) known.unshift({ ...j, judgments: 0 });
  const picker = document.getElementById('judge-picker');
  picker.hidden = known.length < 2;
  const select = document.getElementById('judge-select');
  select.replaceChildren(
    ...known.map((x) => el('option', { value: versionKey(x), selected: versionKey(x) === versionKey(v.showing) }, `${shortVersion(x)} (${fmt.int(x.judgments)} judgments)${versionKey(x) === versionKey(j) ? ' — in force' : ''}`)),
  );
  select.onchange = () => {
    const u = new URL(location.href);
    if (select.value === versionKey(j)) u.searchParams.delete('judge');
    else u.searchParams.set('judge', select.value);
    location.href = u.toString();
  };
}

/** JUDGES_FILE: per pair of judges, pass/fail disagreement, Spearman, and the largest disagreements linked to browse. */
async function renderAgreement() {
  const { agreement } = await api('/api/agreement');
  const card = document.getElementById('agreement-card');
  card.hidden = !agreement;
  if (!agreement) return;
  const key = (v) => `${v.rubric}|${v.model}|${v.promptHash}`;
  document.getElementById('agreement').replaceChildren(
    ...agreement.map((p) =>
      el(
        'div',
        { class: 'agreement-pair', dataset: { judges: `${p.labels[0]} vs ${p.labels[1]}` } },
        el('h3', {}, `${p.labels[0]} vs ${p.labels[1]}`),
        el(
          'dl',
          { class: 'counts' },
          el('dt', {}, 'scored by both'), el('dd', { dataset: { stat: 'candidates' } }, fmt.int(p.candidates)),
          el('dt', {}, 'pass/fail differs'), el('dd', { dataset: { stat: 'disagree' } }, `${fmt.int(p.passFailDisagree)} (${fmt.pct(p.passFailDisagree, p.candidates)})`),
          el('dt', {}, 'Spearman of aggregates'), el('dd', { dataset: { stat: 'spearman' } }, p.spearman === null ? '–' : p.spearman.toFixed(3)),
        ),
        el(
          'table',
          { class: 'disagreements' },
          el('thead', {}, el('tr', {}, el('th', {}, 'candidate'), el('th', {}, 'instruction'), el('th', {}, p.labels[0]), el('th', {}, p.labels[1]), el('th', {}, 'gap'))),
          el(
            'tbody',
            {},
            ...p.largest.map((d) =>
              el(
                'tr',
                { dataset: { candidate: d.candidateId } },
                el(
                  'td',
                  {},
                  el('a', { href: `/browse?request=${d.requestId}&judge=${encodeURIComponent(key(p.judges[0]))}`, title: 'browse its request under the first judge' }, `#${d.candidateId}`),
                  ' ',
                  el('a', { class: 'muted small', href: `/browse?request=${d.requestId}&judge=${encodeURIComponent(key(p.judges[1]))}`, title: 'browse its request under the second judge' }, '(2nd)'),
                ),
                el('td', { class: 'instr' }, d.instruction),
                el('td', {}, `${d.aggregates[0].toFixed(2)} ${d.passes[0] ? 'pass' : 'fail'}`),
                el('td', {}, `${d.aggregates[1].toFixed(2)} ${d.passes[1] ? 'pass' : 'fail'}`),
                el('td', {}, d.gap.toFixed(2)),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

async function refresh() {
  const [ov, q, tp] = await Promise.all([api('/api/overview'), api('/api/queues'), api('/api/throughput?minutes=60')]);
  const f = ov.funnel;
  document.getElementById('rubric').textContent = `rubric ${ov.rubric}`;
  const funnel = document.getElementById('funnel');
  funnel.replaceChildren(renderFunnel(f));
  funnel.setAttribute('aria-busy', 'false');
  document.getElementById('reasons').replaceChildren(renderReasons(f));
  document.getElementById('counts').replaceChildren(renderCounts({ ...f, near_duplicates: ov.nearDuplicates }));
  const h = ov.histograms;
  document.getElementById('histograms').replaceChildren(
    histogram({ title: 'instruction', ...h.instruction, max: 10, color: '#2563eb' }),
    histogram({ title: 'preservation', ...h.preservation, max: 10, color: '#16a34a' }),
    histogram({ title: 'quality', ...h.quality, max: 10, color: '#d97706' }),
    histogram({ title: 'face IoU', ...h.face_iou, max: 1, color: '#7c3aed' }),
  );
  const { depth, failed } = queueSeries(q);
  const perMin = tp.perMinute.map((m) => [Date.parse(m.minute), m]);
  document.getElementById('queue-charts').replaceChildren(
    lineChart({ title: 'Queue depth (waiting + active + delayed)', series: depth }),
    lineChart({ title: 'Failed jobs kept in Redis', series: failed }),
    lineChart({
      title: 'Candidates per minute (last hour, from the ledger)',
      series: ['generated', 'checked', 'judged'].map((k) => ({ name: k, points: perMin.map(([t, m]) => [t, m[k]]) })),
    }),
  );
  document.body.dataset.loaded = 'true';
}

await header('/');
setShortcuts([['b', 'browse candidates'], ['e', 'exports'], ['q', 'queues']]);
keyboard((e) => {
  if (e.key === 'b') location.href = '/browse';
  else if (e.key === 'e') location.href = '/exports';
  else if (e.key === 'q') location.href = '/queues';
});
await renderVersions().catch((err) => document.getElementById('versions').replaceChildren(el('p', { class: 'error' }, err.message)));
await refresh().catch((err) => document.getElementById('funnel').replaceChildren(el('p', { class: 'error' }, err.message)));
await renderAgreement().catch((err) => document.getElementById('agreement').replaceChildren(el('p', { class: 'error' }, err.message)));
setInterval(() => refresh().catch(() => {}), 5000);
