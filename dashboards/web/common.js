/* global URLSearchParams */
/**
 * Shared by every page: the header, a fetch wrapper (a 401 sends the browser to /login), a tiny
 * element builder, number formatting, toasts and the keyboard-shortcut help overlay.
 */

/** Builds an element: el('div', {class: 'x', onclick: fn}, child, 'text', …). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = String(v);
    else if (k === 'style') node.style.cssText = String(v); // through the CSSOM: the CSP allows no style attributes
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Builds an SVG element (attributes set as they are). */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

/** Calls the JSON API. Throws Error(message from the server) on a non-2xx answer. */
export async function api(path, opts = {}) {
  // The judge version the page shows (the overview's selector sets ?judge=): every API call reads it.
  const judge = new URLSearchParams(location.search).get('judge');
  if (judge && path.startsWith('/api/')) path += `${path.includes('?') ? '&' : '?'}judge=${encodeURIComponent(judge)}`;
  const init = { headers: { accept: 'application/json' }, credentials: 'same-origin', ...opts };
  if (opts.body !== undefined && typeof opts.body !== 'string') {
    init.body = JSON.stringify(opts.body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Error('not logged in');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}

export const fmt = {
  int: (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US')),
  pct: (num, den) => (den > 0 ? `${((100 * num) / den).toFixed(1)}%` : '–'),
  score: (n) => (n === null || n === undefined ? '–' : Number(n).toFixed(1)),
  iou: (n) => (n === null || n === undefined ? '–' : Number(n).toFixed(3)),
  bytes: (n) => {
    if (n === null || n === undefined) return '–';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    let v = Number(n);
    while (v >= 1024 && i < u.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
  },
};

/** Shows a short message at the bottom of the screen. */
export function toast(message, kind = 'info') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = el('div', { id: 'toasts', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = el('div', { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 2500);
}

const PAGES = [
  ['/', 'Overview'],
  ['/browse', 'Browse'],
  ['/exports', 'Exports'],
  ['/calibrate', 'Calibration'],
  ['/queues', 'Queues'],
  ['/metrics', 'Metrics'],
];

/** Renders the top bar with the page links and the reviewer's name. */
export async function header(active) {
  const nav = el(
    'nav',
    { class: 'nav', 'aria-label': 'pages' },
    PAGES.map(([href, label]) => el('a', { href, class: href === active ? 'active' : undefined, 'aria-current': href === active ? 'page' : undefined }, label)),
  );
  const who = el('a', { class: 'who', href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`, title: 'change reviewer name' }, '…');
  const help = el('button', { class: 'help-btn', type: 'button', title: 'keyboard shortcuts (?)', onclick: () => toggleHelp() }, '?');
  const bar = el('header', { class: 'topbar' }, el('a', { class: 'brand', href: '/' }, 'vibe-curate'), nav, el('div', { class: 'right' }, who, help));
  document.body.prepend(bar);
  try {
    const me = await api('/api/whoami');
    who.textContent = me.reviewer;
    who.dataset.reviewer = me.reviewer;
    return me;
  } catch {
    return { reviewer: 'anonymous', rubric: '' };
  }
}

let shortcuts = [['?', 'show or hide this help']];

/** Registers the shortcuts the help overlay lists: [[key, what], …]. */
export function setShortcuts(list) {
  shortcuts = [...list, ['?', 'show or hide this help'], ['Esc', 'close dialogs']];
}

/** Shows or hides the shortcut help (the `?` key). */
export function toggleHelp(force) {
  let dlg = document.getElementById('help');
  if (!dlg) {
    dlg = el(
      'div',
      { id: 'help', class: 'overlay', role: 'dialog', 'aria-label': 'keyboard shortcuts', hidden: true, onclick: (e) => e.target === dlg && toggleHelp(false) },
      el('div', { class: 'dialog' }, el('h2', {}, 'Keyboard shortcuts'), el('dl', { class: 'keys' }, shortcuts.map(([k, what]) => [el('dt', {}, el('kbd', {}, k)), el('dd', {}, what)]))),
    );
    document.body.append(dlg);
  }
  const show = force ?? dlg.hidden;
  dlg.hidden = !show;
}

/** True when a key event comes from a text field (shortcuts are off there). */
export function typing(e) {
  const t = e.target;
  return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

/** Installs the global `?` and Esc keys; `onKey(e)` gets the rest. */
export function keyboard(onKey) {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape') {
      toggleHelp(false);
      for (const d of document.querySelectorAll('.overlay')) d.hidden = true;
      return;
    }
    if (typing(e)) return;
    if (e.key === '?') {
      e.preventDefault();
      toggleHelp();
      return;
    }
    onKey(e);
  });
}

/**
 * Asks for a note in a small dialog. Resolves with {verdict, note} when a verdict button is
 * pressed (Ctrl+Enter = accept), or null on Esc / cancel.
 */
export function askNote(initial = '', title = 'Review with a note') {
  return new Promise((resolve) => {
    const area = el('textarea', { rows: 4, maxlength: 2000, placeholder: 'why (kept in the audit trail)', 'aria-label': 'note' });
    area.value = initial;
    const done = (v) => {
      dlg.remove();
      resolve(v);
    };
    const btn = (verdict, label) => el('button', { type: 'button', class: `v-${verdict}`, onclick: () => done({ verdict, note: area.value }) }, label);
    const dlg = el(
      'div',
      { class: 'overlay', role: 'dialog', 'aria-label': title },
      el(
        'div',
        { class: 'dialog' },
        el('h2', {}, title),
        area,
        el('div', { class: 'row' }, btn('accept', 'Accept'), btn('reject', 'Reject'), btn('flag', 'Flag'), el('button', { type: 'button', onclick: () => done(null) }, 'Cancel')),
      ),
    );
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') done(null);
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) done({ verdict: 'accept', note: area.value });
    });
    document.body.append(dlg);
    area.focus(); // at once: the next key typed goes into the note
  });
}

/** Reads the page's query string into a plain object. */
export function queryObject() {
  return Object.fromEntries(new URLSearchParams(location.search).entries());
}

/**
 * Badge colour of a face check status: fail red, uncertain amber (no face found, but a likely
 * one; whether it passes is FACE_UNCERTAIN's call), pass and no_faces green.
 */
export function faceBadgeClass(status) {
  if (status === 'fail') return 'bad';
  return status === 'uncertain' ? 'warn' : 'ok';
}

/** A small coloured verdict badge. */
export function verdictBadge(verdict) {
  return verdict ? el('span', { class: `badge v-${verdict}`, title: `reviewed: ${verdict}` }, verdict) : null;
}
