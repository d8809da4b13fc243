// Robot: the robot dog (posture, mode, battery, commands) and the robot vacuum.

import { fmt, h, s } from '../dom.js';
import { actionButton, bigValue, card, meter } from '../controls.js';
import { actionLabel, translator } from '../i18n.js';
import { devicesOf, hasAction, propSpec, store, watch } from '../store.js';
import { homeCard } from './home.js';

const t = translator({
  '{name} {what}': '{name}{what}', '{name} {action} target': '{name}{action}的目标', me: '我',
  battery: '电量', Posture: '姿势', Mode: '模式', Robot: '机器人', Robots: '机器人',
  'This space has no robots.': '这里没有机器人。',
});
const word = (d, prop) => fmt(d.state[prop], propSpec(d, prop), prop);

/** The allowed values of an enum property as pills, the current one highlighted. */
function pills(dev, prop, text) {
  const values = propSpec(dev, prop).values || [dev.state[prop]];
  const items = values.map((v) => h('span', { class: 'pill', 'data-value': v }, fmt(v, propSpec(dev, prop), prop)));
  const box = h('div', { class: 'pills', role: 'group', 'aria-label': t('{name} {what}', { name: dev.name, what: text }) }, items);
  watch(dev.id, box, (d) => {
    for (const el of items) {
      const now = el.dataset.value === d.state[prop];
      el.classList.toggle('now', now);
      if (now) el.setAttribute('aria-current', 'true'); else el.removeAttribute('aria-current');
    }
  });
  return h('div', {}, h('div', { class: 'hint' }, text), box);
}

// the robot dog drawn in its posture: body top y, body tilt in degrees, legs [x1, y1, x2, y2]
const POSES = {
  stand: [36, 0, [[52, 58, 52, 90], [64, 58, 66, 90], [100, 58, 98, 90], [112, 58, 112, 90]]],
  sit: [44, -24, [[48, 68, 62, 90], [58, 68, 74, 90], [100, 46, 102, 90], [112, 41, 112, 90]]],
  lie: [64, 0, [[48, 86, 32, 90], [60, 86, 46, 90], [104, 86, 122, 90], [116, 86, 134, 90]]],
};

function dogFigure(dev) {
  const fig = s('svg', { class: 'dog', viewBox: '0 0 170 100', role: 'img', 'aria-label': dev.name });
  watch(dev.id, fig, (d) => {
    const [top, tilt, legs] = POSES[d.state.posture] || POSES.stand;
    fig.setAttribute('aria-label', `${d.name}: ${word(d, 'posture')}`);
    fig.replaceChildren(
      s('line', { class: 'ground', x1: 10, y1: 91, x2: 160, y2: 91 }),
      ...legs.map(([x1, y1, x2, y2]) => s('line', { class: 'leg', x1, y1, x2, y2 })),
      s('g', { transform: `rotate(${tilt} 50 ${top + 22})` },
        s('rect', { class: 'body', x: 40, y: top, width: 84, height: 24, rx: 9 }),
        s('rect', { class: 'body', x: 114, y: top - 14, width: 34, height: 22, rx: 7 }),
        s('circle', { class: 'eye', cx: 139, cy: top - 5, r: 3 })));
  });
  return fig;
}

function argPicker(dev, action, options) {
  const sel = h('select', { 'aria-label': t('{name} {action} target', { name: dev.name, action: actionLabel(action) }) },
    options.map(([value, text]) => h('option', { value }, text)));
  const arg = action === 'follow' ? 'target' : 'area';
  return h('span', { class: 'row' }, actionButton(dev, action, { args: () => ({ [arg]: sel.value }) }), sel);
}

function dogCard(dev) {
  const people = [...devicesOf('phone'), ...devicesOf('wearable')].map((d) => [d.id, d.name]);
  const areas = (store.space.areas || []).map((a) => [a.id, a.name]);
  const simple = ['stand', 'sit', 'lie_down', 'dock', 'stop'].filter((a) => hasAction(dev, a));
  return card(dev, {
    level: 'h3',
    status: (d) => `${word(d, 'posture')} · ${word(d, 'mode')} · ${word(d, 'battery')}`,
    mood: (d) => (d.state.mode && d.state.mode !== 'dock' && d.state.mode !== 'idle' ? 'on' : ''),
    body: [
      h('div', { class: 'row' }, bigValue(dev, 'battery', t('battery')), h('span', { class: 'spacer' }), dogFigure(dev)),
      meter(dev, 'battery'),
      'posture' in dev.state ? pills(dev, 'posture', t('Posture')) : null,
      'mode' in dev.state ? pills(dev, 'mode', t('Mode')) : null,
      h('div', { class: 'row' }, simple.map((a) => actionButton(dev, a))),
      h('div', { class: 'row' },
        hasAction(dev, 'follow') ? argPicker(dev, 'follow', [['me', t('me')], ...people]) : null,
        hasAction(dev, 'patrol') && areas.length ? argPicker(dev, 'patrol', areas) : null),
    ],
  });
}

export function render(root) {
  const dogs = devicesOf('robot_dog');
  const vacuums = devicesOf('vacuum');
  root.append(h('h1', { class: 'sr-only' }, t('Robot')));
  if (!dogs.length && !vacuums.length) {
    root.append(h('p', { class: 'empty' }, t('This space has no robots.')));
    return;
  }
  const grid = h('div', { class: 'grid wide' });
  root.append(h('h2', {}, t('Robots')), grid);
  grid.append(...dogs.map(dogCard), ...vacuums.map((d) => homeCard(d, 'h3')));
}
