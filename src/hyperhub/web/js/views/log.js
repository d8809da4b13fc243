// Log: what just happened (live events, availability, rule runs) and the audit log (admins).

import { api, session } from '../api.js';
import { fmtTime, h, label } from '../dom.js';
import { store, watchFeed } from '../store.js';

const nameOf = (id) => (store.devices.get(id) || {}).name || id || '';

function feedLine(item) {
  let text;
  if (item.type === 'availability') text = `${nameOf(item.device)} is ${item.online ? 'online' : 'offline'}`;
  else if (item.type === 'event') {
    const args = item.args && Object.keys(item.args).length ? ` ${JSON.stringify(item.args)}` : '';
    text = `${nameOf(item.device)}: ${item.event}${args}`;
  } else text = `${item.type}: ${item.rule || item.name || item.device || ''} ${item.result || item.message || ''}`;
  return h('li', {}, h('span', { class: 'muted' }, `${fmtTime(item.ts || Date.now())}  `), text);
}

/** What a command asked for, in words: "brightness → 30", "notify (message: hi)". */
function whatText(r) {
  const w = r.what || {};
  const plain = (v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  if (w.property) return `${label(w.property).toLowerCase()} → ${plain(w.value)}`;
  const args = w.args && Object.keys(w.args).length
    ? ` (${Object.entries(w.args).map(([k, v]) => `${k}: ${plain(v)}`).join(', ')})` : '';
  return `${label(w.action || '?').toLowerCase()}${args}`;
}

/** How it ended, in words: a refusal that only asked for a yes is not an error. */
function resultText(r) {
  if (r.result === 'error' && /needs confirmation/.test(r.message || '')) return 'asked for a yes';
  return { ok: 'done', error: 'failed', timeout: 'no answer' }[r.result] || r.result;
}

function auditTable(rows) {
  const cols = [['time', (r) => fmtTime(r.ts)], ['who', (r) => r.who],
    ['device', (r) => nameOf(r.device)], ['asked', whatText], ['result', resultText],
    ['details', (r) => r.message || '']];
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Audit log' }, h('table', {},
    h('thead', {}, h('tr', {}, cols.map(([name]) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map(([name, get]) =>
      h('td', { class: name === 'time' ? 'nowrap' : name === 'result' ? `result-${r.result}` : '' },
        String(get(r) ?? ''))))))));
}

export function render(root) {
  const feed = h('ul', { class: 'feed', tabindex: 0, 'aria-label': 'Live events' }, store.feed.slice(0, 50).map(feedLine));
  const empty = h('p', { class: 'hint' }, 'Nothing yet: events appear here as they happen.');
  if (store.feed.length) empty.hidden = true;
  watchFeed(feed, (item) => { empty.hidden = true; feed.prepend(feedLine(item)); });
  const audit = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
  const refresh = h('button', { type: 'button' }, 'Refresh');
  root.append(h('h1', { class: 'sr-only' }, 'Log'),
    h('h2', {}, 'Live events'), h('article', { class: 'card' }, empty, feed),
    h('div', { class: 'row' }, h('h2', {}, 'Audit log'), h('span', { class: 'spacer' }), refresh),
    audit);
  const load = async () => {
    if (!session.can('admin')) {
      audit.replaceChildren(h('p', { class: 'empty' }, 'Only admins can read the audit log.'));
      return;
    }
    try {
      const rows = await api('audit', { query: { limit: 200 } });
      audit.replaceChildren(rows.length ? auditTable(rows) : h('p', { class: 'empty' }, 'No commands yet.'));
    } catch (e) {
      const text = e.status === 403 ? 'Only admins can read the audit log.' : e.message;
      audit.replaceChildren(h('p', { class: 'empty' }, text));
    }
  };
  refresh.addEventListener('click', load);
  load();
}
