// Home: a summary, then the areas grouped by floor with a compact tile per device (name,
// status, one quick control); a tile opens the device's detail view (#home/<id>) with every
// control, as Mi Home does. Home was a wall of 44 expanded cards.

import { post, api, session } from '../api.js';
import { fmt, h, label, toast } from '../dom.js';
import { stateWord, translator, typeLabel } from '../i18n.js';
import {
  actionButton, card, controlsFor, lockButton, lockControl, readings, simpleActions, toggle,
} from '../controls.js';
import { loadAll, propSpec, store, watch, writable } from '../store.js';

const HOME_TYPES = new Set([
  'light', 'switch', 'plug', 'climate', 'fan', 'air_purifier', 'cover', 'lock', 'vacuum',
  'media_player', 'sensor', 'button',
]);

const v = (d, prop) => fmt(d.state[prop], propSpec(d, prop), prop);
const t = translator({
  On: '开', Off: '关', 'On · {what}': '开 · {what}', '{mode} to {temp}': '{mode} {temp}',
  '{what} · now {temp}': '{what} · 当前 {temp}', Closed: '关闭', Open: '打开', 'Open {n}%': '打开 {n}%',
  Playing: '播放中', 'PM2.5 {n}': 'PM2.5 {n}', Summary: '概况',
  '{n} light on': '{n} 盏灯开着', '{n} lights on': '{n} 盏灯开着',
  '{n} door unlocked': '{n} 个门没锁', '{n} doors unlocked': '{n} 个门没锁', 'All doors locked': '门都锁好了',
  '{n} cover open': '{n} 个窗帘开着', '{n} covers open': '{n} 个窗帘开着', 'Inside {temp}': '室内 {temp}',
  '{n} offline': '{n} 个离线', Home: '家', Other: '其他', 'Back to Home': '返回首页',
  'No device {id} here.': '这里没有设备 {id}。', 'Details of {name}': '{name}的详情',
  'New devices found': '发现新设备', Accept: '接入', Ignore: '忽略', 'No area': '不分区域',
  'Added {name}.': '已接入{name}。', 'An admin can add them.': '管理员可以接入它们。',
  'from {adapter}': '来自 {adapter}', Area: '区域',
  'Left out (an admin can fix it in the space file)': '未接入（管理员可在空间文件中修正）',
});

