// Controls bound to a device's live state: switches, sliders, pickers, buttons, readings, cards.
// Every control has an accessible name "<device name> <what>", e.g. "Ceiling Light brightness".

import { command } from './api.js';
import { fmt, h, icon, label, toast } from './dom.js';
import { actionLabel, lowerFirst as lower, noun, stateWord, translator } from './i18n.js';
import { applyState, propSpec, renotify, store, watch, writable } from './store.js';

const enc = encodeURIComponent;
const t = translator({
  'Unlock {name}?': '解锁{name}？', 'Open {name} to {value}%?': '把{name}打开到 {value}%？',
  'Open the trunk of {name}?': '打开{name}的后备箱？', 'Set {name} {what} to {value}?': '把{name}的{what}设为{value}？',
  '{action} {name}?': '{name}：{action}？', '{name}: {action} — done': '{name}：{action}，完成',
  '{name} {what}': '{name}{what}', power: '电源', colour: '颜色', Lock: '上锁', Unlock: '解锁',
  '{action} {name}': '{action}{name}', 'History of {what}': '{what}的历史', Offline: '离线',
  'Offline · {text}': '离线 · {text}', '{name}: {message}': '{name}：{message}',
});

async function run(dev, send) {
  try {
    const res = await send();
    if (res && res.state) applyState(dev.id, res.state, null);
    else renotify(dev.id);
    return res;
  } catch (e) {
    toast(t('{name}: {message}', { name: dev.name, message: e.message }), 'error');
    renotify(dev.id);
    return null;
  }
}

function setTitle(dev, prop, value) {
  if (prop === 'locked' && value === false) return t('Unlock {name}?', { name: dev.name });
  if (prop === 'position') return t('Open {name} to {value}%?', { name: dev.name, value });
  if (prop === 'trunk_open' && value) return t('Open the trunk of {name}?', { name: dev.name });
  return t('Set {name} {what} to {value}?', { name: dev.name, what: noun(prop), value: fmt(value, propSpec(dev, prop), prop) });
}

/** Write a property; asks for confirmation when the hub says it is risky. */
export function setProp(dev, prop, value) {
  const path = `devices/${enc(dev.id)}/set`;
  return run(dev, () => command(path, { property: prop, value }, setTitle(dev, prop, value)));
}

/** Run an action; asks for confirmation when the hub says it is risky. */
export async function callAction(dev, action, args = {}) {
  const path = `devices/${enc(dev.id)}/call/${enc(action)}`;
  const res = await run(dev, () => command(path, { args }, t('{action} {name}?', { action: actionLabel(action), name: dev.name })));
  // an action that changes no state (notify, ring, honk) showed no sign it worked
  if (res && !Object.keys(res.changes || {}).length) toast(t('{name}: {action} — done', { name: dev.name, action: lower(actionLabel(action)) }));
  return res;
}

function named(dev, what) { return t('{name} {what}', { name: dev.name, what }); }

/**
 * Run `work` with `control` disabled (no double sends), then give the focus back to it if
 * it had it: disabling a focused control drops the focus, and keyboard users were left at
 * the top of the page after every command and dialog.
 */
async function busy(control, work) {
  control.disabled = true;
  try {
    return await work();
  } finally {
    control.disabled = false;
    const now = document.activeElement;
    const lost = !now || now === document.body || Boolean(now.closest('dialog:not([open])'));
    if (lost && control.isConnected) control.focus();
  }
}

/** A labelled row: "Brightness [control] 80%". */
export function field(text, control, output) {
  return h('label', { class: 'field' }, h('span', {}, text), control, output || h('span'));
}

export function toggle(dev, prop = 'on', what) {
  const name = named(dev, what || (prop === 'on' ? t('power') : noun(prop)));
  const input = h('input', { type: 'checkbox', role: 'switch', 'aria-label': name });
  input.addEventListener('change', () => busy(input, () => setProp(dev, prop, input.checked)));
  watch(dev.id, input, (d) => { input.checked = Boolean(d.state[prop]); });
  return input;
}

const DEBOUNCE_MS = 350;

