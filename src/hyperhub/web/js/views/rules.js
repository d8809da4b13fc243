// Rules: the automations (status, last run, what they do, their runs; run / enable / disable)
// and the scenes (apply, with a report of what failed). Refreshed by the WebSocket's rule_run.

import { api, post, session } from '../api.js';
import { confirmDialog, fmtTime, h, toast } from '../dom.js';
import { store, watchFeed } from '../store.js';

const enc = encodeURIComponent;
const RESULT_TEXT = {
  ok: 'ok', error: 'failed', conditions_false: 'conditions not met', skipped: 'skipped',
  cancelled: 'cancelled', loop: 'stopped (loop)', running: 'running',
};
const GOOD = new Set(['ok']);
const BAD = new Set(['error', 'loop']);

const nameOf = (id) => (store.devices.get(id) || {}).name || id;

function resultBadge(result) {
  const cls = GOOD.has(result) ? 'pill ok' : BAD.has(result) ? 'pill bad' : 'pill';
  return h('span', { class: cls }, RESULT_TEXT[result] || result);
}

function statusBadge(rule) {
  if (rule.stopped) return h('span', { class: 'pill bad' }, 'Stopped');
  if (!rule.enabled) return h('span', { class: 'pill' }, 'Disabled');
  if (rule.running) return h('span', { class: 'pill now' }, 'Running');
  return h('span', { class: 'pill ok' }, 'Enabled');
}

function lastRunText(rule) {
  const run = rule.last_run;
  if (!run) return 'never ran';
  return `last run ${fmtTime(run.finished || run.started)}`;
}

/** A titled list of one-line texts ("When" / "Only if" / "Then"); nothing when empty. */
function lines(title, items) {
  if (!items || !items.length) return null;
  return h('div', { class: 'lines' }, h('h4', {}, title), h('ul', {}, items.map((t) => h('li', {}, t))));
}

function stepLine(step) {
  const mark = step.ok ? '✓' : '✗';
  return h('li', { class: step.ok ? 'state-ok' : 'state-bad' },
    `${mark} ${step.kind}: ${step.what}${step.message ? ` — ${step.message}` : ''}`);
}

function runItem(run) {
  const trigger = (run.trigger && (run.trigger.description || run.trigger.kind)) || '';
  return h('li', {},
    h('div', { class: 'row' }, resultBadge(run.result),
      h('span', { class: 'muted' }, fmtTime(run.started)), h('span', {}, trigger)),
    run.message ? h('p', { class: BAD.has(run.result) ? 'hint state-bad' : 'hint' }, run.message) : null,
    run.steps && run.steps.length ? h('ul', { class: 'steps' }, run.steps.map(stepLine)) : null);
}

