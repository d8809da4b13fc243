// Small DOM helpers: element builders, labels and value formatting, toasts, the confirm dialog.

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

const LABELS = {
  on: 'Power', brightness: 'Brightness', color_temp: 'Colour temp.', color: 'Colour',
  mode: 'Mode', target_temp: 'Target', fan_speed: 'Fan', current_temp: 'Now',
  speed: 'Speed', oscillate: 'Oscillate', pm25: 'PM2.5', position: 'Position',
  locked: 'Lock', status: 'Status', battery: 'Battery', volume: 'Volume', muted: 'Mute',
  playing: 'Playing', source: 'Source', temperature: 'Temperature', humidity: 'Humidity',
  motion: 'Motion', contact: 'Contact', illuminance: 'Light level', power_w: 'Power',
  hvac_on: 'Climate', cabin_target_temp: 'Cabin target', cabin_temp: 'Cabin',
  trunk_open: 'Trunk', windows_position: 'Windows', charging: 'Charging',
  charge_limit: 'Charge limit', battery_soc: 'Battery', range_km: 'Range', location: 'Location',
  speed_kmh: 'Speed', gear: 'Gear', dnd: 'Do not disturb', ringer: 'Ringer',
  heart_rate: 'Heart rate', steps: 'Steps', sleeping: 'Sleeping', posture: 'Posture',
  lie_down: 'Lie down', flash_lights: 'Flash lights',
};

/** A property or action name for people: "target_temp" → "Target". */
export function label(name) {
  if (LABELS[name]) return LABELS[name];
  const t = String(name).replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const LONG_LABELS = {
  current_temp: 'Current temperature', target_temp: 'Target temperature',
  cabin_temp: 'Cabin temperature', cabin_target_temp: 'Cabin target temperature',
  color_temp: 'Colour temperature', battery_soc: 'Battery charge', power_w: 'Power draw',
  fan_speed: 'Fan speed', windows_position: 'Windows position',
};

/** A name that makes sense without its card: "current_temp" → "Current temperature". */
export function longLabel(name) { return LONG_LABELS[name] || label(name); }

const BOOL_WORDS = {
  locked: ['Locked', 'Unlocked'], contact: ['Closed', 'Open'], motion: ['Motion', 'Clear'],
  trunk_open: ['Open', 'Closed'], playing: ['Playing', 'Stopped'], sleeping: ['Asleep', 'Awake'],
  muted: ['Muted', 'Sound on'], charging: ['Charging', 'Not charging'],
};

export function unitText(unit) {
  if (!unit) return '';
  return unit === '%' ? '%' : ` ${unit}`;
}

/** A value as text, in the spec's unit: 22.5 °C, 80%, Locked, 31.2036, 121.5875. */
export function fmt(value, spec = {}, prop = '') {
  if (value == null) return '—';
  if (typeof value === 'boolean') {
    const [yes, no] = BOOL_WORDS[prop] || ['On', 'Off'];
    return value ? yes : no;
  }
  if (typeof value === 'number') {
    const digits = spec.kind === 'int' || Number.isInteger(value) ? 0 : 1;
    const n = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en') : value.toFixed(digits);
    return n + unitText(spec.unit);
  }
  if (typeof value === 'object' && 'lat' in value) {
    return `${Number(value.lat).toFixed(4)}, ${Number(value.lon).toFixed(4)}`;
  }
  if (value === '') return '—';
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
  if (km < 0.15) return 'at home';
  return km < 10 ? `${km.toFixed(1)} km from home` : `${Math.round(km)} km from home`;
}

/** A timestamp (epoch seconds, ms, or ISO text) as a Date. */
export function toDate(ts) {
  if (typeof ts === 'number') return new Date(ts < 1e12 ? ts * 1000 : ts);
  return new Date(ts);
}

export function fmtTime(ts) {
  const d = toDate(ts);
  if (Number.isNaN(d.getTime())) return String(ts ?? '');
  return d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
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
  dlg.querySelector('#confirm-text').textContent = text || 'This is a risky action.';
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
