// Rules: the automations (status, last run, what they do, their runs; run / enable / disable)
// and the scenes (apply, with a report of what failed). Refreshed by the WebSocket's rule_run.
// What a trigger, condition, action or step says comes from the hub in the page's language.

import { api, post, session } from '../api.js';
import { confirmDialog, fmtTime, h, toast, zoneLabel } from '../dom.js';
import { lang, translator } from '../i18n.js';
import { watchFeed } from '../store.js';

const t = translator({
  ok: '成功', failed: '失败', 'conditions not met': '条件不满足', skipped: '已跳过',
  cancelled: '已取消', 'stopped (loop)': '已停止（循环）', running: '运行中',
  Stopped: '已停止', Disabled: '已停用', Running: '运行中', Enabled: '已启用',
  'never ran': '从未运行', 'last run {when}': '上次运行 {when}',
  When: '触发', 'Only if': '条件', Then: '执行', Sets: '设置',
  'Loading…': '加载中…', Runs: '运行记录', 'Runs of {name}': '{name}的运行记录',
  'No runs yet.': '还没有运行记录。',
  'Run the actions only if the conditions hold now': '只在条件此刻满足时执行动作',
  'Run if conditions hold': '条件满足时运行',
  'Run the actions now, skipping the conditions': '立即执行动作，不检查条件',
  'Run the actions now': '立即执行动作',
  'Run actions — skip conditions': '执行动作（不检查条件）', 'Run actions': '执行动作',
  Disable: '停用', Enable: '启用', 'Disable {name}': '停用“{name}”', 'Enable {name}': '启用“{name}”',
  'Run the actions of {name}, skipping its conditions': '执行“{name}”的动作，不检查条件',
  'Run the actions of {name}': '执行“{name}”的动作',
  'Run {name} if its conditions hold': '条件满足时运行“{name}”',
  'Its conditions are skipped ({conditions}): the actions run whatever they say.':
    '不检查它的条件（{conditions}）：无论条件是否满足，动作都会执行。',
  'It does risky things: {actions}.': '它会执行有风险的操作：{actions}。',
  'Run {name} now?': '现在运行“{name}”？',
  '{name}: started': '{name}：已开始运行',
  '{name}: not run — its conditions do not hold now': '{name}：没有运行，条件此刻不满足',
  '{name}: {message}': '{name}：{message}',
  'Applied: {done}/{total} done': '已执行：完成 {done}/{total}',
  '{done}/{total} done, {failed} failed': '完成 {done}/{total}，失败 {failed}',
  '{name} report': '“{name}”的执行结果', 'Apply {name}': '执行“{name}”', Apply: '执行',
  'Apply {name}?': '执行“{name}”？',
  'This scene does risky things (opens or unlocks something).':
    '这个场景会执行有风险的操作（打开或解锁某些东西）。',
  'Applying…': '执行中…', 'also: {aliases}': '别名：{aliases}', Risky: '有风险',
  Rules: '规则', Scenes: '场景', 'No rules yet.': '还没有规则。', 'No scenes yet.': '还没有场景。',
  '; ': '；', ', ': '、', '{kind}: {what}': '{kind}：{what}',
  'A new trigger while it runs is ignored': '运行中再次触发时忽略',
  'A new trigger while it runs starts it again': '运行中再次触发时从头开始',
  'A new trigger while it runs waits its turn': '运行中再次触发时排队等候',
});
const MODE_TITLE = {
  single: 'A new trigger while it runs is ignored',
  restart: 'A new trigger while it runs starts it again',
  queue: 'A new trigger while it runs waits its turn',
};
// a rule's mode, a run's trigger kind and a step's kind: ids from the hub
const kindWord = translator({
  single: '不叠加', restart: '重新开始', queue: '排队',
  manual: '手动', state: '状态变化', numeric: '数值变化', event: '设备事件', time: '定时', cron: '定时',
  sun: '日出日落', geofence: '进出区域', offline: '离线', scene: '场景',
  condition: '条件', action: '动作', delay: '延时',
});

const enc = encodeURIComponent;
const RESULT_TEXT = {
  ok: 'ok', error: 'failed', conditions_false: 'conditions not met', skipped: 'skipped',
  cancelled: 'cancelled', loop: 'stopped (loop)', running: 'running',
};
const GOOD = new Set(['ok']);
const BAD = new Set(['error', 'loop']);

/** A rule run's result in words: "ok", "conditions not met" / "成功", "条件不满足". */
export function resultWord(result) {
  return RESULT_TEXT[result] ? t(RESULT_TEXT[result]) : kindWord(String(result ?? ''));
}

function resultBadge(result) {
  const cls = GOOD.has(result) ? 'pill ok' : BAD.has(result) ? 'pill bad' : 'pill';
  return h('span', { class: cls }, resultWord(result));
}

