/* global URLSearchParams, requestAnimationFrame */
/**
 * Request view: the source and every candidate side by side with one shared zoom/pan, the face
 * boxes (source pixels) with per-face IoU, the change map, the judge's axes and raw reply, the
 * SFT pick and the DPO pairs; review with a/r/f (n: with a note), j/k to move, and the next
 * request is fetched ahead so that it shows at once. On demand (toggle, key m, or
 * ?browser-faces=1) MediaPipe's face detector runs in the browser on every image, draws its boxes
 * beside the server's, marks where they disagree and posts its result to /api/browser-faces.
 */
import { api, askNote, el, faceBadgeClass, fmt, header, keyboard, setShortcuts, svg, toast, verdictBadge } from './common.js';
import { BROWSER_MODEL, BROWSER_VERIFY, browserFaceDetector } from './browser-faces.js';

const panels = document.getElementById('panels');
const view = { scale: 1, x: 0, y: 0 }; // shared zoom: scale, translation as a fraction of the frame
let data = null;
let items = []; // [{kind:'candidate'|'pair', id, node}]
let current = -1;
const prefetched = new Map();

function requestId() {
  const m = /\/request\/(\d+)/.exec(location.pathname);
  return m ? Number(m[1]) : null;
}

function fetchRequest(id) {
  if (!prefetched.has(id)) prefetched.set(id, api(`/api/requests/${id}`));
  return prefetched.get(id);
}

function prefetch(id) {
  if (!id || prefetched.has(id)) return;
  fetchRequest(id)
    .then((d) => {
      // warm the image cache too, so the next request paints at once
      new Image().src = `/img/source/${d.source.id}?w=768`;
      for (const c of d.candidates) new Image().src = `/img/candidate/${c.id}?w=768`;
    })
    .catch(() => prefetched.delete(id));
}

/** Face boxes from checks.faces: {source:[{box:[x,y,w,h]}], edit:[…], matches:[{source, edit, iou}]}. */
function faceData(faces) {
  const boxes = (list) => (Array.isArray(list) ? list.map((f) => (Array.isArray(f) ? f : f?.box)).filter((b) => Array.isArray(b) && b.length === 4) : []);
  return { source: boxes(faces?.source), edit: boxes(faces?.edit), matches: Array.isArray(faces?.matches) ? faces.matches : [] };
}