export function slider(dev, prop, text) {
  const p = propSpec(dev, prop);
  const step = p.kind === 'int' ? 1 : 0.5;
  const what = text ? lower(text) : noun(prop);
  const input = h('input', {
    type: 'range', min: p.min ?? 0, max: p.max ?? 100, step, 'aria-label': named(dev, what),
  });
  const out = h('output');
  let dragging = false;
  let sending = false;
  const show = (v) => {
    out.textContent = fmt(v, p, prop);
    input.setAttribute('aria-valuetext', out.textContent);
  };
  const update = (d) => {
    const v = d.state[prop];
    if (dragging || sending || typeof v !== 'number') return;
    input.value = v;
    show(v);
  };
  input.addEventListener('pointerdown', () => { dragging = true; });
  for (const ev of ['pointerup', 'pointercancel', 'blur']) {
    input.addEventListener(ev, () => { dragging = false; });
  }
  input.addEventListener('input', () => show(Number(input.value)));
  // one command for a burst of changes (each arrow-key press is a change): the last value,
  // DEBOUNCE_MS after the last change; a change while one is sent goes out after it
  let timer = null;
  let latest = null;
  const flush = async () => {
    timer = null;
    if (sending) return; // the send under way takes `latest` when it is done
    while (latest !== null) {
      const value = latest;
      latest = null;
      sending = true;
      await setProp(dev, prop, value);
      sending = false;
    }
    dragging = false;
    update(store.devices.get(dev.id));
  };
  input.addEventListener('change', () => {
    latest = Number(input.value);
    clearTimeout(timer);
    timer = setTimeout(flush, DEBOUNCE_MS);
  });
  watch(dev.id, input, update);
  return field(text || label(prop), input, out);
}

export function picker(dev, prop, text) {
  const p = propSpec(dev, prop);
  const sel = h('select', { 'aria-label': named(dev, text ? lower(text) : noun(prop)) },
    (p.values || []).map((v) => h('option', { value: v }, fmt(v, p, prop))));
  sel.addEventListener('change', () => setProp(dev, prop, sel.value));
  watch(dev.id, sel, (d) => { sel.value = d.state[prop]; });
  return field(text || label(prop), sel);
}

export function colorInput(dev, prop) {
  const input = h('input', { type: 'color', 'aria-label': named(dev, t('colour')) });
  input.addEventListener('change', () => setProp(dev, prop, input.value));
  watch(dev.id, input, (d) => { if (d.state[prop]) input.value = d.state[prop]; });
  return field(label(prop), input);
}

/** A button for an action: visible "Dock", accessible name "Dock CyberDog". */
export function actionButton(dev, action, { text, args, cls } = {}) {
  const shown = text || actionLabel(action);
  const btn = h('button', { type: 'button', class: cls, 'aria-label': t('{action} {name}', { action: shown, name: dev.name }) },
    shown);
  btn.addEventListener('click', () => busy(btn, () => callAction(dev, action, args ? args() : {})));
  return btn;
}

/** One button that locks or unlocks (asking first): "Unlock" or "Lock". */
export function lockButton(dev, prop = 'locked') {
  const btn = h('button', { type: 'button' });
  let locked = true;
  watch(dev.id, btn, (d) => {
    locked = Boolean(d.state[prop]);
    btn.textContent = locked ? t('Unlock') : t('Lock');
    btn.setAttribute('aria-label', t('{action} {name}', { action: btn.textContent, name: dev.name }));
    btn.className = locked ? '' : 'primary';
  });
  btn.addEventListener('click', () => busy(btn, () => {
    const action = locked ? 'unlock' : 'lock';
    if (dev.spec.actions && dev.spec.actions[action]) return callAction(dev, action);
    return setProp(dev, prop, !locked);
  }));
  return btn;
}

/** Lock state and its button: "Locked [Unlock]". */
export function lockControl(dev, prop = 'locked') {
  const text = h('span');
  watch(dev.id, text, (d) => {
    const locked = Boolean(d.state[prop]);
    text.textContent = stateWord(prop, locked);
    text.className = locked ? 'state-ok' : 'state-bad';
  });
  return h('div', { class: 'row' }, icon('lock'), text, h('span', { class: 'spacer' }), lockButton(dev, prop));
}

const NUMERIC = new Set(['int', 'float']);

/** Read-only values as a definition list; numbers link to their history chart. */
export function readings(dev, props) {
  const dl = h('dl', { class: 'readings' });
  const cells = {};
  for (const prop of props) {
    const p = propSpec(dev, prop);
    const dd = h('dd');
    const numeric = NUMERIC.has(p.kind) || typeof dev.state[prop] === 'number';
    cells[prop] = numeric
      ? h('a', { href: `#history/${dev.id}/${prop}`, title: t('History of {what}', { what: noun(prop) }) })
      : dd;
    if (numeric) dd.append(cells[prop]);
    dl.append(h('div', {}, h('dt', {}, label(prop)), dd));
  }
  watch(dev.id, dl, (d) => {
    for (const prop of props) cells[prop].textContent = fmt(d.state[prop], propSpec(d, prop), prop);
  });
  return dl;
}

