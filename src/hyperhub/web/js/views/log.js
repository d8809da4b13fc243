// Log: what just happened (live events, availability, rule runs) and the audit log (admins).

import { api, session } from '../api.js';
import { fmtTime, h } from '../dom.js';
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

function auditTable(rows) {
  const cols = ['ts', 'who', 'device', 'kind', 'what', 'result', 'message'];
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c === 'ts' ? 'time' : c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => {
      const v = c === 'ts' ? fmtTime(r.ts) : c === 'device' ? nameOf(r.device) : r[c];
      const text = v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      return h('td', { class: c === 'ts' ? 'nowrap' : '' }, text);
    }))))));
}

export function render(root) {
  const feed = h('ul', { class: 'feed', 'aria-label': 'Live events' }, store.feed.slice(0, 50).map(feedLine));
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