function overlay(w, h, drawn) {
  return svg('svg', { class: 'faces', viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' }, drawn);
}

function boxRect([x, y, bw, bh], cls, label, w) {
  const fs = Math.max(10, w / 28);
  return [
    svg('rect', { x, y, width: bw, height: bh, class: cls, 'vector-effect': 'non-scaling-stroke' }),
    label ? svg('text', { x, y: Math.max(fs, y - fs * 0.25), class: `${cls}-label`, 'font-size': fs }, label) : null,
  ];
}

function frame(imgSrc, w, h, drawn, alt, image) {
  const img = el('img', { src: imgSrc, alt, draggable: 'false', 'data-image': `${image.kind}:${image.id}` });
  const layer = el('div', { class: 'layer' }, img, overlay(w, h, drawn));
  return el('div', { class: 'frame', style: `aspect-ratio:${w} / ${h}` }, layer);
}

function axesBars(j) {
  if (!j) return el('p', { class: 'muted small' }, 'not judged');
  if (!j.ok) return el('p', { class: 'error small' }, `judge failed: ${j.error ?? 'unusable reply'}`);
  const axes = [
    ['instruction', j.axis_instruction],
    ['preservation', j.axis_preservation],
    ['quality', j.axis_quality],
  ];
  return el(
    'div',
    { class: 'axes' },
    axes.map(([name, v]) =>
      el('div', { class: 'axis-row' }, el('span', { class: 'axis-name' }, name), el('div', { class: 'axis-track' }, el('div', { class: 'axis-fill', style: `width:${(v ?? 0) * 10}%` })), el('span', { class: 'axis-val' }, fmt.score(v))),
    ),
    j.raw_scores ? el('p', { class: 'muted small' }, Object.entries(j.raw_scores).map(([k, v]) => `${k} ${+Number(v).toFixed(2)}`).join(' · ')) : null,
    el('p', { class: 'small' }, j.passes_thresholds ? el('span', { class: 'badge ok' }, 'above thresholds') : el('span', { class: 'badge bad' }, 'below thresholds')),
  );
}

function reviewButtons(kind, id) {
  const b = (verdict, key) => el('button', { type: 'button', class: `v-${verdict}`, title: `${verdict} (${key})`, onclick: (e) => (e.stopPropagation(), submit(kind, id, verdict, '')) }, verdict);
  return el('div', { class: 'row review-buttons' }, b('accept', 'a'), b('reject', 'r'), b('flag', 'f'), el('button', { type: 'button', title: 'note (n)', onclick: (e) => (e.stopPropagation(), noteFor(kind, id)) }, 'note…'));
}

function sourcePanel(d) {
  const f = d.candidates.map((c) => faceData(c.check?.faces)).find((x) => x.source.length) ?? { source: [] };
  const drawn = f.source.map((b, i) => boxRect(b, 'box-src', `face ${i + 1}`, d.source.width));
  return el(
    'figure',
    { class: 'panel source' },
    frame(`/img/source/${d.source.id}?w=768`, d.source.width, d.source.height, drawn, 'source image', { kind: 'source', id: d.source.id }),
    el('figcaption', {}, el('strong', {}, 'Source'), el('span', { class: 'muted small' }, ` ${d.source.width}×${d.source.height}`), el('p', { class: 'muted small' }, `${f.source.length} face(s)`)),
  );
}

/** A source box [x, y, w, h] moved by a registration transform (scale s about its centre, then the shift). */
function movedBox([x, y, w, h], t) {
  const cx = x + w / 2 + Number(t.tx);
  const cy = y + h / 2 + Number(t.ty);
  const s = Number(t.s);
  return [cx - (s * w) / 2, cy - (s * h) / 2, s * w, s * h];
}

/** How each source face was measured (face rule v2): registration or detector, confidence, transform. */
function faceMeasures(matches) {
  const rows = matches.filter((m) => m.method);
  if (!rows.length) return null;
  const sign = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)}`;
  return el(
    'ul',
    { class: 'face-measures small muted' },
    rows.map((m) => {
      const how = m.method === 'registration' ? `registration, NCC ${Number(m.confidence).toFixed(3)}` : `detector, score ${Number(m.confidence).toFixed(3)}`;
      const tr = m.transform ? `, shift (${sign(m.transform.tx)}, ${sign(m.transform.ty)}) px, scale ${Number(m.transform.s).toFixed(3)}` : '';
      return el('li', {}, `face ${m.source + 1}: IoU ${Number(m.iou).toFixed(3)} by ${how}${tr}${m.changed ? ', face changed' : ''}`);
    }),
  );
}

/** The grid-artifact verdict: status, score and, for a fail, the period and where it was found. */
function artifactBadge(ck) {
  const a = ck.artifact ?? {};
  const fail = ck.artifact_status === 'fail';
  const detail = fail && a.period ? ` ${a.pattern} ${a.period}px in ${a.region?.kind ?? '?'}` : '';
  const title = `grid-artifact check: score ${a.score} (log10 of the edit's peak over the source's)${a.enforced ? '' : ', recorded only'}`;
  return el('span', { class: `badge ${fail && a.enforced ? 'bad' : 'ok'}`, title, 'data-artifact': ck.artifact_status }, `grid ${ck.artifact_status}${a.enforced || !fail ? '' : ' (recorded)'} ${Number(a.score ?? 0).toFixed(2)}${detail}`);
}

function candidatePanel(d, c) {
  const f = faceData(c.check?.faces);
  const thr = c.check?.face_threshold ?? 0.9;
  // Each source face where it was measured in the edit: its box moved by the registration's
  // transform, or the edit detection it was matched to; edit detections matched to no face: extra.
  const measured = (m) => {
    const label = `IoU ${Number(m.iou).toFixed(2)}`;
    const cls = Number(m.iou) >= thr ? 'box-ok' : 'box-bad';
    const src = f.source[m.source];
    if (m.method === 'registration' && m.transform && src && !m.changed) return boxRect(movedBox(src, m.transform), cls, label, d.source.width);
    return m.edit !== null && f.edit[m.edit] ? boxRect(f.edit[m.edit], cls, label, d.source.width) : null;
  };
  const drawn = [
    ...f.source.map((b) => boxRect(b, 'box-ref', '', d.source.width)),
    ...f.matches.map(measured).filter(Boolean),
    ...f.edit.flatMap((b, j) => (f.matches.some((x) => x.edit === j) ? [] : [boxRect(b, 'box-bad', 'extra', d.source.width)])),
  ];
  const roles = d.pairs.filter((p) => p.rank > 0).flatMap((p) => (p.chosen_id === c.id ? [`chosen in pair #${p.id}`] : p.rejected_id === c.id ? [`rejected in pair #${p.id}`] : []));
  const picked = d.selection?.candidate_id === c.id;
  const fr = frame(`/img/candidate/${c.id}?w=768`, d.source.width, d.source.height, drawn, `candidate ${c.id}`, { kind: 'candidate', id: c.id });
  const change = el('img', { class: 'change-map', alt: 'change map', 'data-src': `/img/change/${c.id}` });
  const layer = fr.querySelector('.layer');
  layer.insertBefore(change, layer.querySelector('svg.faces')); // under the face boxes
  const ck = c.check;
  const node = el(
    'figure',
    { class: `panel cand-panel${picked ? ' picked' : ''}`, dataset: { id: c.id }, onclick: () => select(items.findIndex((it) => it.kind === 'candidate' && it.id === c.id)) },
    fr,
    el(
      'figcaption',
      {},
      el('div', { class: 'row between' }, el('strong', {}, `#${c.id} · seed ${c.seed}`), el('span', { class: 'verdict-slot' }, verdictBadge(c.review?.verdict))),
      el(
        'div',
        { class: 'badges' },
        picked ? el('span', { class: 'badge pick-badge', title: 'SFT pick' }, '★ SFT pick') : null,
        roles.map((r) => el('span', { class: `badge ${r.startsWith('chosen') ? 'chosen' : 'rejected'}` }, r)),
        el('span', { class: `badge st-${c.status}` }, c.status),
      ),
      ck
        ? el(
            'p',
            { class: 'small' },
            el('span', { class: `badge ${faceBadgeClass(ck.face_status)}` }, `face ${ck.face_status}${ck.face_min_iou === null ? '' : ` min IoU ${fmt.iou(ck.face_min_iou)}`}`),
            ' ',
            el('span', { class: `badge ${ck.change_status === 'pass' ? 'ok' : 'bad'}` }, `change ${ck.change_status} ${(100 * ck.changed_fraction).toFixed(1)}%`),
            ck.artifact_status && ck.artifact_status !== 'off' ? ' ' : null,
            ck.artifact_status && ck.artifact_status !== 'off' ? artifactBadge(ck) : null,
          )
        : el('p', { class: 'muted small' }, 'not checked'),
      faceMeasures(f.matches),
      axesBars(c.judgment),
      c.judgment?.raw_reply ? el('details', { class: 'raw' }, el('summary', {}, 'judge reply'), el('pre', {}, c.judgment.raw_reply)) : null,
      c.review?.note ? el('p', { class: 'note small' }, `“${c.review.note}” — ${c.review.reviewer}`) : null,
      reviewButtons('candidate', c.id),
    ),
  );
  return node;
}

