// Home: a summary, then the areas grouped by floor with a card per device.

import { fmt, h, label } from '../dom.js';
import {
  actionButton, card, controlsFor, lockControl, readings, simpleActions, toggle,
} from '../controls.js';
import { propSpec, store, watch, writable } from '../store.js';

const HOME_TYPES = new Set([
  'light', 'switch', 'plug', 'climate', 'fan', 'air_purifier', 'cover', 'lock', 'vacuum',
  'media_player', 'sensor',
]);

const v = (d, prop) => fmt(d.state[prop], propSpec(d, prop), prop);

/** The one-line status of a device card. */
export function statusText(d) {
  const st = d.state;
  switch (d.type) {
    case 'light': return st.on ? `On · ${v(d, 'brightness')}` : 'Off';
    case 'switch': return st.on ? 'On' : 'Off';
    case 'plug': return st.on ? `On · ${v(d, 'power_w')}` : 'Off';
    case 'climate':
      return `${st.on ? `${fmt(st.mode)} to ${v(d, 'target_temp')}` : 'Off'} · now ${v(d, 'current_temp')}`;
    case 'fan': return st.on ? `On · ${v(d, 'speed')}` : 'Off';
    case 'air_purifier': return `${st.on ? `On · ${v(d, 'speed')}` : 'Off'} · PM2.5 ${fmt(st.pm25)}`;
    case 'cover':
      return st.position === 0 ? 'Closed' : st.position === 100 ? 'Open' : `Open ${st.position}%`;
    case 'lock': return st.locked ? 'Locked' : 'Unlocked';
    case 'vacuum': return `${fmt(st.status)} · ${v(d, 'battery')}`;
    case 'media_player':
      if (!st.on) return 'Off';
      return `${st.playing ? 'Playing' : 'On'}${st.source ? ` · ${st.source}` : ''}`;
    case 'sensor':
      return Object.keys(st).map((p) => (typeof st[p] === 'boolean' ? fmt(st[p], {}, p) : v(d, p))).join(' · ');
    default: return '';
  }
}

const IN_STATUS = { media_player: ['playing'], vacuum: ['status', 'battery'] };

function mood(d) {
  const st = d.state;
  if (d.type === 'lock') return st.locked ? 'ok' : 'alert';
  if (d.type === 'cover') return st.position > 0 ? 'on' : '';
  if (d.type === 'sensor') return st.motion || st.contact === false ? 'alert' : '';
  if (d.type === 'vacuum') return st.status === 'cleaning' ? 'on' : '';
  return st.on === true ? 'on' : '';
}

/** The card of any home device, built from its spec. */
export function homeCard(dev, level = 'h4') {
  const head = writable(dev, 'on') && propSpec(dev, 'on').kind === 'bool' ? toggle(dev, 'on') : null;
  const body = [];
  if (dev.type === 'lock') body.push(lockControl(dev));
  body.push(...controlsFor(dev, ['on', 'locked']));
  // readings the status line already says are not repeated ("Off" beside "Playing: Playing")
  const said = IN_STATUS[dev.type] || [];
  const ro = Object.keys(dev.state || {}).filter((p) => !writable(dev, p) && !said.includes(p));
  if (ro.length) body.push(readings(dev, ro));
  const actions = simpleActions(dev).filter((a) => !['toggle', 'lock', 'unlock'].includes(a));
  if (actions.length) body.push(h('div', { class: 'row' }, actions.map((a) => actionButton(dev, a))));
  return card(dev, { status: statusText, body, head, mood, level });
}

function summary() {
  const box = h('div', { class: 'summary', 'aria-label': 'Summary' });
  const render = () => {
    const devs = [...store.devices.values()];
    const lights = devs.filter((d) => d.type === 'light' && d.state.on).length;
    const locks = devs.filter((d) => d.type === 'lock');
    const open = locks.filter((d) => !d.state.locked).length;
    const temps = devs.filter((d) => d.type === 'sensor' && typeof d.state.temperature === 'number');
    const covers = devs.filter((d) => d.type === 'cover' && d.state.position > 0).length;
    const offline = devs.filter((d) => d.online === false).length;
    const items = [
      `${lights} light${lights === 1 ? '' : 's'} on`,
      open ? `${open} door${open === 1 ? '' : 's'} unlocked` : 'All doors locked',
      `${covers} cover${covers === 1 ? '' : 's'} open`,
    ];
    if (temps.length) {
      const avg = temps.reduce((a, d) => a + d.state.temperature, 0) / temps.length;
      items.push(`Inside ${avg.toFixed(1)} °C`);
    }
    if (offline) items.push(`${offline} offline`);
    box.replaceChildren(...items.map((t) => h('span', { class: 'pill' }, t)));
  };
  watch('*', box, render);
  render();
  return box;
}

function areaClimate(areaId) {
  const span = h('span', { class: 'muted' });
  const sensors = [...store.devices.values()].filter(
    (d) => d.area === areaId && d.type === 'sensor' && 'temperature' in d.state,
  );
  for (const s of sensors) {
    watch(s.id, span, (d) => {
      const parts = [fmt(d.state.temperature, propSpec(d, 'temperature'))];
      if ('humidity' in d.state) parts.push(`${label('humidity')} ${fmt(d.state.humidity, propSpec(d, 'humidity'))}`);
      span.textContent = parts.join(' · ');
    });
  }
  return span;
}

export function render(root) {
  const areas = store.space.areas || [];
  const byArea = new Map(areas.map((a) => [a.id, []]));
  for (const d of store.devices.values()) {
    if (HOME_TYPES.has(d.type) && d.area && byArea.has(d.area)) byArea.get(d.area).push(d);
  }
  const floors = new Map();
  for (const a of areas) {
    const f = a.floor || 'Other';
    if (!floors.has(f)) floors.set(f, []);
    floors.get(f).push(a);
  }
  root.append(h('h1', { class: 'sr-only' }, 'Home'), summary());
  for (const [floor, list] of floors) {
    const sec = h('section', { 'aria-label': floor }, h('h2', { class: 'floor-title' }, floor));
    root.append(sec);
    for (const a of list) {
      const devs = byArea.get(a.id);
      if (!devs.length) continue;
      const area = h('section', { class: 'area', 'aria-label': a.name },
        h('header', {}, h('h3', {}, a.name), areaClimate(a.id)),
        h('div', { class: 'grid' }));
      sec.append(area);
      area.lastChild.append(...devs.map((d) => homeCard(d)));
    }
  }
}
