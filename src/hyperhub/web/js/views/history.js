// History: a chart of any numeric property over a time window, extended live.

import { api } from '../api.js';
import { fmt, h, longLabel, toDate } from '../dom.js';
import { lineChart } from '../chart.js';
import { propSpec, store, watch } from '../store.js';

const RANGES = [['1h', 3600], ['6h', 6 * 3600], ['24h', 24 * 3600], ['7d', 7 * 24 * 3600]];
const last = { device: 'living_room_climate_sensor', prop: 'temperature', range: 24 * 3600 };

function numericProps(dev) {
  return Object.keys(dev.state || {}).filter((p) => {
    const kind = propSpec(dev, p).kind;
    return kind ? kind === 'int' || kind === 'float' : typeof dev.state[p] === 'number';
  });
}

export function render(root, [deviceArg, propArg] = []) {
  const devices = [...store.devices.values()].filter((d) => numericProps(d).length)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (!devices.length) {
    root.append(h('p', { class: 'empty' }, 'No device has a numeric property.'));
    return;
  }
  if (deviceArg && store.devices.has(deviceArg)) last.device = deviceArg;
  if (!store.devices.has(last.device) || !numericProps(store.devices.get(last.device)).length) {
    last.device = devices[0].id;
  }
  if (propArg) last.prop = propArg;

  const devSel = h('select', { 'aria-label': 'Device' }, devices.map((d) => h('option', { value: d.id }, d.name)));
  const propSel = h('select', { 'aria-label': 'Property' });
  const rangeSel = h('select', { 'aria-label': 'Time window' },
    RANGES.map(([t, sec]) => h('option', { value: sec }, `Last ${t}`)));
  const chartBox = h('div', { class: 'chart-box' });
  const stats = h('div', { class: 'stats' });
  const panel = h('article', { class: 'card', 'aria-label': 'History chart' }, stats, chartBox);
  root.append(h('h1', { class: 'sr-only' }, 'History'),
    h('div', { class: 'toolbar' },
      h('label', {}, 'Device', devSel), h('label', {}, 'Property', propSel), h('label', {}, 'Window', rangeSel)),
    panel);

  let points = [];
  let token = 0;
  const draw = () => {
    const dev = store.devices.get(last.device);
    const spec = propSpec(dev, last.prop);
    const title = `${dev.name} ${longLabel(last.prop).toLowerCase()}`;
    if (!points.length) {
      chartBox.replaceChildren(h('p', { class: 'empty' }, `No history of ${title} yet.`));
      stats.replaceChildren();
      return;
    }
    points.sort((a, b) => a[0] - b[0]);
    const vs = points.map((p) => p[1]);
    const f = (v) => fmt(v, spec, last.prop);
    stats.replaceChildren(...[
      ['Now', vs[vs.length - 1]], ['Min', Math.min(...vs)], ['Max', Math.max(...vs)],
      ['Average', vs.reduce((a, b) => a + b, 0) / vs.length],
    ].map(([k, v]) => h('span', {}, h('span', { class: 'muted' }, `${k} `), h('strong', {}, f(v)))));
    chartBox.replaceChildren(lineChart(points, {
      unit: spec.unit || '',
      width: chartBox.clientWidth || 760,
      title: `${title}, ${points.length} points, from ${f(Math.min(...vs))} to ${f(Math.max(...vs))}`,
    }));
  };

  const load = async () => {
    const dev = store.devices.get(last.device);
    const props = numericProps(dev);
    if (!props.includes(last.prop)) last.prop = props[0];
    devSel.value = last.device;
    propSel.replaceChildren(...props.map((p) => h('option', { value: p }, longLabel(p))));
    propSel.value = last.prop;
    rangeSel.value = String(last.range);
    window.history.replaceState(null, '', `#history/${last.device}/${last.prop}`);
    const mine = ++token;
    const since = Math.floor(Date.now() / 1000) - last.range;
    let raw = [];
    try {
      const res = await api(`devices/${encodeURIComponent(last.device)}/history`,
        { query: { property: last.prop, since, points: 300 } });
      raw = res.points || [];
    } catch (e) {
      chartBox.replaceChildren(h('p', { class: 'error' }, e.message));
    }
    if (mine !== token) return;
    points = raw.map(([t, v]) => [toDate(t), Number(v)]).filter(([d, v]) => !Number.isNaN(d.getTime()) && Number.isFinite(v));
    const now = dev.state[last.prop];
    if (typeof now === 'number') points.push([new Date(), now]);
    draw();
  };

  devSel.addEventListener('change', () => { last.device = devSel.value; load(); });
  propSel.addEventListener('change', () => { last.prop = propSel.value; load(); });
  rangeSel.addEventListener('change', () => { last.range = Number(rangeSel.value); load(); });
  watch('*', panel, (d, changes) => {
    if (!d || d.id !== last.device || !changes || typeof changes[last.prop] !== 'number') return;
    points.push([new Date(), changes[last.prop]]);
    draw();
  });
  load();
}