function statusBadge(rule) {
  if (rule.stopped) return h('span', { class: 'pill bad' }, t('Stopped'));
  if (!rule.enabled) return h('span', { class: 'pill' }, t('Disabled'));
  if (rule.running) return h('span', { class: 'pill now' }, t('Running'));
  return h('span', { class: 'pill ok' }, t('Enabled'));
}

function lastRunText(rule) {
  const run = rule.last_run;
  if (!run) return t('never ran');
  return t('last run {when}', { when: fmtTime(run.finished || run.started) });
}

/** A titled list of one-line texts ("When" / "Only if" / "Then"); nothing when empty. */
function lines(title, items) {
  if (!items || !items.length) return null;
  return h('div', { class: 'lines' }, h('h4', {}, title), h('ul', {}, items.map((x) => h('li', {}, x))));
}

function stepLine(step) {
  const mark = step.ok ? '✓' : '✗';
  return h('li', { class: step.ok ? 'state-ok' : 'state-bad' },
    `${mark} ${t('{kind}: {what}', { kind: kindWord(step.kind), what: step.what })}`
    + (step.message ? ` — ${step.message}` : ''));
}

function runItem(run) {
  const trigger = (run.trigger && (run.trigger.description || kindWord(run.trigger.kind || ''))) || '';
  return h('li', {},
    h('div', { class: 'row' }, resultBadge(run.result),
      h('span', { class: 'muted' }, fmtTime(run.started)), h('span', {}, trigger)),
    run.message ? h('p', { class: BAD.has(run.result) ? 'hint state-bad' : 'hint' }, run.message) : null,
    run.steps && run.steps.length ? h('ul', { class: 'steps' }, run.steps.map(stepLine)) : null);
}

