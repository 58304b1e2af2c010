/**
 * Exports: every export run (the exports table), and for a finished one its manifest with
 * download links to the manifest and each shard (/exports/NAME/…, Range and ETag supported).
 */
import { api, el, fmt, header, keyboard, setShortcuts, toast } from './common.js';

async function showManifest(name) {
  const box = document.getElementById('manifest-box');
  const out = document.getElementById('manifest');
  box.hidden = false;
  out.replaceChildren(el('p', { class: 'muted' }, 'loading…'));
  try {
    const res = await fetch(`/exports/${encodeURIComponent(name)}/manifest.json`, { credentials: 'same-origin' });
    const m = await res.json();
    if (!res.ok) throw new Error(m.error || res.statusText);
    const shards = Array.isArray(m.shardlist) ? m.shardlist : [];
    const rest = Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'shardlist'));
    out.replaceChildren(
      el('p', {}, el('a', { href: `/exports/${encodeURIComponent(name)}/manifest.json`, download: `${name}-manifest.json` }, `${name}/manifest.json`), el('span', { class: 'muted' }, ` · ${shards.length} file(s)`)),
      el(
        'div',
        { class: 'table-wrap' },
        el(
          'table',
          { class: 'shards' },
          el('thead', {}, el('tr', {}, el('th', {}, 'File'), el('th', {}, 'Kind'), el('th', {}, 'Split'), el('th', { class: 'r' }, 'Samples'), el('th', { class: 'r' }, 'Size'), el('th', { class: 'hide-sm' }, 'sha256'))),
          el(
            'tbody',
            {},
            shards.map((s) =>
              el(
                'tr',
                {},
                el('td', {}, el('a', { href: `/exports/${encodeURIComponent(name)}/${encodeURIComponent(s.url)}`, download: s.url }, s.url)),
                el('td', {}, s.kind ?? ''),
                el('td', {}, s.split ?? ''),
                el('td', { class: 'r' }, fmt.int(s.nsamples)),
                el('td', { class: 'r' }, fmt.bytes(s.filesize)),
                el('td', { class: 'mono small hide-sm', title: s.sha256 }, String(s.sha256 ?? '').slice(0, 16)),
              ),
            ),
          ),
        ),
      ),
      el('details', {}, el('summary', {}, 'manifest fields'), el('pre', { class: 'json' }, JSON.stringify(rest, null, 2))),
    );
  } catch (err) {
    out.replaceChildren(el('p', { class: 'error' }, `${name}: ${err.message}`));
  }
}

async function load() {
  const { exports } = await api('/api/exports');
  const list = document.getElementById('export-list');
  if (!exports.length) {
    list.replaceChildren(el('p', { class: 'muted' }, 'No exports yet. Run ', el('code', {}, 'vibe-curate export --kind sft --out DIR'), '.'));
    return;
  }
  list.replaceChildren(
    el(
      'table',
      { class: 'exports-table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Kind'), el('th', { class: 'hide-sm' }, 'Format'), el('th', {}, 'Status'), el('th', { class: 'r' }, 'Samples'), el('th', { class: 'r' }, 'Size'), el('th', { class: 'hide-sm' }, 'Finished'))),
      el(
        'tbody',
        {},
        exports.map((x) =>
          el(
            'tr',
            { dataset: { name: x.name } },
            el('td', {}, x.status === 'done' ? el('a', { href: `#${encodeURIComponent(x.name)}`, onclick: (e) => (e.preventDefault(), showManifest(x.name)) }, x.name) : x.name),
            el('td', {}, x.kind),
            el('td', { class: 'hide-sm' }, x.format),
            el('td', {}, el('span', { class: `badge ${x.status === 'done' ? 'ok' : x.status === 'failed' ? 'bad' : ''}` }, x.status)),
            el('td', { class: 'r' }, fmt.int(x.samples)),
            el('td', { class: 'r' }, fmt.bytes(x.bytes)),
            el('td', { class: 'small hide-sm' }, x.finished_at ? new Date(x.finished_at).toISOString().replace('T', ' ').slice(0, 19) : '–'),
          ),
        ),
      ),
    ),
  );
  const first = exports.find((x) => x.status === 'done');
  const wanted = decodeURIComponent(location.hash.slice(1));
  const pick = exports.find((x) => x.name === wanted && x.status === 'done') ?? first;
  if (pick) await showManifest(pick.name);
}

await header('/exports');
setShortcuts([['o', 'overview'], ['b', 'browse']]);
keyboard((e) => {
  if (e.key === 'o') location.href = '/';
  else if (e.key === 'b') location.href = '/browse';
});
await load().catch((err) => toast(err.message, 'error'));
document.body.dataset.loaded = 'true';
