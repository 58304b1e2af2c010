/* global URLSearchParams, confirm */
/**
 * Browse: the filter form (kept in the URL), keyset pages of candidate cards, keyboard review
 * (a/r/f, n for a note, j/k to move, o to open the request) and bulk actions with a confirmation.
 */
import { api, askNote, el, faceBadgeClass, fmt, header, keyboard, queryObject, setShortcuts, toast, verdictBadge } from './common.js';

const form = document.getElementById('filters');
const list = document.getElementById('list');
const more = document.getElementById('more');
const summary = document.getElementById('summary');
let cursor = null;
let items = [];
let current = -1;
let loading = false;

function filterParams() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim() !== '') p.set(k, String(v).trim());
  return p;
}

function fillForm(q) {
  for (const [k, v] of Object.entries(q)) {
    const input = form.elements.namedItem(k);
    if (input && 'value' in input) input.value = v;
  }
}

const scoreCell = (label, v) => el('span', { class: 'score', title: label }, `${label[0].toUpperCase()} ${fmt.score(v)}`);

function card(row) {
  const node = el(
    'article',
    { class: 'cand', role: 'listitem', tabindex: '-1', dataset: { id: row.id, request: row.request_id }, onclick: () => select(items.findIndex((i) => i.row.id === row.id)), ondblclick: () => open(row) },
    el(
      'div',
      { class: 'thumbs' },
      el('img', { src: `/img/candidate/${row.id}?w=256`, alt: `candidate ${row.id}`, loading: 'lazy', width: 256, height: Math.round((256 * row.height) / row.width) }),
      el('img', { class: 'src-inset', src: `/img/source/${row.source_id}?w=96`, alt: 'source', loading: 'lazy' }),
      row.picked ? el('span', { class: 'pick', title: 'SFT pick' }, '★') : null,
    ),
    el(
      'div',
      { class: 'meta' },
      el(
        'div',
        { class: 'line1' },
        el('a', { href: `/request/${row.request_id}?c=${row.id}` }, `#${row.id}`),
        el('span', { class: 'muted' }, ` req ${row.request_id} · seed ${row.seed} · `),
        el('a', { class: 'muted', href: `/browse?near_dups_of=${row.source_id}`, title: 'candidates of this source and its near-duplicates' }, `src ${row.source_id}`),
      ),
      el('p', { class: 'instr', title: row.instruction }, row.instruction),
      el(
        'div',
        { class: 'badges' },
        el('span', { class: `badge st-${row.status}` }, row.status),
        row.category ? el('span', { class: 'badge cat' }, row.category) : null,
        row.face_status ? el('span', { class: `badge ${faceBadgeClass(row.face_status)}`, title: 'face check' }, `face ${row.face_status}${row.face_min_iou === null ? '' : ` ${fmt.iou(row.face_min_iou)}`}`) : null,
        row.change_status ? el('span', { class: `badge ${row.change_status === 'pass' ? 'ok' : 'bad'}`, title: 'change check' }, `change ${row.change_status}`) : null,
        el('span', { class: 'verdict-slot' }, verdictBadge(row.verdict)),
      ),
      el('div', { class: 'scores' }, scoreCell('instruction', row.axis_instruction), scoreCell('preservation', row.axis_preservation), scoreCell('quality', row.axis_quality)),
    ),
  );
  return node;
}

async function load(reset) {
  if (loading) return;
  loading = true;
  try {
    if (reset) {
      cursor = null;
      items = [];
      current = -1;
      list.replaceChildren();
    }
    const p = filterParams();
    if (cursor !== null) p.set('cursor', String(cursor));
    p.set('limit', '48');
    const page = await api(`/api/candidates?${p}`);
    for (const row of page.rows) {
      const node = card(row);
      items.push({ row, node });
      list.append(node);
    }
    cursor = page.nextCursor;
    more.hidden = cursor === null;
    summary.textContent = items.length === 0 ? 'No candidates match.' : `${items.length}${cursor === null ? '' : '+'} candidates shown · newest first`;
    document.body.dataset.loaded = 'true';
    if (current < 0 && items.length) select(0, false);
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    loading = false;
  }
}

