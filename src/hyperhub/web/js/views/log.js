// Log: what just happened (live events, availability, rule runs) and the audit log (admins).

import { api, session } from '../api.js';
import { fmt, fmtTime, h, zoneLabel } from '../dom.js';
import { actionLabel, errorWord, eventText, lang, noun, translator } from '../i18n.js';
import { propSpec, store, watchFeed } from '../store.js';
import { resultWord } from './rules.js';

const t = translator({
  '{name} is online': '{name}已上线', '{name} is offline': '{name}已离线',
  '{name} {event}': '{name}{event}', 'Rule {name}: {result}': '规则“{name}”：{result}',
  'asked for a yes': '等待确认', done: '完成', failed: '失败', 'no answer': '无响应',
  time: '时间', who: '操作者', device: '设备', asked: '请求', result: '结果', details: '详情',
  'Audit log': '操作记录', 'Live events': '实时动态',
  'Nothing yet: events appear here as they happen.': '暂无动态：有事发生时会显示在这里。',
  'Loading…': '加载中…', Refresh: '刷新', Log: '日志',
  'Only admins can read the audit log.': '只有管理员可以查看操作记录。',
  'No commands yet.': '还没有操作记录。',
  'no change': '没有变化',
  // an action's or event's arguments (the device types' arg names)
  message: '内容', target: '目标', area: '区域', ', ': '，', ': ': '：',
});

const nameOf = (id) => (store.devices.get(id) || {}).name || id || '';
// the rules' names, for their runs in the feed (the feed has only ids)
const ruleNames = new Map();

/** An action's or event's arguments: " (message: hi)"; ids of areas and devices by name. */
export function argsText(args) {
  if (!args || !Object.keys(args).length) return '';
  const areas = new Map((store.space.areas || []).map((a) => [a.id, a.name]));
  const plain = (k, v) => {
    if (typeof v === 'object' && v !== null) return JSON.stringify(v);
    if (k === 'area' && areas.has(v)) return areas.get(v);
    if (k === 'target' && store.devices.has(v)) return nameOf(v);
    return String(v);
  };
  const parts = Object.entries(args).map(([k, v]) => `${t(k)}${t(': ')}${plain(k, v)}`);
  return lang === 'zh' ? `（${parts.join(t(', '))}）` : ` (${parts.join(', ')})`;
}

function feedLine(item) {
  let text;
  const name = nameOf(item.device);
  if (item.type === 'availability') text = t(item.online ? '{name} is online' : '{name} is offline', { name });
  else if (item.type === 'event') {
    text = t('{name} {event}', { name, event: eventText(item.event) }) + argsText(item.args);
  }
  else if (item.type === 'rule_run') {
    const result = item.message ? `${resultWord(item.result)} — ${item.message}` : resultWord(item.result);
    text = t('Rule {name}: {result}', { name: ruleNames.get(item.rule) || item.rule, result });
  } else text = `${item.type}: ${item.rule || item.name || item.device || ''} ${item.result || item.message || ''}`;
  const when = item.ts || item.finished || item.started || Date.now();
  return h('li', {}, h('span', { class: 'muted' }, `${fmtTime(when)}  `), text);
}

/** What a command asked for, in words: "brightness → 30%", "notify (message: hi)". */
function whatText(r) {
  const w = r.what || {};
  if (w.property) {
    const dev = store.devices.get(r.device);
    const v = w.value;
    const value = typeof v === 'object' && v !== null && !('lat' in v)
      ? JSON.stringify(v) : fmt(v, dev ? propSpec(dev, w.property) : {}, w.property);
    return `${noun(w.property)} → ${value}`;
  }
  const action = actionLabel(w.action || '?');
  return `${lang === 'zh' ? action : action.toLowerCase()}${argsText(w.args)}`;
}

/** What changed, in words: {on: true, brightness: 30} → "power → On, brightness → 30%". */
function changesText(r) {
  const changes = r.changes;
  if (!changes) return r.message || ''; // a row written before the hub kept its changes
  const entries = Object.entries(changes);
  if (!entries.length) return t('no change');
  const dev = store.devices.get(r.device);
  return entries.map(([prop, v]) => {
    const value = typeof v === 'object' && v !== null && !('lat' in v)
      ? JSON.stringify(v) : fmt(v, dev ? propSpec(dev, prop) : {}, prop);
    return `${noun(prop)} → ${value}`;
  }).join(t(', '));
}

