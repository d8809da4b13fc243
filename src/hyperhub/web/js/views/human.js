// Human: phones (where, battery, do-not-disturb, ringer) and wearables (heart rate, steps).

import { fmt, h, icon } from '../dom.js';
import {
  actionButton, bigValue, callAction, card, field, meter, picker, toggle,
} from '../controls.js';
import { translator } from '../i18n.js';
import { mapSvg } from '../map.js';
import { devicesOf, hasAction, propSpec, store, watch } from '../store.js';
import { whereText } from './car.js';

const t = translator({
  'Message to {name}': '发给{name}的消息', 'Send a notification…': '发送通知…', 'Notify {name}': '通知{name}',
  Notify: '发送', 'Do not disturb': '勿扰模式', 'do not disturb': '勿扰模式', Ringer: '铃声',
  Asleep: '睡着', Awake: '醒着', steps: '步', 'Steps history': '步数历史', 'Heart rate history': '心率历史',
  'Map: {where}': '地图：{where}', 'Where people are': '大家在哪里', Human: '家人',
  'This space has no phones or wearables.': '这里没有手机或手环。', Phones: '手机', Wearables: '手环',
});

function notifyForm(dev) {
  if (!hasAction(dev, 'notify')) return null;
  const input = h('input', { 'aria-label': t('Message to {name}', { name: dev.name }), placeholder: t('Send a notification…'), maxlength: 500 });
  const form = h('form', { class: 'row' }, input, h('button', { type: 'submit', 'aria-label': t('Notify {name}', { name: dev.name }) }, t('Notify')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    const res = await callAction(dev, 'notify', { message: input.value.trim() });
    if (res) input.value = '';
  });
  return form;
}

function phoneCard(dev) {
  const has = (p) => p in dev.state;
  return card(dev, {
    level: 'h3',
    status: (d) => [whereText(d), fmt(d.state.battery, propSpec(d, 'battery'), 'battery')].filter(Boolean).join(' · '),
    mood: (d) => (d.state.dnd ? 'on' : ''),
    body: [
      has('battery') ? meter(dev, 'battery') : null,
      has('dnd') ? field(t('Do not disturb'), toggle(dev, 'dnd', t('do not disturb'))) : null,
      has('ringer') ? picker(dev, 'ringer', t('Ringer')) : null,
      hasAction(dev, 'ring') ? h('div', { class: 'row' }, actionButton(dev, 'ring')) : null,
      notifyForm(dev),
    ],
  });
}

function wearableCard(dev) {
  return card(dev, {
    level: 'h3',
    status: (d) => (d.state.sleeping ? t('Asleep') : t('Awake')),
    mood: () => '',
    body: [
      h('div', { class: 'row' },
        'heart_rate' in dev.state ? h('span', { class: 'row' }, icon('heart'), bigValue(dev, 'heart_rate')) : null,
        h('span', { class: 'spacer' }),
        'steps' in dev.state ? h('span', { class: 'row' }, icon('steps'), bigValue(dev, 'steps', t('steps'))) : null),
      h('div', { class: 'row hint' }, ['heart_rate', 'steps'].filter((p) => p in dev.state).map((p) =>
        h('a', { href: `#history/${dev.id}/${p}` }, t(p === 'steps' ? 'Steps history' : 'Heart rate history')))),
      notifyForm(dev),
    ],
  });
}

function peopleMap(phones) {
  const holder = h('div');
  const draw = () => holder.replaceChildren(mapSvg({
    home: store.space.location,
    markers: phones.map((d) => ({ label: d.name, loc: d.state.location, kind: 'person' })),
    trails: phones.map((d) => store.trails.get(d.id) || []),
    title: t('Map: {where}', { where: phones.map((d) => `${d.name} ${whereText(d)}`).join('; ') }),
  }));
  for (const p of phones) watch(p.id, holder, (d, ch) => { if (!ch || 'location' in ch) draw(); });
  draw();
  return h('article', { class: 'card', 'aria-label': t('Where people are') }, h('h3', {}, t('Where people are')), holder);
}

export function render(root) {
  const phones = devicesOf('phone');
  const wearables = devicesOf('wearable');
  root.append(h('h1', { class: 'sr-only' }, t('Human')));
  if (!phones.length && !wearables.length) {
    root.append(h('p', { class: 'empty' }, t('This space has no phones or wearables.')));
    return;
  }
  const located = phones.filter((d) => d.state.location);
  const cards = h('div', { class: 'stack' });
  root.append(h('div', { class: 'layout-2' }, cards, located.length ? h('div', { class: 'stack' }) : null));
  if (located.length) root.lastChild.lastChild.append(peopleMap(located));
  if (phones.length) cards.append(h('h2', {}, t('Phones')), h('div', { class: 'grid' }, phones.map(phoneCard)));
  if (wearables.length) cards.append(h('h2', {}, t('Wearables')), h('div', { class: 'grid' }, wearables.map(wearableCard)));
}