/** The one-line status of a device card. */
export function statusText(d) {
  const st = d.state;
  switch (d.type) {
    case 'light':
      if (!st.on) return t('Off');
      return 'brightness' in st ? t('On · {what}', { what: v(d, 'brightness') }) : t('On');
    case 'switch': return st.on ? t('On') : t('Off');
    case 'plug': return st.on ? t('On · {what}', { what: v(d, 'power_w') }) : t('Off');
    case 'climate': {
      const what = st.on ? t('{mode} to {temp}', { mode: v(d, 'mode'), temp: v(d, 'target_temp') }) : t('Off');
      return t('{what} · now {temp}', { what, temp: v(d, 'current_temp') });
    }
    case 'fan': return st.on ? t('On · {what}', { what: v(d, 'speed') }) : t('Off');
    case 'air_purifier':
      return `${st.on ? t('On · {what}', { what: v(d, 'speed') }) : t('Off')} · ${t('PM2.5 {n}', { n: fmt(st.pm25) })}`;
    case 'cover':
      if (typeof st.position !== 'number') return '';
      return st.position === 0 ? t('Closed') : st.position === 100 ? t('Open') : t('Open {n}%', { n: st.position });
    case 'lock': return stateWord('locked', Boolean(st.locked));
    case 'vacuum': return `${v(d, 'status')} · ${v(d, 'battery')}`;
    case 'media_player':
      if (!st.on) return t('Off');
      return `${st.playing ? t('Playing') : t('On')}${st.source ? ` · ${st.source}` : ''}`;
    case 'sensor':
      return Object.keys(st).map((p) => (typeof st[p] === 'boolean' ? fmt(st[p], {}, p) : v(d, p))).join(' · ');
    case 'button': return 'battery' in st ? `${label('battery')} ${v(d, 'battery')}` : '';
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

/** The quick control of a tile: power, or lock / unlock; none for a sensor. */
function quickControl(dev) {
  if (dev.type === 'lock') return lockButton(dev);
  return writable(dev, 'on') && propSpec(dev, 'on').kind === 'bool' ? toggle(dev, 'on') : null;
}

/** The card of any home device with every control, built from its spec (the detail view). */
export function homeCard(dev, level = 'h4') {
  const head = dev.type === 'lock' ? null : quickControl(dev);
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

/** A compact tile: badge, name (a link to the detail view), status, one quick control. */
export function homeTile(dev) {
  return card(dev, {
    status: statusText, head: quickControl(dev), mood, level: 'h4', cls: 'tile',
    link: { href: `#home/${encodeURIComponent(dev.id)}`, label: t('Details of {name}', { name: dev.name }) },
  });
}

function detail(root, id) {
  const dev = store.devices.get(id);
  const back = h('a', { class: 'back', href: '#home' }, `← ${t('Back to Home')}`);
  if (!dev) {
    root.append(back, h('p', { class: 'empty' }, t('No device {id} here.', { id })));
    return;
  }
  const area = (store.space.areas || []).find((a) => a.id === dev.area);
  root.append(back, h('h1', { class: 'sr-only' }, dev.name),
    area ? h('p', { class: 'muted' }, area.name) : null,
    h('div', { class: 'detail' }, homeCard(dev, 'h2')));
}

function summary() {
  const box = h('div', { class: 'summary', 'aria-label': t('Summary') });
  const render = () => {
    const devs = [...store.devices.values()];
    const lights = devs.filter((d) => d.type === 'light' && d.state.on).length;
    const locks = devs.filter((d) => d.type === 'lock');
    const open = locks.filter((d) => !d.state.locked).length;
    const temps = devs.filter((d) => d.type === 'sensor' && typeof d.state.temperature === 'number');
    const covers = devs.filter((d) => d.type === 'cover' && d.state.position > 0).length;
    const offline = devs.filter((d) => d.online === false).length;
    const items = [
      t(lights === 1 ? '{n} light on' : '{n} lights on', { n: lights }),
      open ? t(open === 1 ? '{n} door unlocked' : '{n} doors unlocked', { n: open }) : t('All doors locked'),
      t(covers === 1 ? '{n} cover open' : '{n} covers open', { n: covers }),
    ];
    if (temps.length) {
      const avg = temps.reduce((a, d) => a + d.state.temperature, 0) / temps.length;
      items.push(t('Inside {temp}', { temp: `${avg.toFixed(1)} °C` }));
    }
    if (offline) items.push(t('{n} offline', { n: offline }));
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

let foundOpen = null; // the person's own choice of folding the found devices, kept across renders

/** Devices the adapters found (Zigbee2MQTT …), each with Accept and Not now (admins), and
 * what they had to leave out and why (a device whose topics the adapter may not use). */
function newDevices() {
  const box = h('section', { class: 'found', 'aria-label': t('New devices found'), hidden: true });
  Promise.all([api('adapters/pending'), api('adapters').catch(() => [])]).then(([found, adapters]) => {
    const problems = (adapters || []).flatMap((a) => a.problems || []);
    found = found || [];
    if (!found.length && !problems.length) return;
    const admin = session.can('admin');
    const areas = store.space.areas || [];
    const item = (f) => {
      const p = f.proposal || {};
      const pick = h('select', { 'aria-label': t('Area') },
        h('option', { value: '' }, t('No area')),
        ...areas.map((a) => h('option', { value: a.id, selected: a.id === p.area }, a.name)));
      const act = async (path, body, done) => {
        try {
          await post(path, body);
          if (done) toast(done);
          await loadAll();
          window.dispatchEvent(new HashChangeEvent('hashchange'));
        } catch (e) { toast(e.message, 'error'); }
      };
      const accept = h('button', {
        type: 'button', class: 'primary',
        onclick: () => act('adapters/accept', { key: f.key, ...(pick.value ? { area: pick.value } : {}) },
          t('Added {name}.', { name: p.name })),
      }, t('Accept'));
      // ignored for good (hyperhub adapters accept still takes it later)
      const reject = h('button', { type: 'button', onclick: () => act('adapters/reject', { key: f.key }) }, t('Ignore'));
      const what = [typeLabel(p.type), [f.vendor, f.model].filter(Boolean).join(' ')].filter(Boolean).join(' · ');
      return h('li', { class: 'card found-item' },
        h('h3', {}, p.name || f.friendly_name),
        h('p', { class: 'muted' }, `${what} · ${t('from {adapter}', { adapter: f.adapter })}`),
        admin ? h('div', { class: 'row' }, pick, accept, reject) : null);
    };
    // a whole new network at once would push the home away: then it starts folded
    const fold = h('details', {
      open: foundOpen ?? found.length <= 6,
      ontoggle: () => { foundOpen = fold.open; },
    },
      h('summary', {}, h('h2', {}, `${t('New devices found')} (${found.length})`)),
      h('ul', { class: 'grid tiles plain' }, found.map(item)),
      admin || !found.length ? null : h('p', { class: 'muted' }, t('An admin can add them.')),
      problems.length ? h('div', { class: 'found-problems' },
        h('h3', {}, t('Left out (an admin can fix it in the space file)')),
        h('ul', { class: 'muted' }, problems.map((p) => h('li', {}, p)))) : null);
    box.append(fold);
    box.hidden = false;
  }).catch(() => {}); // a hub without adapters: nothing to show
  return box;
}

export function render(root, [id] = []) {
  if (id) {
    detail(root, id);
    return;
  }
  const areas = store.space.areas || [];
  const byArea = new Map(areas.map((a) => [a.id, []]));
  for (const d of store.devices.values()) {
    if (HOME_TYPES.has(d.type) && d.area && byArea.has(d.area)) byArea.get(d.area).push(d);
  }
  const floors = new Map();
  for (const a of areas) {
    const f = a.floor || t('Other');
    if (!floors.has(f)) floors.set(f, []);
    floors.get(f).push(a);
  }
  root.append(h('h1', { class: 'sr-only' }, t('Home')), summary(), newDevices());
  for (const [floor, list] of floors) {
    const sec = h('section', { 'aria-label': floor }, h('h2', { class: 'floor-title' }, floor));
    root.append(sec);
    for (const a of list) {
      const devs = byArea.get(a.id);
      if (!devs.length) continue;
      const area = h('section', { class: 'area', 'aria-label': a.name },
        h('header', {}, h('h3', {}, a.name), areaClimate(a.id)),
        h('div', { class: 'grid tiles' }));
      sec.append(area);
      area.lastChild.append(...devs.map((d) => homeTile(d)));
    }
  }
}
