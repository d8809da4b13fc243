// Car: battery and charging, cabin climate, locks, and where it is on a map around home.

import { api } from '../api.js';
import { distanceKm, fmt, fmtDistance, h } from '../dom.js';
import {
  actionButton, bigValue, card, field, lockControl, meter, readings, slider, toggle,
} from '../controls.js';
import { lang, stateWord, translator, valueWord } from '../i18n.js';
import { mapSvg } from '../map.js';
import { devicesOf, hasAction, propSpec, store, watch } from '../store.js';

const seeded = new Set();
const t = translator({
  parked: '停着', 'gear {gear}': '{gear} 档', 'Map: {name} {where}': '地图：{name}{where}',
  Location: '位置', Battery: '电池', 'Charging to {n}%': '正在充电，充到 {n}%', 'Range {km}': '续航 {km}',
  charged: '电量', range: '续航', Charging: '充电', charging: '充电', 'Charge limit': '充电上限',
  Cabin: '车内', 'Pre-conditioning to {temp}': '正在预调到 {temp}', 'Climate off': '空调关',
  inside: '车内', 'Pre-condition': '预调温度', climate: '空调', 'Cabin target': '车内目标温度',
  Doors: '车门', ' · trunk open': ' · 后备箱开着', 'Trunk open': '后备箱打开', trunk: '后备箱',
  Windows: '车窗', Car: '汽车', 'This space has no car.': '这里没有汽车。',
});

/** Put the positions the hub recorded before the page opened at the start of the trail. */
async function seedTrail(dev) {
  if (seeded.has(dev.id)) return;
  seeded.add(dev.id);
  try {
    const res = await api(`devices/${encodeURIComponent(dev.id)}/history`, { query: { property: 'location', since: Math.floor(Date.now() / 1000) - 6 * 3600, points: 1000 } });
    const old = (res.points || []).map((p) => p[1]).filter((p) => p && typeof p.lat === 'number');
    const trail = store.trails.get(dev.id) || [];
    store.trails.set(dev.id, [...old, ...trail]);
  } catch {
    // no location history (yet): the trail starts with what arrives live
  }
}

export function whereText(d) {
  const home = store.space.location;
  const loc = d.state.location;
  if (!loc) return '';
  return home ? fmtDistance(distanceKm(home, loc)) : fmt(loc);
}

function moving(d) {
  const st = d.state;
  const parts = [whereText(d)];
  if (typeof st.speed_kmh === 'number') parts.push(st.speed_kmh > 0 ? fmt(st.speed_kmh, propSpec(d, 'speed_kmh')) : t('parked'));
  if (st.gear) parts.push(lang === 'zh' ? valueWord(st.gear) : t('gear {gear}', { gear: valueWord(st.gear) }));
  return parts.filter(Boolean).join(' · ');
}

function mapCard(dev) {
  const holder = h('div');
  const draw = (d) => {
    holder.replaceChildren(mapSvg({
      home: store.space.location,
      markers: [{ label: d.name, loc: d.state.location }],
      trails: [store.trails.get(d.id) || []],
      title: t('Map: {name} {where}', { name: d.name, where: whereText(d) }),
    }));
  };
  watch(dev.id, holder, (d, changes) => { if (!changes || 'location' in changes) draw(d); });
  seedTrail(dev).then(() => { if (holder.isConnected) draw(store.devices.get(dev.id)); });
  const ro = ['speed_kmh', 'gear', 'location'].filter((p) => p in dev.state);
  return card(dev, {
    title: t('Location'), iconName: 'pin', status: moving, level: 'h3', mood: () => '',
    body: [holder, readings(dev, ro)],
  });
}

function carPanels(dev) {
  const has = (p) => p in dev.state;
  const battery = card(dev, {
    title: t('Battery'), iconName: 'bolt', level: 'h3',
    status: (d) => (d.state.charging ? t('Charging to {n}%', { n: d.state.charge_limit }) : t('Range {km}', { km: fmt(d.state.range_km, propSpec(d, 'range_km')) })),
    mood: (d) => (d.state.charging ? 'on' : ''),
    body: [
      h('div', { class: 'row' }, bigValue(dev, 'battery_soc', t('charged')), h('span', { class: 'spacer' }),
        has('range_km') ? bigValue(dev, 'range_km', t('range')) : null),
      meter(dev, 'battery_soc'),
      has('charging') ? field(t('Charging'), toggle(dev, 'charging', t('charging'))) : null,
      has('charge_limit') ? slider(dev, 'charge_limit', t('Charge limit')) : null,
    ],
  });
  const climate = card(dev, {
    title: t('Cabin'), iconName: 'climate', level: 'h3',
    status: (d) => (d.state.hvac_on ? t('Pre-conditioning to {temp}', { temp: fmt(d.state.cabin_target_temp, propSpec(d, 'cabin_target_temp')) }) : t('Climate off')),
    mood: (d) => (d.state.hvac_on ? 'on' : ''),
    body: [
      bigValue(dev, 'cabin_temp', t('inside')),
      has('hvac_on') ? field(t('Pre-condition'), toggle(dev, 'hvac_on', t('climate'))) : null,
      has('cabin_target_temp') ? slider(dev, 'cabin_target_temp', t('Cabin target')) : null,
    ],
  });
  const security = card(dev, {
    title: t('Doors'), iconName: 'lock', level: 'h3',
    status: (d) => `${stateWord('locked', Boolean(d.state.locked))}${d.state.trunk_open ? t(' · trunk open') : ''}`,
    mood: (d) => (d.state.locked && !d.state.trunk_open ? 'ok' : 'alert'),
    body: [
      lockControl(dev),
      has('trunk_open') ? field(t('Trunk open'), toggle(dev, 'trunk_open', t('trunk'))) : null,
      has('windows_position') ? slider(dev, 'windows_position', t('Windows')) : null,
      h('div', { class: 'row' },
        ['honk', 'flash_lights'].filter((a) => hasAction(dev, a)).map((a) => actionButton(dev, a))),
    ],
  });
  return h('div', { class: 'layout-2' },
    h('div', { class: 'stack' }, battery, climate, security),
    h('div', { class: 'stack' }, mapCard(dev)));
}

export function render(root) {
  const cars = devicesOf('car');
  root.append(h('h1', { class: 'sr-only' }, t('Car')));
  if (!cars.length) {
    root.append(h('p', { class: 'empty' }, t('This space has no car.')));
    return;
  }
  for (const dev of cars) {
    root.append(h('h2', {}, dev.name), carPanels(dev));
  }
}