function pairsTable(d) {
  if (!d.pairs.length) return el('p', { class: 'muted' }, 'No DPO pairs for this request.');
  const seed = new Map(d.candidates.map((c) => [c.id, c.seed]));
  return el(
    'table',
    { class: 'pairs-table' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Pair'), el('th', {}, 'Chosen'), el('th', {}, 'Rejected'), el('th', {}, 'Margins'), el('th', {}, 'Rank'), el('th', {}, 'Review'), el('th', {}, ''))),
    el(
      'tbody',
      {},
      d.pairs.map((p) =>
        el(
          'tr',
          { class: 'pair-row', dataset: { id: p.id }, onclick: () => select(items.findIndex((it) => it.kind === 'pair' && it.id === p.id)) },
          el('td', {}, `#${p.id}`),
          el('td', {}, `#${p.chosen_id} (seed ${seed.get(p.chosen_id)})`),
          el('td', {}, `#${p.rejected_id} (seed ${seed.get(p.rejected_id)})`),
          el('td', {}, `${p.margins.map((m) => m.toFixed(1)).join(' / ')} = ${p.total_margin.toFixed(1)}`),
          el('td', {}, p.rank === 0 ? 'dropped' : String(p.rank)),
          el('td', { class: 'verdict-slot' }, verdictBadge(p.review?.verdict)),
          el('td', {}, reviewButtons('pair', p.id)),
        ),
      ),
    ),
  );
}

function applyView() {
  const t = `translate(${(view.x * 100).toFixed(3)}%, ${(view.y * 100).toFixed(3)}%) scale(${view.scale.toFixed(4)})`;
  for (const layer of panels.querySelectorAll('.layer')) layer.style.transform = t;
}

function clampView() {
  view.scale = Math.min(16, Math.max(1, view.scale));
  const lim = view.scale - 1;
  view.x = Math.min(0, Math.max(-lim, view.x));
  view.y = Math.min(0, Math.max(-lim, view.y));
}

function installZoom() {
  let drag = null;
  panels.addEventListener(
    'wheel',
    (e) => {
      const fr = e.target.closest('.frame');
      if (!fr) return;
      e.preventDefault();
      const r = fr.getBoundingClientRect();
      const px = (e.clientX - r.left) / r.width; // pointer as a fraction of the frame
      const py = (e.clientY - r.top) / r.height;
      const k = Math.exp(-e.deltaY * 0.0015);
      const s = Math.min(16, Math.max(1, view.scale * k));
      // keep the image point under the pointer fixed: (p - t) / s stays the same
      view.x = px - ((px - view.x) * s) / view.scale;
      view.y = py - ((py - view.y) * s) / view.scale;
      view.scale = s;
      clampView();
      applyView();
    },
    { passive: false },
  );
  panels.addEventListener('pointerdown', (e) => {
    const fr = e.target.closest('.frame');
    if (!fr || view.scale === 1) return;
    drag = { fr, x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
    fr.setPointerCapture(e.pointerId);
  });
  panels.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const r = drag.fr.getBoundingClientRect();
    view.x = drag.vx + (e.clientX - drag.x) / r.width;
    view.y = drag.vy + (e.clientY - drag.y) / r.height;
    clampView();
    applyView();
  });
  panels.addEventListener('pointerup', () => (drag = null));
  panels.addEventListener('pointercancel', () => (drag = null));
}