function select(i, scroll = true) {
  if (i < 0 || i >= items.length) return;
  items[current]?.node.classList.remove('current');
  current = i;
  const n = items[i].node;
  n.classList.add('current');
  if (scroll) n.scrollIntoView({ block: 'nearest', behavior: 'instant' });
  if (items.length - i < 8 && cursor !== null) void load(false); // the next items are there before they are needed
}

function open(row) {
  location.href = `/request/${row.request_id}?c=${row.id}`;
}

async function review(verdict, note = '') {
  const it = items[current];
  if (!it) return;
  const idx = current;
  const slot = it.node.querySelector('.verdict-slot');
  const before = slot.innerHTML;
  slot.replaceChildren(verdictBadge(verdict));
  it.node.classList.add('pending');
  select(Math.min(idx + 1, items.length - 1)); // move on at once; the write finishes behind
  try {
    await api('/api/reviews', { method: 'POST', body: { candidateId: it.row.id, verdict, note } });
    it.row.verdict = verdict;
    it.node.classList.remove('pending');
    it.node.dataset.verdict = verdict;
  } catch (err) {
    slot.innerHTML = before;
    it.node.classList.remove('pending');
    toast(`candidate ${it.row.id}: ${err.message}`, 'error');
  }
}

async function bulk() {
  const verdict = document.getElementById('bulk-verdict').value;
  const note = document.getElementById('bulk-note').value;
  const filter = Object.fromEntries(filterParams().entries());
  try {
    const dry = await api('/api/reviews/bulk', { method: 'POST', body: { filter, verdict, note, confirm: false } });
    if (dry.count === 0) return toast('nothing matches');
    if (!confirm(`${verdict} all ${dry.count} candidates that match the filter? (cap ${dry.cap})`)) return;
    const done = await api('/api/reviews/bulk', { method: 'POST', body: { filter, verdict, note, confirm: true, expected: dry.count } });
    toast(`${verdict}: ${done.applied} candidates`);
    await load(true);
  } catch (err) {
    toast(err.message, 'error');
  }
}

await header('/browse');
setShortcuts([
  ['j / k', 'next / previous candidate'],
  ['a', 'accept (and move on)'],
  ['r', 'reject (and move on)'],
  ['f', 'flag (and move on)'],
  ['n', 'review with a note'],
  ['o / Enter', 'open the request view'],
  ['/', 'search instructions'],
]);
const cats = await api('/api/categories').catch(() => ({ categories: [] }));
const catSel = form.elements.namedItem('category');
for (const c of cats.categories) if (c.category) catSel.append(el('option', { value: c.category }, `${c.category} (${c.n})`));
fillForm(queryObject());
form.addEventListener('submit', (e) => {
  e.preventDefault();
  history.replaceState(null, '', `/browse?${filterParams()}`);
  void load(true);
});
form.addEventListener('reset', () => setTimeout(() => form.requestSubmit(), 0));
more.addEventListener('click', () => load(false));
document.getElementById('bulk-go').addEventListener('click', bulk);
if (window.matchMedia('(max-width: 700px)').matches && !location.search) document.getElementById('filters-box').open = false;
keyboard((e) => {
  const k = e.key;
  if (k === 'j') select(current + 1);
  else if (k === 'k') select(current - 1);
  else if (k === 'a') void review('accept');
  else if (k === 'r') void review('reject');
  else if (k === 'f') void review('flag');
  else if (k === 'n') {
    const it = items[current];
    if (it) askNote(it.row.note ?? '', `Review candidate #${it.row.id}`).then((v) => v && review(v.verdict, v.note));
  } else if ((k === 'o' || k === 'Enter') && items[current]) open(items[current].row);
  else if (k === '/') {
    e.preventDefault();
    document.getElementById('filters-box').open = true;
    form.elements.namedItem('q').focus();
  } else return;
  e.preventDefault();
});
await load(true);
