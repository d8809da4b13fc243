// The dashboard's entry point: sign-in, the views behind the tabs, live updates.

import { api, onUnauthorized, post, session } from './api.js';
import { h, setZone } from './dom.js';
import { lang, loadWords, setLang, translatePage, translator } from './i18n.js';
import { connectLive } from './live.js';
import { loadAll, store } from './store.js';
import * as car from './views/car.js';
import * as chat from './views/chat.js';
import * as history from './views/history.js';
import * as home from './views/home.js';
import * as human from './views/human.js';
import * as log from './views/log.js';
import * as robot from './views/robot.js';
import * as rules from './views/rules.js';

const VIEWS = { home, car, human, robot, chat, history, rules, log };
const t = translator({
  Live: '已连接', 'Reconnecting…': '重新连接中…', 'Connecting…': '连接中…',
  'That sign-in is no longer valid. Please sign in again.': '登录已失效，请重新登录。',
  'Signed out.': '已退出。', 'Your session ended. Please sign in again.': '会话已结束，请重新登录。',
  'This view failed: {message}': '这个视图出错了：{message}', 'API token': 'API 令牌',
  'Signed out in another tab.': '已在另一个标签页退出。', 'Language: {name}': '语言：{name}',
});
const $ = (sel) => document.querySelector(sel);
let live = null;
let started = false;

function showLogin(message = '') {
  started = false;
  wasUp = false;
  $('#hub-down').hidden = true;
  $('#view').inert = false;
  if (live) live.close();
  live = null;
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#login-form [name=username]').focus();
}

function endSession(message) {
  session.clear();
  showLogin(message);
}

const LIVE_TEXT = { connecting: t('Connecting…'), up: t('Live'), down: t('Reconnecting…') };
function setLive(state) {
  const el = $('#live');
  el.textContent = LIVE_TEXT[state];
  el.className = `live ${state}`;
  // with the hub away every control would fail with "Failed to fetch" on stale values:
  // say so, and make the view inert (no clicks, no keys) until it is back
  if (state === 'up') wasUp = true;
  const down = state !== 'up' && wasUp; // (not before the first connection)
  $('#hub-down').hidden = !down;
  $('#view').inert = down;
}
let wasUp = false;

function route() {
  if (!started) return;
  const [name, ...args] = (window.location.hash.slice(1) || 'home').split('/');
  const view = VIEWS[name] ? name : 'home';
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.getAttribute('href') === `#${view}`) {
      a.setAttribute('aria-current', 'page');
      // the window's title says where one is (it was "HyperHub" on every view)
      document.title = `${a.textContent.trim()} · ${document.querySelector('#app .brand')?.textContent.trim() || ''} · HyperHub`;
    } else a.removeAttribute('aria-current');
  }
  const main = $('#view');
  main.replaceChildren();
  main.dataset.view = view;
  try {
    VIEWS[view].render(main, args.map(decodeURIComponent));
  } catch (e) {
    console.error(e);
    main.append(h('p', { class: 'error' }, t('This view failed: {message}', { message: e.message })));
  }
}

async function startApp() {
  $('#login').hidden = true;
  try {
    const me = await api('auth/me');
    session.save(session.token, { scopes: me.scopes, user: me.user || me.name || session.info.user });
    await loadAll();
  } catch (e) {
    if (e.status === 401) return endSession(t('That sign-in is no longer valid. Please sign in again.'));
    return showLogin(e.message);
  }
  setZone(store.space.timezone);
  $('#space-name').textContent = store.space.name || 'HyperHub';
  document.title = `${store.space.name || 'HyperHub'} · HyperHub`;
  $('#user').textContent = session.info.user || '';
  $('#app').hidden = false;
  started = true;
  live = connectLive(setLive, endSession);
  route();
}

function userName(res, fallback) {
  const u = res.user;
  return (u && typeof u === 'object' ? u.name || u.username : u) || fallback;
}

async function signIn(username, password) {
  const res = await post('auth/login', { username, password });
  session.save(res.token, { scopes: res.scopes, user: userName(res, username) });
  await startApp();
}

function formHandler(form, fn) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    $('#login-error').textContent = '';
    try {
      await fn(data);
      form.reset();
    } catch (err) {
      $('#login-error').textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
}

formHandler($('#login-form'), (d) => signIn(d.username, d.password));
formHandler($('#token-form'), async (d) => {
  session.save(d.token.trim(), { user: t('API token') });
  await startApp();
});
formHandler($('#setup-form'), async (d) => {
  const res = await post('auth/setup', { code: d.code.trim(), username: d.username, password: d.password });
  if (res && res.token) {
    session.save(res.token, { scopes: res.scopes, user: userName(res, d.username) });
    await startApp();
  } else {
    await signIn(d.username, d.password);
  }
});

$('#logout').addEventListener('click', async () => {
  try { await post('auth/logout'); } catch { /* the token may be gone already */ }
  endSession(t('Signed out.'));
});
onUnauthorized(() => { if (started) endSession(t('Your session ended. Please sign in again.')); });
window.addEventListener('hashchange', route);

/** Open the first-run form when the hub has no admin yet. */
async function offerSetup() {
  try {
    const res = await api('auth/setup');
    if (res && res.needed) {
      $('#setup-form').closest('details').open = true;
      // no account exists yet: the setup code comes first, not the sign-in form
      $('#setup-form [name=code]').focus();
    }
  } catch { /* an older hub: the form stays folded */ }
}

// one language switch in the header and one on the sign-in card: the other language,
// written in itself
for (const id of ['#lang', '#login-lang']) {
  const btn = $(id);
  const other = lang === 'zh' ? 'en' : 'zh';
  btn.textContent = other === 'zh' ? '中文' : 'English';
  btn.lang = other;
  btn.setAttribute('aria-label', t('Language: {name}', { name: btn.textContent }));
  btn.addEventListener('click', () => setLang(other));
}
translatePage();
// signing out in one tab signs out every tab (the session is shared by the browser's tabs)
session.onChange(() => { if (started && !session.token) showLogin(t('Signed out in another tab.')); });

const wordsReady = loadWords();
async function begin() {
  await wordsReady;
  if (session.token) startApp(); else { showLogin(); offerSetup(); }
}
begin();