const round2 = (v) => Math.round(v * 100) / 100;

/**
 * Runs the browser detector on every image of the request shown (source and candidates), draws
 * its boxes (source pixels, a second colour), posts each image's result and marks what the
 * server's answer says disagrees: a face on one side only, or a matched pair under IoU 0.8.
 */
async function runBrowserFaces(d) {
  const status = document.getElementById('browser-faces-status');
  status.textContent = 'loading MediaPipe…';
  let det;
  try {
    det = await browserFaceDetector();
  } catch (err) {
    status.textContent = `MediaPipe failed: ${err.message}`;
    return;
  }
  let disagreeing = 0;
  for (const img of panels.querySelectorAll('img[data-image]')) {
    if (data !== d) return; // moved on to another request
    await img.decode().catch(() => {});
    const [kind, idText] = img.dataset.image.split(':');
    const sx = d.source.width / img.naturalWidth;
    const sy = d.source.height / img.naturalHeight;
    const faces = (await det.detect(img)).map((f) => ({ box: [round2(f.box[0] * sx), round2(f.box[1] * sy), round2(f.box[2] * sx), round2(f.box[3] * sy)], score: round2(f.score) }));
    let res = null;
    try {
      res = await api('/api/browser-faces', { method: 'POST', body: { image: { kind, id: Number(idText) }, model: BROWSER_MODEL, verify: BROWSER_VERIFY, faces } });
    } catch (err) {
      toast(`browser faces ${kind} ${idText}: ${err.message}`, 'error');
    }
    drawBrowserFaces(img, d, faces, res);
    img.dataset.browserFaces = String(faces.length);
    img.dataset.browserBoxes = JSON.stringify(faces.map((f) => f.box));
    if (res) img.dataset.browserDisagrees = String(res.disagrees);
    if (res?.disagrees) disagreeing++;
  }
  status.textContent = `MediaPipe (${BROWSER_MODEL}, measured by ${BROWSER_VERIFY}, ${det.where === 'worker' ? 'in a worker' : 'main thread'}): ${disagreeing ? `${disagreeing} image(s) disagree with the server` : 'agrees with the server'}`;
  document.body.dataset.browserFaces = det.where;
}