/** Actions a button can run without arguments. */
export function simpleActions(dev) {
  const actions = (dev.spec && dev.spec.actions) || {};
  return Object.entries(actions)
    .filter(([, a]) => !(a.args || []).some((arg) => arg.required !== false))
    .map(([name]) => name);
}

export function iconFor(dev) {
  const st = dev.state || {};
  if (dev.type === 'media_player' && /tv|電視|电视/i.test(dev.name)) return 'tv';
  if (dev.type === 'sensor' && 'temperature' in st) return 'thermo';
  if (dev.type === 'lock') return st.locked === false ? 'unlock' : 'lock';
  // a climate that cannot cool (an oil heater: its spec or the space narrowed its modes)
  // is not drawn as a snowflake
  if (dev.type === 'climate' && !(propSpec(dev, 'mode').values || ['cool']).includes('cool')) return 'heater';
  return dev.type;
}

/**
 * A device card: badge, name, a status line and controls; greyed and disabled when offline.
 * opts: status(dev) → text, body: nodes, head: a control beside the name, mood(dev) → class,
 * title and iconName (a panel about one side of a device), level (heading tag).
 */
export function card(dev, opts = {}) {
  const { status, body = [], head, mood, level = 'h4', cls = '', title, iconName, link } = opts;
  const st = h('div', { class: 'status' });
  const badgeUse = icon(iconName || iconFor(dev));
  // a tile's name is a link that covers the tile (CSS), so the whole tile opens the detail
  const name = link ? h('a', { class: 'open', href: link.href, 'aria-label': link.label }, title || dev.name) : title || dev.name;
  const fs = h('fieldset', {},
    h('header', {}, h('span', { class: 'badge' }, badgeUse),
      h('div', { class: 'title' }, h(level, {}, name), st), head),
    body);
  const el = h('article', { class: `card ${cls}`, 'aria-label': title ? named(dev, lower(title)) : dev.name, 'data-device': dev.id }, fs);
  watch(dev.id, el, (d) => {
    const offline = d.online === false;
    el.classList.toggle('offline', offline);
    fs.disabled = offline;
    const text = status ? status(d) : '';
    st.textContent = offline ? (text ? t('Offline · {text}', { text }) : t('Offline')) : text;
    for (const c of ['on', 'ok', 'alert']) el.classList.remove(c);
    const m = mood ? mood(d) : d.state.on === true ? 'on' : '';
    if (m) el.classList.add(m);
    if (!iconName) badgeUse.firstChild.setAttribute('href', `icons.svg#${iconFor(d)}`);
  });
  return el;
}

/** Controls for every writable property of a device, by kind (the generic card body). */
export function controlsFor(dev, skip = []) {
  const out = [];
  for (const prop of Object.keys(dev.state || {})) {
    if (skip.includes(prop) || !writable(dev, prop)) continue;
    const p = propSpec(dev, prop);
    if (p.kind === 'bool') out.push(field(label(prop), toggle(dev, prop)));
    else if (NUMERIC.has(p.kind) && p.min != null && p.max != null) out.push(slider(dev, prop));
    else if (p.kind === 'enum' && (p.values || []).length > 1) out.push(picker(dev, prop)); // one value: nothing to pick
    else if (p.kind === 'color') out.push(colorInput(dev, prop));
  }
  return out;
}

/** A bar for a 0–100 value (battery), red below 20. */
export function meter(dev, prop, what = noun(prop)) {
  const fill = h('div');
  const bar = h('div', {
    class: 'meter', role: 'meter', 'aria-label': named(dev, what), 'aria-valuemin': 0, 'aria-valuemax': 100,
  }, fill);
  watch(dev.id, bar, (d) => {
    const v = Math.max(0, Math.min(100, Number(d.state[prop]) || 0));
    fill.style.width = `${v}%`;
    bar.classList.toggle('low', v < 20);
    bar.setAttribute('aria-valuenow', Math.round(v));
  });
  return bar;
}

/** A big number bound to a property: "64% <small>battery</small>". */
export function bigValue(dev, prop, small) {
  const num = h('span');
  const el = h('div', { class: 'big' }, num, ' ', small ? h('small', {}, small) : null);
  watch(dev.id, el, (d) => { num.textContent = fmt(d.state[prop], propSpec(d, prop), prop); });
  return el;
}