/** "Runs": folded; opening it (and each new run while open) loads the rule's latest runs. */
function runsBox(rule) {
  const list = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
  const box = h('details', { class: 'runs' }, h('summary', {}, 'Runs'), list);
  let token = 0;
  const load = async () => {
    const mine = ++token;
    try {
      const runs = await api(`rules/${enc(rule.id)}/runs`, { query: { limit: 20 } });
      if (mine !== token) return;
      list.replaceChildren(runs.length
        ? h('ol', { class: 'run-list', tabindex: 0, 'aria-label': `Runs of ${rule.name}` }, runs.map(runItem))
        : h('p', { class: 'hint' }, 'No runs yet.'));
    } catch (e) {
      if (mine === token) list.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  };
  box.addEventListener('toggle', () => { if (box.open) load(); });
  return { box, reload: () => { if (box.open) load(); } };
}

function ruleCard(initial) {
  let rule = initial;
  const status = h('div', { class: 'status' });
  const heading = h('h3', {});
  const stopped = h('p', { class: 'error', role: 'note' });
  // "Run" once ran the actions with real effects whatever the conditions said: now the
  // buttons say what they do, and skipping conditions is confirmed
  const hasConditions = (initial.conditions || []).length > 0;
  const testBtn = hasConditions
    ? h('button', { type: 'button', class: 'primary', title: 'Run the actions only if the conditions hold now' },
      'Run if conditions hold')
    : null;
  const runBtn = h('button', { type: 'button', class: hasConditions ? '' : 'primary',
    title: hasConditions ? 'Run the actions now, skipping the conditions' : 'Run the actions now' },
  hasConditions ? 'Run actions — skip conditions' : 'Run actions');
  const onBtn = h('button', { type: 'button' });
  const runs = runsBox(initial);
  const el = h('article', { class: 'card', 'aria-label': initial.name, 'data-rule': initial.id },
    h('header', {}, h('div', { class: 'title' }, heading, status)),
    initial.description ? h('p', { class: 'hint' }, initial.description) : null,
    stopped,
    lines('When', initial.triggers),
    lines('Only if', initial.conditions),
    lines('Then', initial.actions),
    h('div', { class: 'row' }, testBtn, runBtn, onBtn, h('span', { class: 'spacer' }),
      initial.source ? h('span', { class: 'hint' }, initial.source) : null),
    runs.box);

  const show = (r) => {
    rule = r;
    heading.textContent = r.name;
    const parts = [statusBadge(r), h('span', {}, ` ${r.mode} · ${lastRunText(r)} `)];
    if (r.last_run) parts.push(resultBadge(r.last_run.result));
    if (r.last_run && r.last_run.message) parts.push(h('span', {}, ` ${r.last_run.message}`));
    status.replaceChildren(...parts);
    stopped.textContent = r.stopped || '';
    stopped.hidden = !r.stopped;
    onBtn.textContent = r.enabled ? 'Disable' : 'Enable';
    onBtn.setAttribute('aria-label', `${r.enabled ? 'Disable' : 'Enable'} ${r.name}`);
    runBtn.setAttribute('aria-label', hasConditions
      ? `Run the actions of ${r.name}, skipping its conditions` : `Run the actions of ${r.name}`);
    const mayRun = session.can('control') && (!r.risky || session.can('control:risky'));
    runBtn.disabled = !r.enabled || !mayRun;
    if (testBtn) {
      testBtn.setAttribute('aria-label', `Run ${r.name} if its conditions hold`);
      testBtn.disabled = !r.enabled || !mayRun;
    }
    onBtn.disabled = !session.can('control');
  };

  const refresh = async () => {
    try { show(await api(`rules/${enc(rule.id)}`)); } catch { /* keep what is shown */ }
    runs.reload();
  };

  const start = async (button, checkConditions) => {
    const warnings = [];
    if (!checkConditions && hasConditions) {
      warnings.push(`Its conditions are skipped (${rule.conditions.join('; ')}): the actions run whatever they say.`);
    }
    if (rule.risky) warnings.push(`It does risky things: ${rule.actions.join('; ')}.`);
    if (warnings.length && !(await confirmDialog(`Run ${rule.name} now?`, warnings.join(' ')))) return;
    button.disabled = true;
    try {
      const res = await post(`rules/${enc(rule.id)}/run`, { check_conditions: checkConditions });
      if (res.started) toast(`${rule.name}: started`);
      else if (res.result === 'conditions_false') toast(`${rule.name}: not run — its conditions do not hold now`);
      else toast(`${rule.name}: ${res.message || res.result}`);
    } catch (e) {
      toast(`${rule.name}: ${e.message}`, 'error');
    }
    refresh();
  };
  runBtn.addEventListener('click', () => start(runBtn, false));
  if (testBtn) testBtn.addEventListener('click', () => start(testBtn, true));
  onBtn.addEventListener('click', async () => {
    onBtn.disabled = true;
    try {
      show(await post(`rules/${enc(rule.id)}/${rule.enabled ? 'disable' : 'enable'}`));
    } catch (e) {
      toast(`${rule.name}: ${e.message}`, 'error');
      show(rule);
    }
  });
  show(initial);
  return { el, refresh };
}

function stateLine(device, values) {
  const what = Object.entries(values).map(([k, v]) => `${k} = ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  return `${nameOf(device)}: ${what.join(', ')}`;
}

function reportView(report) {
  const done = report.items.filter((i) => i.ok).length;
  return [
    h('p', { class: report.ok ? 'state-ok' : 'state-bad' },
      report.ok ? `Applied: ${done}/${report.items.length} done` : `${done}/${report.items.length} done, ${report.items.length - done} failed`),
    h('ul', { class: 'steps' }, report.items.map((i) => h('li', { class: i.ok ? 'state-ok' : 'state-bad' },
      `${i.ok ? '✓' : '✗'} ${i.what}${i.message ? ` — ${i.message}` : ''}`))),
  ];
}

function sceneCard(scene) {
  const report = h('div', { class: 'report', role: 'status', 'aria-label': `${scene.name} report` });
  const btn = h('button', { type: 'button', class: 'primary', 'aria-label': `Apply ${scene.name}` }, 'Apply');
  btn.disabled = !session.can('control') || (scene.risky && !session.can('control:risky'));
  const states = Object.entries(scene.states || {}).map(([d, v]) => stateLine(d, v));
  btn.addEventListener('click', async () => {
    if (scene.risky && !(await confirmDialog(`Apply ${scene.name}?`,
      'This scene does risky things (opens or unlocks something).'))) return;
    btn.disabled = true;
    report.replaceChildren(h('p', { class: 'hint' }, 'Applying…'));
    try {
      report.replaceChildren(...reportView(await post(`scenes/${enc(scene.id)}/apply`)));
    } catch (e) {
      report.replaceChildren(h('p', { class: 'error' }, e.message));
    }
    btn.disabled = false;
  });
  return h('article', { class: 'card', 'aria-label': scene.name, 'data-scene': scene.id },
    h('header', {}, h('div', { class: 'title' }, h('h3', {}, scene.name),
      h('div', { class: 'status' }, scene.aliases.length ? `also: ${scene.aliases.join(', ')}` : scene.id)),
      scene.risky ? h('span', { class: 'pill bad' }, 'Risky') : null),
    lines('Sets', states),
    lines('Then', scene.actions),
    h('div', { class: 'row' }, btn),
    report);
}

export function render(root) {
  const rulesBox = h('div', { class: 'grid wide' }, h('p', { class: 'hint' }, 'Loading…'));
  const scenesBox = h('div', { class: 'grid wide' }, h('p', { class: 'hint' }, 'Loading…'));
  root.append(h('h1', { class: 'sr-only' }, 'Rules'),
    h('h2', {}, 'Rules'), rulesBox, h('h2', {}, 'Scenes'), scenesBox);

  const cards = new Map(); // rule id → {el, refresh}
  (async () => {
    try {
      const rules = await api('rules');
      for (const r of rules) cards.set(r.id, ruleCard(r));
      rulesBox.replaceChildren(...(rules.length
        ? [...cards.values()].map((c) => c.el)
        : [h('p', { class: 'empty' }, 'No rules yet.')]));
    } catch (e) {
      rulesBox.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  })();
  (async () => {
    try {
      const scenes = await api('scenes');
      scenesBox.replaceChildren(...(scenes.length
        ? scenes.map(sceneCard) : [h('p', { class: 'empty' }, 'No scenes yet.')]));
    } catch (e) {
      scenesBox.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  })();

  watchFeed(rulesBox, (item) => {
    if (item.type !== 'rule_run') return;
    const found = cards.get(item.rule);
    if (found) found.refresh();
  });
}
