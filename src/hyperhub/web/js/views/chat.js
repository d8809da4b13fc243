// Chat: talk to the assistant in English or Chinese; shows the plan it ran and what changed,
// and asks Yes / No for risky actions (the answer goes back in the same conversation).

import { post } from '../api.js';
import { fmt, h, label, longLabel } from '../dom.js';
import { applyState, propSpec, store } from '../store.js';

const SUGGESTIONS = [
  'Turn on the bedroom light',
  'Set the living room AC to 24 degrees',
  'Is the car locked?',
  'Unlock the front door',
  '打开客厅的灯',
  '把卧室的灯调暗一点',
  '车锁了吗？',
];

const CJK = /[\u3400-\u9fff]/;
const EN = {
  plan: 'Plan', changed: 'Changed', yes: 'Yes', no: 'No', yesWord: 'yes', noWord: 'no',
  confirm: 'Confirm', noReply: '(no reply)',
};
const ZH = {
  plan: '计划', changed: '已改变', yes: '确定', no: '取消', yesWord: '确定', noWord: '取消',
  confirm: '确认', noReply: '（没有回复）',
};

// kept across tab switches for this page
const chat = { conversation: null, area: '', items: [] };

const nameOf = (id) => (store.devices.get(id) || {}).name || id;

function describeAction(a) {
  if (a.property) {
    const dev = store.devices.get(a.device);
    const spec = dev ? propSpec(dev, a.property) : {};
    return `${nameOf(a.device)}: ${longLabel(a.property).toLowerCase()} → ${fmt(a.value, spec, a.property)}`;
  }
  const args = a.args && Object.keys(a.args).length
    ? ` (${Object.entries(a.args).map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
  return `${nameOf(a.device)}: ${label(a.action || '?').toLowerCase()}${args}`;
}

function describeChanges(changes) {
  const out = [];
  for (const [id, props] of Object.entries(changes || {})) {
    const dev = store.devices.get(id);
    for (const [p, v] of Object.entries(props)) {
      out.push(`${nameOf(id)}: ${longLabel(p).toLowerCase()} → ${fmt(v, dev ? propSpec(dev, p) : {}, p)}`);
    }
  }
  return out;
}

function list(title, lines) {
  if (!lines.length) return null;
  return h('div', {}, h('div', { class: 'meta' }, title), h('ul', {}, lines.map((l) => h('li', {}, l))));
}

function bubble(item, send) {
  if (item.who === 'me') return h('div', { class: 'msg me' }, item.text);
  if (item.pending) return h('div', { class: 'msg bot', 'aria-busy': 'true' }, '…');
  if (item.error) return h('div', { class: 'msg bot' }, h('span', { class: 'state-bad' }, item.error));
  const a = item.answer;
  // the answer's own language: a Chinese reply asks to say 确定, so its buttons say it too
  const words = CJK.test(a.reply || '') ? ZH : EN;
  const el = h('div', { class: 'msg bot', lang: words === ZH ? 'zh-CN' : 'en' },
    h('div', {}, a.reply || words.noReply),
    list(words.plan, (a.actions || []).map(describeAction)),
    list(words.changed, describeChanges(a.changes)),
    h('div', { class: 'meta' }, `${a.engine || ''}${a.ms != null ? ` · ${Math.round(a.ms)} ms` : ''}`));
  if (a.needs_confirmation) {
    const buttons = [[words.yes, words.yesWord, 'danger'], [words.no, words.noWord, '']].map(
      ([text, word, cls]) => h('button', {
        type: 'button', class: cls, disabled: item.answered,
        onclick: () => { item.answered = true; send(word); },
      }, text));
    el.append(h('div', { class: 'row', role: 'group', 'aria-label': words.confirm }, buttons));
  }
  return el;
}

export function render(root) {
  const log = h('div', { class: 'chat-log', role: 'log', tabindex: 0, 'aria-label': 'Conversation', 'aria-live': 'polite' });
  const input = h('input', {
    'aria-label': 'Message to the assistant', placeholder: 'Ask or command… 说点什么…', autocomplete: 'off', maxlength: 500,
  });
  const area = h('select', { 'aria-label': 'I am in' },
    h('option', { value: '' }, 'Anywhere'),
    (store.space.areas || []).map((a) => h('option', { value: a.id }, a.name)));
  area.value = chat.area;
  area.addEventListener('change', () => { chat.area = area.value; });
  const form = h('form', {}, area, input, h('button', { type: 'submit', class: 'primary' }, 'Send'));

  const draw = () => {
    log.replaceChildren(...chat.items.map((it) => bubble(it, send)));
    if (!chat.items.length) {
      log.append(h('p', { class: 'hint' }, 'Try a command or a question, in English or 中文.'));
    }
    log.scrollTop = log.scrollHeight;
  };

  async function send(text) {
    text = text.trim();
    if (!text) return;
    const pending = { who: 'bot', pending: true };
    chat.items.push({ who: 'me', text }, pending);
    draw();
    try {
      const body = { text };
      if (chat.conversation) body.conversation = chat.conversation;
      if (chat.area) body.area = chat.area;
      const answer = await post('ask', body);
      if (answer.conversation) chat.conversation = answer.conversation;
      for (const [id, changes] of Object.entries(answer.changes || {})) applyState(id, null, changes);
      Object.assign(pending, { pending: false, answer });
    } catch (e) {
      Object.assign(pending, { pending: false, error: e.message });
    }
    if (log.isConnected) draw();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = '';
    send(text);
  });
  const chips = h('div', { class: 'suggest', role: 'group', 'aria-label': 'Suggestions' },
    SUGGESTIONS.map((t) => h('button', { type: 'button', onclick: () => send(t) }, t)));
  const reset = h('button', {
    type: 'button',
    onclick: () => { chat.items = []; chat.conversation = null; draw(); },
  }, 'New conversation');
  root.append(h('section', { class: 'chat', 'aria-label': 'Assistant' },
    log, h('div', { class: 'row' }, chips, h('span', { class: 'spacer' }), reset), form));
  draw();
  input.focus();
}
