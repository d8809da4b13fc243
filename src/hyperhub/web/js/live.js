// Live updates over the WebSocket /api/ws?token=…, reconnecting with backoff.

import { session } from './api.js';
import { applyState, loadAll, pushFeed, resync, setOnline } from './store.js';
import { translator } from './i18n.js';

const t = translator({
  'Your session ended. Please sign in again.': '会话已结束，请重新登录。',
  'This token may not read the live feed (it needs the read scope).': '这个令牌不能读取实时状态（需要 read 权限）。',
});

const MIN_DELAY = 500;
const MAX_DELAY = 15000;
const CLOSE_UNAUTHORIZED = 4401; // the hub closes with these when the token is not (or no longer) good
const CLOSE_FORBIDDEN = 4403;

function handle(msg) {
  switch (msg.type) {
    case 'state': applyState(msg.device, msg.state, msg.changes); break;
    case 'availability': setOnline(msg.device, Boolean(msg.online)); pushFeed(msg); break;
    case 'hello': case 'subscribed': break;
    // devices joined or left the space (accepted from an adapter): fetch them, draw again
    case 'devices': loadAll().then(() => window.dispatchEvent(new HashChangeEvent('hashchange'))); break;
    case 'error': console.warn('hub:', msg.message); break;
    default: pushFeed(msg); // events, rule runs
  }
}

/**
 * Keep a WebSocket open; onStatus('connecting' | 'up' | 'down'). After a reconnect the devices
 * are fetched again (what happened while away). onRefused(message) when the hub refuses the
 * token (revoked, expired, no read scope): no more reconnects then.
 */
export function connectLive(onStatus, onRefused) {
  let ws = null;
  let delay = MIN_DELAY;
  let timer = null;
  let stopped = false;
  let opened = false;

  const open = () => {
    const url = new URL('api/ws', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', session.token || '');
    onStatus('connecting');
    ws = new WebSocket(url);
    ws.addEventListener('open', () => {
      delay = MIN_DELAY;
      ws.send(JSON.stringify({ subscribe: {} }));
      onStatus('up');
      if (opened) resync().catch(() => {});
      opened = true;
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      // the hub packs what queued up into one frame: a JSON array of messages
      for (const m of Array.isArray(msg) ? msg : [msg]) if (m && typeof m === 'object') handle(m);
    });
    ws.addEventListener('close', (ev) => {
      ws = null;
      if (stopped) return;
      if (ev.code === CLOSE_UNAUTHORIZED || ev.code === CLOSE_FORBIDDEN) {
        onStatus('down');
        onRefused(ev.code === CLOSE_UNAUTHORIZED
          ? t('Your session ended. Please sign in again.')
          : t('This token may not read the live feed (it needs the read scope).'));
        return;
      }
      onStatus('down');
      opened = true; // resync after the next open
      timer = setTimeout(open, delay * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, MAX_DELAY);
      resync().catch(() => {}); // a 401 here ends the session
    });
  };
  // the browser knows before the socket does when the network went away
  const offline = () => { if (ws) ws.close(); };
  window.addEventListener('offline', offline);
  open();
  return {
    close() {
      window.removeEventListener('offline', offline);
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}