// why a command failed: on a Chinese page the reason its code gives, the hub's English
// message (it names ids and ranges) folded under it
function detailsCell(r) {
  if (r.result === 'ok') return changesText(r);
  const message = r.message || '';
  const why = lang === 'zh' ? errorWord(r.code || (r.result === 'timeout' ? 'device_timeout' : 'error')) : '';
  if (!why || !message) return why || message;
  const original = h('span', { lang: 'en', hidden: true }, message);
  const fold = h('details', {}, h('summary', {}, why), original);
  fold.addEventListener('toggle', () => { original.hidden = !fold.open; });
  return fold;
}

/** Who sent it, in words (the hub says it: a token's name, "the assistant (phone)", a
 *  rule by its name, "the command line"). */
function whoCell(r) {
  return r.by || r.who || '';
}

/** How it ended, in words: a refusal that only asked for a yes is not an error. */
function resultText(r) {
  if (r.code === 'needs_confirmation') return t('asked for a yes');
  const word = { ok: 'done', error: 'failed', timeout: 'no answer' }[r.result];
  return word ? t(word) : r.result;
}

const cell = (x) => (x instanceof Node ? x : String(x ?? ''));

function auditTable(rows) {
  const cols = [['time', (r) => fmtTime(r.ts)], ['who', whoCell],
    ['device', (r) => nameOf(r.device)], ['asked', whatText], ['result', resultText],
    ['details', detailsCell]];
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('Audit log') }, h('table', {},
    h('thead', {}, h('tr', {}, cols.map(([name]) => h('th', { scope: 'col' }, t(name))))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map(([name, get]) =>
      h('td', { class: name === 'time' ? 'nowrap' : name === 'result' ? `result-${r.result}` : '' },
        cell(get(r)))))))));
}

export function render(root) {
  const feed = h('ul', { class: 'feed', tabindex: 0, 'aria-label': t('Live events') });
  const drawFeed = () => feed.replaceChildren(...store.feed.slice(0, 50).map(feedLine));
  drawFeed();
  const empty = h('p', { class: 'hint' }, t('Nothing yet: events appear here as they happen.'));
  if (store.feed.length) empty.hidden = true;
  watchFeed(feed, (item) => { empty.hidden = true; feed.prepend(feedLine(item)); });
  const audit = h('div', {}, h('p', { class: 'hint' }, t('Loading…')));
  const refresh = h('button', { type: 'button' }, t('Refresh'));
  root.append(h('h1', { class: 'sr-only' }, t('Log')),
    h('p', { class: 'hint' }, zoneLabel()),
    h('h2', {}, t('Live events')), h('article', { class: 'card' }, empty, feed),
    h('div', { class: 'row' }, h('h2', {}, t('Audit log')), h('span', { class: 'spacer' }), refresh),
    audit);
  // rule runs in the feed and the audit log name their rule: learn the names, then show them
  const namesReady = api('rules').then((rules) => {
    for (const r of rules) ruleNames.set(r.id, r.name);
    if (feed.isConnected && store.feed.some((i) => i.type === 'rule_run')) drawFeed();
  }).catch(() => { /* ids then */ });
  const load = async () => {
    if (!session.can('admin')) {
      audit.replaceChildren(h('p', { class: 'empty' }, t('Only admins can read the audit log.')));
      return;
    }
    try {
      const [rows] = await Promise.all([api('audit', { query: { limit: 200 } }), namesReady]);
      audit.replaceChildren(rows.length ? auditTable(rows) : h('p', { class: 'empty' }, t('No commands yet.')));
    } catch (e) {
      const text = e.status === 403 ? t('Only admins can read the audit log.') : e.message;
      audit.replaceChildren(h('p', { class: 'empty' }, text));
    }
  };
  refresh.addEventListener('click', load);
  load();
}
