// Chat: talk to the assistant in English or Chinese; shows the plan it ran and what changed,
// and asks Yes / No for risky actions (the answer goes back in the same conversation).
// The hub answers in the language of the message; the page's own words follow the page.
// The microphone button asks by voice (talk.js): what was heard shows as the person's own
// message, and the reply is spoken back.

import { api, post } from '../api.js';
import { fmt, h, icon } from '../dom.js';
import { actionLabel, lang, noun, translator } from '../i18n.js';
import { applyState, propSpec, store } from '../store.js';
import { argsText } from './log.js';
import { pushToTalk, spokenError } from './talk.js';

const t = translator({
  Conversation: '对话', 'Message to the assistant': '发给助手的消息',
  'Ask or command… 说点什么…': '说点什么…', 'I am in': '我在', Anywhere: '不指定位置', Send: '发送',
  'Try a command or a question, in English or 中文: type it, or hold the microphone button and say it.':
    '试试一句命令或一个问题，中文或英文都可以：打字，或按住麦克风按钮说出来。',
  Suggestions: '试试这样说', 'New conversation': '新对话', Assistant: '助手',
  '{device}: {property} → {value}': '{device}：{property} → {value}', '{device}: {action}': '{device}：{action}',
  '{ms} ms': '{ms} 毫秒', matcher: '本地理解', llm: '大模型', remote: '远程助手',
  'Said aloud:': '语音：', 'Play the reply': '播放回复',
});

// in English both languages, to show that either works
const SUGGESTIONS = lang === 'zh' ? [
  '打开卧室的灯',
  '把客厅的空调调到24度',
  '车锁了吗？',
  '把前门解锁',
  '打开客厅的灯',
  '把卧室的灯调暗一点',
] : [
  'Turn on the bedroom light',
  'Set the living room AC to 24 degrees',
  'Is the car locked?',
  'Unlock the front door',
  '打开客厅的灯',
  '把卧室的灯调暗一点',
  '车锁了吗？',
];

const CJK = /[\u3400-\u9fff]/;
// a reply's labels and Yes / No: Chinese on a Chinese page, and for a Chinese reply (it asks
// to say 确定, so its buttons say it too); a button sends what it says
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
    return t('{device}: {property} → {value}',
      { device: nameOf(a.device), property: noun(a.property), value: fmt(a.value, spec, a.property) });
  }
  const action = actionLabel(a.action || '?');
  return t('{device}: {action}', { device: nameOf(a.device), action: lang === 'zh' ? action : action.toLowerCase() })
    + argsText(a.args);
}

function describeChanges(changes) {
  const out = [];
  for (const [id, props] of Object.entries(changes || {})) {
    const dev = store.devices.get(id);
    for (const [p, v] of Object.entries(props)) {
      out.push(t('{device}: {property} → {value}',
        { device: nameOf(id), property: noun(p), value: fmt(v, dev ? propSpec(dev, p) : {}, p) }));
    }
  }
  return out;
}

function list(title, lines) {
  if (!lines.length) return null;
  return h('div', {}, h('div', { class: 'meta' }, title), h('ul', {}, lines.map((l) => h('li', {}, l))));
}

function bubble(item, send, talk) {
  if (item.who === 'me' && item.spoken) { // what the hub heard, marked as said aloud
    return h('div', { class: 'msg me spoken', 'aria-busy': item.pending ? 'true' : null },
      icon('mic', 'icon small'), h('span', { class: 'sr-only' }, t('Said aloud:')), ' ',
      item.pending ? '…' : item.text);
  }
  if (item.who === 'me') return h('div', { class: 'msg me' }, item.text);
  if (item.pending) return h('div', { class: 'msg bot', 'aria-busy': 'true' }, '…');
  if (item.error) return h('div', { class: 'msg bot' }, h('span', { class: 'state-bad' }, item.error));
  const a = item.answer;
  const zhReply = CJK.test(a.reply || '');
  const words = zhReply || lang === 'zh' ? ZH : EN;
  const el = h('div', { class: 'msg bot', lang: words === ZH ? 'zh-CN' : 'en' },
    h('div', { lang: a.reply && !zhReply && words === ZH ? 'en' : null }, // an English reply on a Chinese page
      a.reply || words.noReply),
    list(words.plan, (a.actions || []).map(describeAction)),
    list(words.changed, describeChanges(a.changes)),
    h('div', { class: 'meta' }, `${a.engine ? t(a.engine) : ''}${a.ms != null
      ? ` · ${t('{ms} ms', { ms: Math.round(a.ms) })}` : ''}`,
    a.speech ? h('button', {
      type: 'button', class: 'link replay', onclick: () => talk.play(a.speech),
    }, icon('speaker', 'icon small'), ' ', t('Play the reply')) : null));
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
  const log = h('div', { class: 'chat-log', role: 'log', tabindex: 0, 'aria-label': t('Conversation'), 'aria-live': 'polite' });
  const input = h('input', {
    'aria-label': t('Message to the assistant'), placeholder: t('Ask or command… 说点什么…'), autocomplete: 'off', maxlength: 500,
  });
  const area = h('select', { 'aria-label': t('I am in') },
    h('option', { value: '' }, t('Anywhere')),
    (store.space.areas || []).map((a) => h('option', { value: a.id }, a.name)));
  area.value = chat.area;
  area.addEventListener('change', () => { chat.area = area.value; });
  const talk = pushToTalk({ onRecorded: (blob) => sendSpoken(blob) });
  const form = h('form', {}, area, input, talk.button, h('button', { type: 'submit', class: 'primary' }, t('Send')));

  const draw = () => {
    log.replaceChildren(...chat.items.map((it) => bubble(it, send, talk)));
    if (!chat.items.length) {
      log.append(h('p', { class: 'hint' }, t('Try a command or a question, in English or 中文: type it, or hold the microphone button and say it.')));
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

  // a spoken question: the recording goes to the hub as it is (POST api/ask, audio/wav),
  // which answers with what it heard, the same answer as typed, and the reply spoken;
  // resolves to the answer (null when it failed: the button's line says why)
  async function sendSpoken(blob) {
    const heard = { who: 'me', spoken: true, pending: true };
    const pending = { who: 'bot', pending: true };
    chat.items.push(heard, pending);
    draw();
    let answer;
    try {
      answer = await api('ask', {
        method: 'POST',
        blob,
        query: { speak: true, conversation: chat.conversation, area: chat.area },
      });
    } catch (e) {
      chat.items = chat.items.filter((it) => it !== heard && it !== pending);
      if (log.isConnected) draw();
      talk.say(spokenError(e), 'error');
      return null;
    }
    if (answer.conversation) chat.conversation = answer.conversation;
    for (const [id, changes] of Object.entries(answer.changes || {})) applyState(id, null, changes);
    Object.assign(heard, { pending: false, text: answer.transcript });
    Object.assign(pending, { pending: false, answer });
    if (log.isConnected) draw();
    return answer; // talk.js plays answer.speech
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    input.value = '';
    send(text);
  });
  const chips = h('div', { class: 'suggest', role: 'group', 'aria-label': t('Suggestions') },
    SUGGESTIONS.map((text) => h('button', { type: 'button', onclick: () => send(text) }, text)));
  const reset = h('button', {
    type: 'button',
    onclick: () => { chat.items = []; chat.conversation = null; draw(); },
  }, t('New conversation'));
  root.append(h('section', { class: 'chat', 'aria-label': t('Assistant') },
    log, h('div', { class: 'row' }, chips, h('span', { class: 'spacer' }), reset), form, talk.status));
  draw();
  input.focus();
}
