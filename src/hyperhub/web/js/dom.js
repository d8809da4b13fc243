// Small DOM helpers: element builders, labels and value formatting, toasts, the confirm dialog.

import {
  locale, stateWord, translator, unitWord, valueWord,
} from './i18n.js';

const t = translator({
  'at home': '在家', '{km} km from home': '离家 {km} 公里', 'This is a risky action.': '这是有风险的操作。',
  'Times in {zone}': '时区：{zone}', 'this browser’s time zone': '本浏览器所在时区',
});

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
}

/** An HTML element: h('button', {class: 'x', onclick: fn}, 'text', child). */
export function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}

/** An SVG element, same call shape as h(). */
export function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}

export function icon(name, cls = 'icon') {
  return s('svg', { class: cls, 'aria-hidden': 'true' }, s('use', { href: `icons.svg#${name}` }));
}

// a property's name for people, short as on a card ("Target") or on its own ("Target
// temperature"): the hub's vocabulary, through i18n.js
export { label, longLabel } from './i18n.js';

export function unitText(unit) {
  if (!unit) return '';
  return unit === '%' ? '%' : ` ${unitWord(unit)}`;
}

/** A value as text, in the spec's unit: 22.5 °C, 80%, Locked, Cool, 31.2036, 121.5875. */
export function fmt(value, spec = {}, prop = '') {
  if (value == null) return '—';
  if (typeof value === 'boolean') return stateWord(prop, value);
  if (typeof value === 'number') {
    const digits = spec.kind === 'int' || Number.isInteger(value) ? 0 : 1;
    const n = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString(locale) : value.toFixed(digits);
    return n + unitText(spec.unit);
  }
  if (typeof value === 'object' && 'lat' in value) {
    return `${Number(value.lat).toFixed(4)}, ${Number(value.lon).toFixed(4)}`;
  }
  if (value === '') return '—';
  if (spec.kind === 'enum' || (spec.values && spec.values.includes(value))) return valueWord(value);
  return String(value).charAt(0).toUpperCase() + String(value).slice(1);
}

/** Kilometres between two {lat, lon}. */
export function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(x));
}

export function fmtDistance(km) {
  if (km < 0.15) return t('at home');
  return t('{km} km from home', { km: km < 10 ? km.toFixed(1) : Math.round(km) });
}

/** A timestamp (epoch seconds, ms, or ISO text) as a Date. */
export function toDate(ts) {
  if (typeof ts === 'number') return new Date(ts < 1e12 ? ts * 1000 : ts);
  return new Date(ts);
}

// every time on the dashboard is in the space's time zone (the hub's when the space names
// none), whatever the browser's: one convention, labelled by zoneLabel()
let zone;
/** Use the space's IANA time zone for every time shown (null: the browser's). */
export function setZone(tz) {
  try {
    new Intl.DateTimeFormat(locale, { timeZone: tz || undefined });
    zone = tz || undefined;
  } catch { zone = undefined; }
}

/** A date and time in the space's zone: "7 Dec, 14:05:09" / "12月7日 14:05:09". */
export function fmtTime(ts, opts = {}) {
  const d = toDate(ts);
  if (Number.isNaN(d.getTime())) return String(ts ?? '');
  return d.toLocaleString(locale, {
    timeZone: zone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hourCycle: 'h23', ...opts,
  });
}

/** What the times shown are in: "Times in Asia/Shanghai (GMT+8)". */
export function zoneLabel() {
  const parts = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' })
    .formatToParts(new Date());
  const short = (parts.find((p) => p.type === 'timeZoneName') || {}).value || '';
  const name = zone ? `${zone}${short ? ` (${short})` : ''}` : t('this browser’s time zone');
  return t('Times in {zone}', { zone: name });
}

/** A short message at the bottom of the screen. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast ${kind}` }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 6000 : 3000);
}

/** Ask to confirm a risky action in a modal dialog; resolves true on Confirm. */
export function confirmDialog(title, text) {
  const dlg = document.getElementById('confirm');
  if (dlg.open) return Promise.resolve(false); // one question at a time
  dlg.querySelector('#confirm-title').textContent = title;
  dlg.querySelector('#confirm-text').textContent = text || t('This is a risky action.');
  dlg.returnValue = '';
  const back = document.activeElement; // focus goes back there (it was lost after a dialog)
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      if (back && back.isConnected && typeof back.focus === 'function') back.focus();
      resolve(dlg.returnValue === 'ok');
    }, { once: true });
    dlg.showModal();
    dlg.querySelector('button[value="cancel"]').focus();
  });
}
