// History: a chart of any numeric property over a time window, extended live.

import { api } from '../api.js';
import { fmt, h, longLabel, toDate, zoneLabel } from '../dom.js';
import { lineChart } from '../chart.js';
import { noun, translator } from '../i18n.js';
import { propSpec, store, watch } from '../store.js';

const t = translator({
  'No device has a numeric property.': '没有设备有可画成曲线的数值。',
  Device: '设备', Property: '属性', 'Time window': '时间范围', Window: '时间范围',
  'Last 1h': '最近 1 小时', 'Last 6h': '最近 6 小时', 'Last 24h': '最近 24 小时', 'Last 7d': '最近 7 天',
  'History chart': '历史曲线', History: '历史', '{device} {property}': '{device}{property}',
  'No history of {title} yet.': '还没有{title}的历史数据。',
  Now: '当前', Min: '最低', Max: '最高', Average: '平均',
  '{title}, {count} points, from {min} to {max}': '{title}，{count} 个数据点，从 {min} 到 {max}',
});
const RANGES = [['Last 1h', 3600], ['Last 6h', 6 * 3600], ['Last 24h', 24 * 3600], ['Last 7d', 7 * 24 * 3600]];
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
    root.append(h('p', { class: 'empty' }, t('No device has a numeric property.')));
    return;
  }
  if (deviceArg && store.devices.has(deviceArg)) last.device = deviceArg;
  if (!store.devices.has(last.device) || !numericProps(store.devices.get(last.device)).length) {
    last.device = devices[0].id;
  }
  if (propArg) last.prop = propArg;

  const devSel = h('select', { 'aria-label': t('Device') }, devices.map((d) => h('option', { value: d.id }, d.name)));
  const propSel = h('select', { 'aria-label': t('Property') });
  const rangeSel = h('select', { 'aria-label': t('Time window') },
    RANGES.map(([text, sec]) => h('option', { value: sec }, t(text))));
  const chartBox = h('div', { class: 'chart-box' });
  const stats = h('div', { class: 'stats' });
  const panel = h('article', { class: 'card', 'aria-label': t('History chart') }, stats, chartBox,
    h('p', { class: 'hint' }, zoneLabel()));
  root.append(h('h1', { class: 'sr-only' }, t('History')),
    h('div', { class: 'toolbar' },
      h('label', {}, t('Device'), devSel), h('label', {}, t('Property'), propSel),
      h('label', {}, t('Window'), rangeSel)),
    panel);

  let points = [];
  let token = 0;
  const draw = () => {
    const dev = store.devices.get(last.device);
    const spec = propSpec(dev, last.prop);
    const title = t('{device} {property}', { device: dev.name, property: noun(last.prop) });
    if (!points.length) {
      chartBox.replaceChildren(h('p', { class: 'empty' }, t('No history of {title} yet.', { title })));
      stats.replaceChildren();
      return;
    }
    points.sort((a, b) => a[0] - b[0]);
    const vs = points.map((p) => p[1]);
    const f = (v) => fmt(v, spec, last.prop);
    stats.replaceChildren(...[
      ['Now', vs[vs.length - 1]], ['Min', Math.min(...vs)], ['Max', Math.max(...vs)],
      ['Average', vs.reduce((a, b) => a + b, 0) / vs.length],
    ].map(([k, v]) => h('span', {}, h('span', { class: 'muted' }, `${t(k)} `), h('strong', {}, f(v)))));
    chartBox.replaceChildren(lineChart(points, {
      unit: spec.unit || '',
      width: chartBox.clientWidth || 760,
      title: t('{title}, {count} points, from {min} to {max}',
        { title, count: points.length, min: f(Math.min(...vs)), max: f(Math.max(...vs)) }),
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
    points = raw.map(([ts, v]) => [toDate(ts), Number(v)]).filter(([d, v]) => !Number.isNaN(d.getTime()) && Number.isFinite(v));
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
