// A line chart as inline SVG: time on x, a number on y, with gridlines and tick labels.
// Times are in the space's time zone (fmtTime), like every time on the dashboard.

import { fmtTime, s } from './dom.js';
import { translator } from './i18n.js';

const t = translator({ Chart: '图表' });
const NO_DATE = { month: undefined, day: undefined };
const NO_TIME = { hour: undefined, minute: undefined, second: undefined };

const M = { l: 52, r: 18, t: 14, b: 30 };

function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function timeLabel(ms, span) {
  if (span > 36 * 3600e3) return fmtTime(ms, NO_TIME);
  return fmtTime(ms, { ...NO_DATE, second: span < 15 * 60e3 ? '2-digit' : undefined });
}

/**
 * points: [[Date, number], ...] sorted by time. opts: unit, title (accessible text), width in
 * CSS pixels (the chart is drawn at that size so its text keeps its size).
 */
const MIN_SPAN = { '°C': 2, '%': 10, K: 500, km: 1, 'km/h': 10, W: 10, lx: 50, 'µg/m³': 10, bpm: 10 };

export function lineChart(points, { unit = '', title = t('Chart'), width = 760 } = {}) {
  const W = Math.max(300, Math.round(width));
  const H = W < 560 ? 220 : 300;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title },
    s('title', {}, title));
  const ts = points.map((p) => p[0].getTime());
  const vs = points.map((p) => p[1]);
  let t0 = Math.min(...ts);
  let t1 = Math.max(...ts);
  if (t1 - t0 < 10e3) { t0 -= 5e3; t1 += 5e3; }
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  // never zoom in past what the unit makes meaningful (±0.05 °C made sensor noise look like
  // swings): the axis spans at least MIN_SPAN of the unit, around the data
  const least = Math.max(MIN_SPAN[unit] ?? 1, 1e-9);
  if (hi - lo < least) {
    const mid = (hi + lo) / 2;
    lo = mid - least / 2;
    hi = mid + least / 2;
  }
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const x = (ms) => M.l + ((ms - t0) / (t1 - t0)) * (W - M.l - M.r);
  const y = (v) => H - M.b - ((v - lo) / (hi - lo)) * (H - M.t - M.b);
  const digits = step < 1 ? Math.min(3, Math.ceil(-Math.log10(step))) : 0;

  for (let v = lo; v <= hi + step / 2; v += step) {
    svg.append(s('line', { class: 'gridl', x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }),
      s('text', { x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, `${v.toFixed(digits)}${unit === '%' ? '%' : unit === '°C' ? '°' : ''}`));
  }
  const ticks = W < 560 ? 2 : 4;
  for (let i = 0; i <= ticks; i += 1) {
    const at = t0 + ((t1 - t0) * i) / ticks;
    const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
    svg.append(s('text', { x: x(at), y: H - 8, 'text-anchor': anchor }, timeLabel(at, t1 - t0)));
  }
  svg.append(s('line', { class: 'axis', x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }));

  const xy = points.map(([d, v]) => `${x(d.getTime()).toFixed(1)},${y(v).toFixed(1)}`);
  if (xy.length) {
    const base = H - M.b;
    svg.append(
      s('path', { class: 'fill', d: `M${x(ts[0]).toFixed(1)},${base}L${xy.join('L')}L${x(ts[ts.length - 1]).toFixed(1)},${base}Z` }),
      s('polyline', { class: 'line', points: xy.join(' ') }),
      s('circle', { class: 'dot', r: 4, cx: x(ts[ts.length - 1]), cy: y(vs[vs.length - 1]) }));
    // each point tells its time and value on hover (a tooltip; invisible until pointed at)
    const shown = (v) => `${Number(v.toFixed(Math.max(digits, 1)))}${unit ? ` ${unit}` : ''}`;
    svg.append(s('g', { class: 'hover' }, points.map(([d, v]) =>
      s('circle', { class: 'hit', r: 7, cx: x(d.getTime()), cy: y(v) },
        s('title', {}, `${fmtTime(d.getTime(), { second: undefined })}: ${shown(v)}`)))));
  }
  return svg;
}
