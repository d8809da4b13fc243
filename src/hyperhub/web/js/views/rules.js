// Rules: the automations with their last runs, and the scenes (both empty until automations land).

import { api } from '../api.js';
import { fmtTime, h } from '../dom.js';

function summary(value) {
  if (value == null) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(summary).join('; ');
  return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

function lastRun(rule) {
  const run = rule.last_run || (rule.runs && rule.runs[0]) || (rule.traces && rule.traces[0]);
  if (!run) return 'never ran';
  if (typeof run !== 'object') return `last run ${fmtTime(run)}`;
  const when = run.ts || run.at || run.started || run.time;
  const result = run.result || run.status || (run.ok === false ? 'failed' : run.ok ? 'ok' : '');
  return `last run ${when ? fmtTime(when) : ''}${result ? ` · ${result}` : ''}`;
}

function ruleCard(rule) {
  const name = rule.name || rule.id || 'Rule';
  const off = rule.enabled === false;
  return h('article', { class: `card${off ? ' offline' : ''}`, 'aria-label': name },
    h('header', {}, h('div', { class: 'title' }, h('h3', {}, name),
      h('div', { class: 'status' }, `${off ? 'Disabled · ' : ''}${lastRun(rule)}`))),
    rule.description ? h('p', { class: 'hint' }, rule.description) : null,
    h('dl', { class: 'readings' },
      ['when', 'trigger', 'triggers', 'conditions', 'then', 'actions'].filter((k) => rule[k] != null)
        .map((k) => h('div', {}, h('dt', {}, k), h('dd', {}, summary(rule[k]))))));
}

async function section(root, title, path, empty, cardOf) {
  const box = h('div', { class: 'grid wide' }, h('p', { class: 'hint' }, 'Loading…'));
  root.append(h('h2', {}, title), box);
  try {
    const items = await api(path);
    box.replaceChildren(...(items.length ? items.map(cardOf) : [h('p', { class: 'empty' }, empty)]));
  } catch (e) {
    box.replaceChildren(h('p', { class: 'error' }, e.message));
  }
}

export function render(root) {
  root.append(h('h1', { class: 'sr-only' }, 'Rules'));
  section(root, 'Rules', 'rules', 'No rules yet.', ruleCard);
  section(root, 'Scenes', 'scenes', 'No scenes yet.', (sc) => ruleCard({ ...sc, last_run: sc.last_run || sc.last_activated }));
}