function drawBrowserFaces(img, d, faces, res) {
  const layer = img.closest('.layer');
  const overlaySvg = layer.querySelector('svg.faces');
  for (const old of overlaySvg.querySelectorAll('.browser')) old.remove();
  const only = new Set(res?.browserOnly ?? []);
  const iouOf = new Map((res?.matches ?? []).map((m) => [m.browser, m.iou]));
  faces.forEach((f, j) => {
    const iou = iouOf.get(j);
    const bad = only.has(j) || (iou !== undefined && iou < (res?.threshold ?? 0.8));
    const label = only.has(j) ? 'browser only' : iou !== undefined ? `MP IoU ${iou.toFixed(2)}` : `MP ${f.score.toFixed(2)}`;
    for (const n of boxRect(f.box, bad ? 'box-browser-bad' : 'box-browser', label, d.source.width)) if (n) overlaySvg.append(svgClass(n, 'browser'));
  });
  for (const i of res?.serverOnly ?? []) {
    const b = res.serverFaces[i];
    for (const n of boxRect(b, 'box-server-only', 'server only', d.source.width)) if (n) overlaySvg.append(svgClass(n, 'browser'));
  }
}

function svgClass(node, cls) {
  node.classList.add(cls);
  return node;
}

function browserToggle() {
  const on = document.getElementById('browser-faces').checked;
  panels.classList.toggle('hide-browser-faces', !on);
  if (on && data && panels.dataset.browserRan !== String(data.request.id)) {
    panels.dataset.browserRan = String(data.request.id);
    void runBrowserFaces(data);
  }
}

function toggles() {
  const faces = document.getElementById('show-faces').checked;
  const change = document.getElementById('show-change').checked;
  panels.classList.toggle('hide-faces', !faces);
  panels.classList.toggle('show-change', change);
  if (change) for (const img of panels.querySelectorAll('img.change-map:not([src])')) img.src = img.dataset.src;
}

function render(d, focusCandidate) {
  data = d;
  document.title = `Request ${d.request.id} · vibe-curate`;
  document.getElementById('title').textContent = `Request #${d.request.id}`;
  document.getElementById('instruction').textContent = d.request.instruction;
  document.getElementById('req-meta').textContent = `${d.request.category || 'no category'} · ${d.request.status} · ${d.candidates.length}/${d.request.candidates_wanted} candidates · model ${d.request.model} · rubric ${d.rubric}${d.selection ? ` · SFT pick ${d.selection.candidate_id ? `#${d.selection.candidate_id}` : 'none qualified'}` : ''}`;
  const prev = document.getElementById('prev');
  const next = document.getElementById('next');
  prev.toggleAttribute('hidden', !d.prevId);
  next.toggleAttribute('hidden', !d.nextId);
  if (d.prevId) prev.href = `/request/${d.prevId}`;
  if (d.nextId) next.href = `/request/${d.nextId}`;
  panels.replaceChildren(sourcePanel(d), ...d.candidates.map((c) => candidatePanel(d, c)));
  panels.style.setProperty('--n', String(d.candidates.length + 1));
  document.getElementById('pairs').replaceChildren(pairsTable(d));
  const fb = document.getElementById('failures-box');
  fb.hidden = d.failures.length === 0;
  document.getElementById('failures').replaceChildren(...d.failures.map((f) => el('li', {}, `${f.stage} ${f.subject}: ${f.error} (${f.attempts} attempts)`)));
  items = [
    ...d.candidates.map((c) => ({ kind: 'candidate', id: c.id, node: panels.querySelector(`.cand-panel[data-id="${c.id}"]`) })),
    ...d.pairs.filter((p) => p.rank > 0).map((p) => ({ kind: 'pair', id: p.id, node: document.querySelector(`.pair-row[data-id="${p.id}"]`) })),
  ];
  current = -1;
  const start = Math.max(0, items.findIndex((it) => it.kind === 'candidate' && it.id === focusCandidate));
  select(start, false);
  view.scale = 1;
  view.x = 0;
  view.y = 0;
  applyView();
  toggles();
  browserToggle();
  document.body.dataset.loaded = 'true';
  document.body.dataset.request = String(d.request.id);
  prefetch(d.nextId);
}

async function go(id, focusCandidate, push = true) {
  try {
    const d = await fetchRequest(id);
    if (push) history.pushState(null, '', `/request/${id}`);
    render(d, focusCandidate);
    window.scrollTo({ top: 0, behavior: 'instant' });
  } catch (err) {
    prefetched.delete(id);
    toast(err.message, 'error');
  }
}

