// A map without tiles: positions around home drawn as inline SVG, with a grid, a scale bar,
// a compass, the home marker, trails of positions seen and a marker per device.

import { s } from './dom.js';
import { translator } from './i18n.js';

const t = translator({ Map: '地图', Home: '家', N: '北' });

const W = 480;
const H = 320;
const PAD = 36;
const EARTH_M = 6371000;
const STEPS = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000, 200000, 500000];

/** Metres east (x) and north (y) of `origin`. */
function project(origin, p) {
  const rad = Math.PI / 180;
  return {
    x: (p.lon - origin.lon) * rad * EARTH_M * Math.cos(origin.lat * rad),
    y: (p.lat - origin.lat) * rad * EARTH_M,
  };
}

/** A label beside (x, y), left of it near the right edge, moved down until it overlaps none. */
function placeLabel(placed, x, y, text) {
  const w = text.length * 8 + 6; // about 8 units a letter at 12px
  const right = x + 14 + w < W;
  const left = right ? x + 14 : x - 14 - w;
  let top = y - 8;
  const hits = (b) => left < b.left + b.w && b.left < left + w && top < b.top + 15 && b.top < top + 15;
  while (placed.some(hits)) top += 15;
  placed.push({ left, top, w });
  return s('text', { class: 'label', x: right ? left : left + w, y: top + 12, 'text-anchor': right ? 'start' : 'end' }, text);
}

function metres(m) { return m >= 1000 ? `${m / 1000} km` : `${m} m`; }

/**
 * The map as an <svg>. opts: home {lat, lon} or null; markers [{label, loc, kind}];
 * trails [[{lat, lon}, ...]]; title (the accessible description).
 */
export function mapSvg({ home, markers = [], trails = [], title = t('Map') }) {
  const located = markers.filter((m) => m.loc && typeof m.loc.lat === 'number');
  const origin = home || (located[0] && located[0].loc) || { lat: 0, lon: 0 };
  const pts = [...located.map((m) => project(origin, m.loc)), ...trails.flat().map((p) => project(origin, p))];
  if (home) pts.push({ x: 0, y: 0 });
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const minX = Math.min(...xs, 0); const maxX = Math.max(...xs, 0);
  const minY = Math.min(...ys, 0); const maxY = Math.max(...ys, 0);
  const spanX = Math.max(maxX - minX, 600);
  const spanY = Math.max(maxY - minY, 400);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  const at = (p) => [W / 2 + (p.x - cx) * scale, H / 2 - (p.y - cy) * scale];
  const step = STEPS.find((m) => m * scale >= 55) || STEPS[STEPS.length - 1];

  const svg = s('svg', { class: 'map', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title },
    s('title', {}, title));
  // grid lines every `step` metres, aligned on home
  const x0 = cx - W / 2 / scale; const x1 = cx + W / 2 / scale;
  const y0 = cy - H / 2 / scale; const y1 = cy + H / 2 / scale;
  for (let gx = Math.ceil(x0 / step) * step; gx <= x1; gx += step) {
    const [px] = at({ x: gx, y: 0 });
    svg.append(s('line', { class: 'grid-line', x1: px, x2: px, y1: 0, y2: H }));
  }
  for (let gy = Math.ceil(y0 / step) * step; gy <= y1; gy += step) {
    const [, py] = at({ x: 0, y: gy });
    svg.append(s('line', { class: 'grid-line', x1: 0, x2: W, y1: py, y2: py }));
  }
  // trails
  for (const trail of trails) {
    if (trail.length < 2) continue;
    const points = trail.map((p) => at(project(origin, p)).map((n) => n.toFixed(1)).join(',')).join(' ');
    svg.append(s('polyline', { class: 'trail', points }));
  }
  // home
  const labels = [];
  if (home) {
    const [hx, hy] = at({ x: 0, y: 0 });
    svg.append(s('g', { transform: `translate(${hx.toFixed(1)} ${hy.toFixed(1)})` },
      s('path', { class: 'home', d: 'M-10 2 0-9 10 2V11H-10Z' })));
    svg.append(placeLabel(labels, hx, hy + 8, t('Home')));
  }
  // markers, a label each
  for (const m of located) {
    const [mx, my] = at(project(origin, m.loc));
    svg.append(s('g', { transform: `translate(${mx.toFixed(1)} ${my.toFixed(1)})` },
      s('circle', { class: 'halo', r: 13 }),
      s('circle', { class: `marker ${m.kind || ''}`, r: 6 })));
    svg.append(placeLabel(labels, mx, my, m.label));
  }
  // compass and scale bar
  svg.append(s('g', { transform: `translate(${W - 26} 30)` },
    s('circle', { r: 15, fill: 'none', stroke: 'currentColor', 'stroke-opacity': 0.25 }),
    s('path', { class: 'compass', d: 'M0-12 5 4 0 1-5 4Z' }),
    s('text', { x: -4, y: -17 }, t('N'))));
  const bar = step * scale;
  svg.append(s('g', { transform: `translate(14 ${H - 16})` },
    s('path', { d: `M0-5V0H${bar.toFixed(1)}V-5`, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5 }),
    s('text', { x: bar + 6, y: 0 }, metres(step))));
  return svg;
}
