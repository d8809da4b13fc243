// The dashboard's language: English or Chinese, following the browser until the person picks
// one (kept in localStorage). Two sources of words:
//  - the hub's vocabulary (GET api/words/<lang>): what a property, value, action or device
//    type is called — the same names the CLI, rule descriptions and the assistant use;
//  - the dashboard's own sentences: each module passes its Chinese to translator() beside
//    the English it writes, so a sentence and its translation are read and changed together.
// Times are shown in the space's time zone, labelled (zoneLabel()), whatever the browser's.

const KEY = 'hyperhub.lang';

function pick() {
  const chosen = localStorage.getItem(KEY);
  if (chosen === 'en' || chosen === 'zh') return chosen;
  const tags = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return String(tags[0] || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** "en" or "zh". */
export const lang = pick();
/** The BCP 47 tag for Intl and <html lang>. */
export const locale = lang === 'zh' ? 'zh-CN' : 'en-GB';

/** Switch the language and show the page again in it. */
export function setLang(next) {
  localStorage.setItem(KEY, next);
  window.location.reload();
}

function fill(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/**
 * A translate function for one module: t('Unlock {name}?', {name}) → "解锁{name}？" in
 * Chinese. English is the key; a sentence without Chinese stays English (and the Chinese
 * UI test finds it).
 */
export function translator(zh) {
  return (text, vars) => fill(lang === 'zh' && zh[text] != null ? zh[text] : text, vars);
}

const t = translator({
  'Sign in': '登录', Username: '用户名', Password: '密码', 'Use an API token': '使用 API 令牌',
  'API token': 'API 令牌', 'Use token': '使用令牌', 'First run: create the admin': '首次使用：创建管理员',
  'The hub printed a one-time setup code when it first started (also in setup-code in its data dir).':
    '集线器首次启动时打印了一次性设置码（也保存在数据目录的 setup-code 文件里）。',
  'Setup code': '设置码', 'Admin username': '管理员用户名', 'Admin password': '管理员密码',
  'Create admin': '创建管理员', 'Skip to the content': '跳到正文', Views: '视图',
  Home: '家', Car: '汽车', Human: '家人', Robot: '机器人', Chat: '对话', History: '历史',
  Rules: '规则', Log: '日志', 'Log out': '退出', 'Connecting…': '连接中…',
  'The hub does not answer — reconnecting. Controls are off until it is back; what you see may be out of date.':
    '集线器没有响应，正在重新连接。恢复之前控件不可用，看到的状态可能已过时。',
  'Are you sure?': '确定吗？', Cancel: '取消', Confirm: '确定',
  'Language': '语言', '中文': '中文', English: 'English',
});

let words = { properties: {}, states: {}, values: {}, actions: {}, events: {}, types: {}, units: {}, errors: {} };

/** Load the hub's vocabulary in the page's language (before the first view is drawn). */
export async function loadWords() {
  try {
    const res = await fetch(`api/words/${lang}`, { headers: { Accept: 'application/json' } });
    if (res.ok) words = { ...words, ...(await res.json()) };
  } catch { /* an older hub: names read as ids in words */ }
}

function asWords(name) {
  const text = String(name).replace(/_/g, ' ').trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A property's name: "Target temperature"; `short` on a card: "Target". */
export function label(prop, { short = true } = {}) {
  const e = words.properties[prop] || {};
  return (short && e.short) || e.label || asWords(prop);
}

/** A property's name that makes sense without its card: "Current temperature". */
export function longLabel(prop) { return label(prop, { short: false }); }

/** A property's name inside a sentence: "target temperature" (but "PM2.5"). */
export function noun(prop) { return lowerFirst(longLabel(prop)); }

/** English words inside a sentence: "Charge limit" → "charge limit" (but "PM2.5", "AC"). */
export function lowerFirst(text) {
  return lang === 'en' && /^.[a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/** A true/false property's state: locked → "Locked" / "Unlocked". */
export function stateWord(prop, value) {
  const pair = words.states[prop] || words.states._default || ['On', 'Off'];
  return value ? pair[0] : pair[1];
}

/** A unit as written in the page's language: "bpm" → "次/分"; symbols stay. */
export function unitWord(unit) { return words.units[unit] || unit; }

/** An enum value: "cool" → "Cool" / "制冷". */
export function valueWord(value) { return words.values[value] || asWords(value); }

/** An action's name on a button: "flash_lights" → "Flash lights". */
export function actionLabel(action) { return words.actions[action] || asWords(action); }

/** What a device did: "charge_complete" → "finished charging". */
export function eventText(event) { return words.events[event] || String(event).replace(/_/g, ' '); }

/** Why something failed, by its error code (the hub's words): "设备离线"; "" in English,
 *  where the hub's own message says it. */
export function errorWord(code) { return (words.errors || {})[code] || ''; }

/** A device type's name: "robot_dog" → "Robot dog". */
export function typeLabel(type) { return words.types[type] || asWords(type); }

/** Translate the static page: every element with data-i18n (text) or data-i18n-label. */
export function translatePage(root = document) {
  document.documentElement.lang = locale;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.textContent.replace(/\s+/g, ' ').trim());
  }
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.getAttribute('aria-label')));
  }
}