function select(i, scroll = true) {
  if (i < 0 || i >= items.length) return;
  items[current]?.node?.classList.remove('current');
  current = i;
  items[i].node?.classList.add('current');
  if (scroll) items[i].node?.scrollIntoView({ block: 'nearest', behavior: 'instant' });
}

function advance() {
  if (current < items.length - 1) select(current + 1);
  else if (data?.nextId) void go(data.nextId); // the last item of this request: on to the next request
  else toast('last item of the last request');
}

async function submit(kind, id, verdict, note) {
  const it = items.find((x) => x.kind === kind && x.id === id);
  const slot = it?.node?.querySelector('.verdict-slot');
  slot?.replaceChildren(verdictBadge(verdict));
  const reqId = data.request.id;
  if (items[current] === it) advance();
  try {
    const body = kind === 'candidate' ? { candidateId: id, verdict, note } : { pairId: id, verdict, note };
    await api('/api/reviews', { method: 'POST', body });
    prefetched.delete(reqId); // its cached view is stale now
  } catch (err) {
    slot?.replaceChildren();
    toast(`${kind} ${id}: ${err.message}`, 'error');
  }
}

async function noteFor(kind, id) {
  const v = await askNote('', `Review ${kind} #${id}`);
  if (v) await submit(kind, id, v.verdict, v.note);
}

await header('/browse');
setShortcuts([
  ['j / k', 'next / previous candidate or pair'],
  ['a', 'accept (and move on)'],
  ['r', 'reject (and move on)'],
  ['f', 'flag (and move on)'],
  ['n', 'review with a note'],
  ['] / [', 'next / previous request'],
  ['c', 'toggle the change map'],
  ['b', 'toggle face boxes'],
  ['m', 'browser faces (MediaPipe): run and show / hide'],
  ['+ / - / 0', 'zoom in / out / reset'],
  ['u', 'back to browse'],
]);
installZoom();
document.getElementById('show-faces').addEventListener('change', toggles);
document.getElementById('show-change').addEventListener('change', toggles);
document.getElementById('browser-faces').addEventListener('change', browserToggle);
if (new URLSearchParams(location.search).get('browser-faces') === '1') document.getElementById('browser-faces').checked = true;
for (const a of [document.getElementById('prev'), document.getElementById('next')]) {
  a.addEventListener('click', (e) => {
    e.preventDefault();
    const id = Number(a.getAttribute('href')?.split('/').pop());
    if (id) void go(id);
  });
}
window.addEventListener('popstate', () => {
  const id = requestId();
  if (id) void go(id, undefined, false);
});
keyboard((e) => {
  const k = e.key;
  const it = items[current];
  if (k === 'j') select(current + 1);
  else if (k === 'k') select(current - 1);
  else if ((k === 'a' || k === 'r' || k === 'f') && it) void submit(it.kind, it.id, { a: 'accept', r: 'reject', f: 'flag' }[k], '');
  else if (k === 'n' && it) void noteFor(it.kind, it.id);
  else if (k === ']' && data?.nextId) void go(data.nextId);
  else if (k === '[' && data?.prevId) void go(data.prevId);
  else if (k === 'c') {
    const box = document.getElementById('show-change');
    box.checked = !box.checked;
    toggles();
  } else if (k === 'b') {
    const box = document.getElementById('show-faces');
    box.checked = !box.checked;
    toggles();
  } else if (k === 'm') {
    const box = document.getElementById('browser-faces');
    box.checked = !box.checked;
    browserToggle();
  } else if (k === '+' || k === '=' || k === '-') {
    const s = Math.min(16, Math.max(1, view.scale * (k === '-' ? 1 / 1.25 : 1.25)));
    view.x = 0.5 - ((0.5 - view.x) * s) / view.scale;
    view.y = 0.5 - ((0.5 - view.y) * s) / view.scale;
    view.scale = s;
    clampView();
    applyView();
  } else if (k === '0') {
    view.scale = 1;
    view.x = 0;
    view.y = 0;
    applyView();
  } else if (k === 'u') location.href = '/browse';
  else return;
  e.preventDefault();
});
const id = requestId();
const focus = Number(new URLSearchParams(location.search).get('c')) || undefined;
if (id) await go(id, focus, false);
requestAnimationFrame(applyView);