/** "Runs": folded; opening it (and each new run while open) loads the rule's latest runs. */
function runsBox(rule) {
  const list = h('div', {}, h('p', { class: 'hint' }, t('Loading…')));
  const box = h('details', { class: 'runs' }, h('summary', {}, t('Runs')), list);
  let token = 0;
  const load = async () => {
    const mine = ++token;
    try {
      const runs = await api(`rules/${enc(rule.id)}/runs`, { query: { limit: 20 } });
      if (mine !== token) return;
      list.replaceChildren(runs.length
        ? h('ol', { class: 'run-list', tabindex: 0, 'aria-label': t('Runs of {name}', { name: rule.name }) },
          runs.map(runItem))
        : h('p', { class: 'hint' }, t('No runs yet.')));
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
    ? h('button', { type: 'button', class: 'primary', title: t('Run the actions only if the conditions hold now') },
      t('Run if conditions hold'))
    : null;
  const runBtn = h('button', { type: 'button', class: hasConditions ? '' : 'primary',
    title: hasConditions ? t('Run the actions now, skipping the conditions') : t('Run the actions now') },
  hasConditions ? t('Run actions — skip conditions') : t('Run actions'));
  const onBtn = h('button', { type: 'button' });
  const runs = runsBox(initial);
  const el = h('article', { class: 'card', 'aria-label': initial.name, 'data-rule': initial.id },
    h('header', {}, h('div', { class: 'title' }, heading, status)),
    initial.description ? h('p', { class: 'hint' }, initial.description) : null,
    stopped,
    lines(t('When'), initial.triggers),
    lines(t('Only if'), initial.conditions),
    lines(t('Then'), initial.actions),
    h('div', { class: 'row' }, testBtn, runBtn, onBtn, h('span', { class: 'spacer' }),
      initial.source ? h('span', { class: 'hint', translate: 'no' }, initial.source) : null),
    runs.box);

  const show = (r) => {
    rule = r;
    heading.textContent = r.name;
    const parts = [statusBadge(r), ' ',
      h('span', { title: MODE_TITLE[r.mode] ? t(MODE_TITLE[r.mode]) : null }, kindWord(r.mode)),
      ` · ${lastRunText(r)} `];
    if (r.last_run) parts.push(resultBadge(r.last_run.result));
    if (r.last_run && r.last_run.message) parts.push(h('span', {}, ` ${r.last_run.message}`));
    status.replaceChildren(...parts);
    stopped.textContent = r.stopped || '';
    stopped.hidden = !r.stopped;
    onBtn.textContent = r.enabled ? t('Disable') : t('Enable');
    onBtn.setAttribute('aria-label', t(r.enabled ? 'Disable {name}' : 'Enable {name}', { name: r.name }));
    runBtn.setAttribute('aria-label', t(hasConditions
      ? 'Run the actions of {name}, skipping its conditions' : 'Run the actions of {name}', { name: r.name }));
    const mayRun = session.can('control') && (!r.risky || session.can('control:risky'));
    runBtn.disabled = !r.enabled || !mayRun;
    if (testBtn) {
      testBtn.setAttribute('aria-label', t('Run {name} if its conditions hold', { name: r.name }));
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
      warnings.push(t('Its conditions are skipped ({conditions}): the actions run whatever they say.',
        { conditions: rule.conditions.join(t('; ')) }));
    }
    if (rule.risky) warnings.push(t('It does risky things: {actions}.', { actions: rule.actions.join(t('; ')) }));
    if (warnings.length && !(await confirmDialog(t('Run {name} now?', { name: rule.name }),
      warnings.join(lang === 'zh' ? '' : ' ')))) return;
    button.disabled = true;
    const name = rule.name;
    try {
      const res = await post(`rules/${enc(rule.id)}/run`, { check_conditions: checkConditions });
      if (res.started) toast(t('{name}: started', { name }));
      else if (res.result === 'conditions_false') toast(t('{name}: not run — its conditions do not hold now', { name }));
      else toast(t('{name}: {message}', { name, message: res.message || resultWord(res.result) }));
    } catch (e) {
      toast(t('{name}: {message}', { name, message: e.message }), 'error');
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
      toast(t('{name}: {message}', { name: rule.name, message: e.message }), 'error');
      show(rule);
    }
  });
  show(initial);
  return { el, refresh };
}

/** What a scene sets on one device: "Dining Pendant: on = true, brightness = 40" (in
 * Chinese in words: "餐厅吊灯：电源 开、亮度 40%"). */
function reportView(report) {
  const done = report.items.filter((i) => i.ok).length;
  const total = report.items.length;
  return [
    h('p', { class: report.ok ? 'state-ok' : 'state-bad' }, report.ok
      ? t('Applied: {done}/{total} done', { done, total })
      : t('{done}/{total} done, {failed} failed', { done, total, failed: total - done })),
    h('ul', { class: 'steps' }, report.items.map((i) => h('li', { class: i.ok ? 'state-ok' : 'state-bad' },
      `${i.ok ? '✓' : '✗'} ${i.what}${i.message ? ` — ${i.message}` : ''}`))),
  ];
}

function sceneCard(scene) {
  const name = scene.name;
  const report = h('div', { class: 'report', role: 'status', 'aria-label': t('{name} report', { name }) });
  const btn = h('button', { type: 'button', class: 'primary', 'aria-label': t('Apply {name}', { name }) }, t('Apply'));
  btn.disabled = !session.can('control') || (scene.risky && !session.can('control:risky'));
  const states = scene.sets || []; // the hub's sentences, in the page's language
  btn.addEventListener('click', async () => {
    if (scene.risky && !(await confirmDialog(t('Apply {name}?', { name }),
      t('This scene does risky things (opens or unlocks something).')))) return;
    btn.disabled = true;
    report.replaceChildren(h('p', { class: 'hint' }, t('Applying…')));
    try {
      report.replaceChildren(...reportView(await post(`scenes/${enc(scene.id)}/apply`)));
    } catch (e) {
      report.replaceChildren(h('p', { class: 'error' }, e.message));
    }
    btn.disabled = false;
  });
  return h('article', { class: 'card', 'aria-label': name, 'data-scene': scene.id },
    h('header', {}, h('div', { class: 'title' }, h('h3', {}, name),
      h('div', { class: 'status' }, scene.aliases.length
        ? t('also: {aliases}', { aliases: scene.aliases.join(t(', ')) }) : scene.id)),
      scene.risky ? h('span', { class: 'pill bad' }, t('Risky')) : null),
    lines(t('Sets'), states),
    lines(t('Then'), scene.actions),
    h('div', { class: 'row' }, btn),
    report);
}

export function render(root) {
  const rulesBox = h('div', { class: 'grid wide' }, h('p', { class: 'hint' }, t('Loading…')));
  const scenesBox = h('div', { class: 'grid wide' }, h('p', { class: 'hint' }, t('Loading…')));
  root.append(h('h1', { class: 'sr-only' }, t('Rules')),
    h('h2', {}, t('Rules')), h('p', { class: 'hint' }, zoneLabel()), rulesBox,
    h('h2', {}, t('Scenes')), scenesBox);

  const cards = new Map(); // rule id → {el, refresh}
  (async () => {
    try {
      const rules = await api('rules');
      for (const r of rules) cards.set(r.id, ruleCard(r));
      rulesBox.replaceChildren(...(rules.length
        ? [...cards.values()].map((c) => c.el)
        : [h('p', { class: 'empty' }, t('No rules yet.'))]));
    } catch (e) {
      rulesBox.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  })();
  (async () => {
    try {
      const scenes = await api('scenes');
      scenesBox.replaceChildren(...(scenes.length
        ? scenes.map(sceneCard) : [h('p', { class: 'empty' }, t('No scenes yet.'))]));
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
