// The dashboard's picture of the space: devices with spec and live state, and who watches what.

import { api } from './api.js';
import { lang } from './i18n.js';

export const store = {
  space: { name: '', areas: [], location: null },
  devices: new Map(), // id → {id, name, type, class, area, online, state, updated, spec}
  feed: [], // recent events, availability changes and rule runs (newest first)
  trails: new Map(), // id → [{lat, lon}] positions seen, for the maps
};

const watchers = new Map(); // id ('*' for any) → Set of {el, fn}
const MAX_FEED = 200;
const MAX_TRAIL = 500;

/** Load the space and every device with its spec. */
export async function loadAll() {
  const [space, list] = await Promise.all([api('space'), api('devices')]);
  store.space = { location: null, ...space, areas: (space.areas || []).map(said) };
  const details = await Promise.all(
    list.map((d) => api(`devices/${encodeURIComponent(d.id)}`).catch(() => d)),
  );
  store.devices.clear();
  for (const d of details) {
    store.devices.set(d.id, { ...said(d), spec: d.spec || inferSpec(d.state) });
    addTrail(d.id, d.state);
  }
}

// a device or an area by what people call it in the page's language: the hub decides that
// (`names`: "Back Door Lock" is "后门" on a Chinese page, as in the hub's sentences)
const said = (thing) => ({ ...thing, name: (thing.names || {})[lang] || thing.name });

/** Refresh every device's state (after a reconnect) and tell the watchers. */
export async function resync() {
  const list = await api('devices');
  for (const d of list) {
    const dev = store.devices.get(d.id);
    if (!dev) continue;
    dev.online = d.online;
    applyState(d.id, d.state, null);
  }
}

/** A spec guessed from the values, when the hub did not give one. */
function inferSpec(state = {}) {
  const properties = {};
  for (const [k, v] of Object.entries(state)) {
    const kind = typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'float' : 'str';
    properties[k] = { kind, access: 'ro' };
  }
  return { properties, actions: {} };
}

export function devicesOf(...types) {
  return [...store.devices.values()].filter((d) => types.includes(d.type));
}

export function propSpec(dev, prop) {
  return (dev.spec && dev.spec.properties && dev.spec.properties[prop]) || {};
}

export function writable(dev, prop) {
  const p = propSpec(dev, prop);
  return p.access !== 'ro' && prop in (dev.state || {});
}

export function hasAction(dev, name) {
  return Boolean(dev.spec && dev.spec.actions && name in dev.spec.actions);
}

/**
 * Call fn(dev, changes) now and whenever the device changes, for as long as `el` is in the
 * page. id '*' watches every device.
 */
export function watch(id, el, fn) {
  if (!watchers.has(id)) watchers.set(id, new Set());
  watchers.get(id).add({ el, fn });
  const dev = store.devices.get(id);
  if (dev) fn(dev, null);
}

function notify(id, changes) {
  const dev = store.devices.get(id);
  for (const key of [id, '*']) {
    const set = watchers.get(key);
    if (!set) continue;
    for (const w of set) {
      if (!w.el.isConnected) { set.delete(w); continue; }
      try { w.fn(dev, changes); } catch (e) { console.error(e); }
    }
  }
}

function addTrail(id, state) {
  const loc = state && state.location;
  if (!loc || typeof loc.lat !== 'number') return;
  const trail = store.trails.get(id) || [];
  const last = trail[trail.length - 1];
  if (!last || last.lat !== loc.lat || last.lon !== loc.lon) trail.push({ lat: loc.lat, lon: loc.lon });
  if (trail.length > MAX_TRAIL) trail.shift();
  store.trails.set(id, trail);
}

/** A new state for a device (whole, or just the changes). */
export function applyState(id, state, changes) {
  const dev = store.devices.get(id);
  if (!dev) return;
  dev.state = { ...dev.state, ...(state || {}), ...(changes || {}) };
  dev.updated = Date.now() / 1000;
  addTrail(id, dev.state);
  notify(id, changes);
}

export function setOnline(id, online) {
  const dev = store.devices.get(id);
  if (!dev || dev.online === online) return;
  dev.online = online;
  notify(id, null);
}

/** Tell a device's watchers again (to put a control back after a failed command). */
export function renotify(id) { notify(id, null); }

const feedWatchers = new Set();
export function pushFeed(item) {
  store.feed.unshift(item);
  if (store.feed.length > MAX_FEED) store.feed.pop();
  for (const fn of feedWatchers) fn(item);
}
export function watchFeed(el, fn) {
  const entry = (item) => { if (!el.isConnected) feedWatchers.delete(entry); else fn(item); };
  feedWatchers.add(entry);
}
