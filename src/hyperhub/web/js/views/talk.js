// The Chat's push-to-talk button: hold it and speak, let go to send; or click once to start
// and again to send (the keyboard's Enter / Space do the same; Escape cancels). While it
// records, the button turns red and a line beside it says for how long and how to send.
// Whatever stops it — no microphone, a refusal, an insecure page, a hub without speech —
// is said in words on that line, never a button that does nothing.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { translator } from '../i18n.js';
import {
  MicError, isPlaying, playWav, startRecording, stopPlaying, wakeAudio,
} from '../voice.js';

const t = translator({
  'Hold to talk': '按住说话', 'Stop and send': '停止并发送',
  'Hold to talk, or click to start and click again to send': '按住说话，或点一下开始、再点一下发送',
  'Listening… {time} — release to send': '正在听… {time}，松开发送',
  'Listening… {time} — click again to send (Esc cancels)': '正在听… {time}，再点一下发送（Esc 取消）',
  'Starting the microphone…': '正在打开麦克风…',
  'Working out what you said…': '正在识别你说的话…',
  'Speaking the reply…': '正在朗读回复…',
  'Recording cancelled.': '已取消录音。',
  'Too short — hold the button while you speak.': '太短了，请按住按钮说话。',
  'The browser lets a page use the microphone only over HTTPS or on this computer (localhost). Open the dashboard that way to talk to it.':
    '浏览器只允许 HTTPS 页面或本机（localhost）页面使用麦克风。请这样打开控制台再说话。',
  'This browser cannot record from a microphone here.': '这个浏览器不能在这里录音。',
  'The browser may not use the microphone. Allow it for this site (the icon in the address bar), then try again.':
    '浏览器没有麦克风权限。请在地址栏的图标里允许本网站使用麦克风，然后再试。',
  'No microphone was found. Connect one, or choose one in the system’s sound settings.':
    '没有找到麦克风。请连接一个，或在系统的声音设置里选择一个。',
  'The microphone could not be opened: another program may be using it.': '无法打开麦克风：可能正被其他程序使用。',
  'The microphone could not be opened ({why}).': '无法打开麦克风（{why}）。',
  'Talking to the hub is off: {why}': '语音对话不可用：{why}',
  'The reply could not be played ({why}).': '无法播放回复（{why}）。',
  'The reply has no sound: {why}': '回复没有声音：{why}',
  'I heard nothing. Hold the button while you speak, close to the microphone.':
    '没有听到说话。请按住按钮说话，靠近麦克风。',
});

const MIC_WORDS = {
  insecure: 'The browser lets a page use the microphone only over HTTPS or on this computer (localhost). Open the dashboard that way to talk to it.',
  unsupported: 'This browser cannot record from a microphone here.',
  denied: 'The browser may not use the microphone. Allow it for this site (the icon in the address bar), then try again.',
  no_mic: 'No microphone was found. Connect one, or choose one in the system’s sound settings.',
  busy: 'The microphone could not be opened: another program may be using it.',
};
const HOLD_MS = 400; // a press shorter than this is a click: record until the next click
const MIN_SECONDS = 0.4;

let voiceStatus = null; // GET api/voice, asked once a page

function voiceInfo() {
  if (!voiceStatus) voiceStatus = api('voice').catch(() => null); // an older hub: just try
  return voiceStatus;
}

/** Why a spoken request failed, in words (the hub's own message, or ours for no speech). */
export function spokenError(e) {
  if (e && e.code === 'no_speech') return t('I heard nothing. Hold the button while you speak, close to the microphone.');
  return e && e.message ? e.message : String(e);
}

/**
 * The button and its status line. `onRecorded(blob)` sends a recording and resolves to the
 * hub's answer, whose `speech` is then played (or null; the button waits meanwhile). Returns
 * {button, status, say(text, kind), play(speech, error), close()}.
 */
export function pushToTalk({ onRecorded }) {
  const label = h('span', { class: 'sr-only' }, t('Hold to talk'));
  const button = h('button', {
    type: 'button', class: 'talk', 'aria-pressed': 'false', title: t('Hold to talk, or click to start and click again to send'),
  }, icon('mic'), label);
  const status = h('p', { class: 'talk-status', role: 'status', 'aria-live': 'polite' });
  let state = 'idle'; // idle | starting | recording | sending
  let mode = 'hold'; // hold | click
  let recording = null;
  let pressedAt = 0;
  let held = false;
  let timer = null;
  let maxSeconds = 30;
  let off = null; // why speech is off on this hub, once known

  voiceInfo().then((info) => {
    if (!info) return;
    maxSeconds = info.max_seconds || maxSeconds;
    if (!info.stt.available) {
      off = info.stt.reason || '';
      button.setAttribute('aria-disabled', 'true');
      button.title = t('Talking to the hub is off: {why}', { why: off });
    }
  });

  function say(text, kind = '') {
    status.textContent = text;
    status.className = `talk-status${kind ? ` ${kind}` : ''}`;
    status.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  function show(next) {
    state = next;
    const on = next === 'recording' || next === 'starting';
    button.classList.toggle('recording', on);
    button.setAttribute('aria-pressed', String(on));
    button.setAttribute('aria-busy', String(next === 'sending'));
    label.textContent = on ? t('Stop and send') : t('Hold to talk');
    if (!on) button.style.removeProperty('--level');
  }

  function tick() {
    if (!button.isConnected) { close(); return; } // the Chat was left
    if (state !== 'recording') return;
    const secs = recording.seconds;
    const time = `${Math.floor(secs / 60)}:${String(Math.floor(secs % 60)).padStart(2, '0')}`;
    say(mode === 'hold' ? t('Listening… {time} — release to send', { time })
      : t('Listening… {time} — click again to send (Esc cancels)', { time }), 'listening');
    if (secs >= maxSeconds - 0.25) finish(); // the hub takes at most this much
  }

  async function begin() {
    if (off !== null) { say(t('Talking to the hub is off: {why}', { why: off }), 'error'); return; }
    stopPlaying();
    wakeAudio(); // inside the press: browsers start audio only then
    show('starting');
    say(t('Starting the microphone…'));
    try {
      recording = await startRecording({
        onLevel: (x) => button.style.setProperty('--level', x.toFixed(2)),
      });
    } catch (e) {
      show('idle');
      const kind = e instanceof MicError ? e.kind : 'failed';
      say(MIC_WORDS[kind] ? t(MIC_WORDS[kind]) : t('The microphone could not be opened ({why}).', { why: e.message }), 'error');
      return;
    }
    if (state !== 'starting') { recording.cancel(); recording = null; return; } // cancelled meanwhile
    if (!held) mode = 'click'; // let go before the microphone was open
    show('recording');
    timer = setInterval(tick, 200);
    tick();
  }

  async function finish() {
    if (state !== 'recording') return;
    clearInterval(timer);
    const seconds = recording.seconds;
    const blob = recording.stop();
    recording = null;
    if (seconds < MIN_SECONDS) {
      show('idle');
      say(t('Too short — hold the button while you speak.'), 'error');
      return;
    }
    show('sending');
    say(t('Working out what you said…'));
    let answer = null;
    try {
      answer = await onRecorded(blob);
    } finally {
      show('idle');
      if (status.textContent === t('Working out what you said…')) say('');
    }
    if (answer) play(answer.speech, answer.speech_error); // not awaited: the button is free
  }

  function cancel() {
    clearInterval(timer);
    if (recording) recording.cancel();
    recording = null;
    if (state === 'recording' || state === 'starting') {
      show('idle');
      say(t('Recording cancelled.'));
    }
  }

  function close() {
    clearInterval(timer);
    if (recording) recording.cancel();
    recording = null;
    stopPlaying();
    document.removeEventListener('keydown', onKey);
  }

  function press() {
    if (state === 'sending') return;
    if (state === 'recording' || state === 'starting') { // the click that ends a click-to-talk
      held = false;
      if (state === 'recording') finish(); else cancel();
      return 'ended';
    }
    pressedAt = performance.now();
    held = true;
    mode = 'hold';
    begin();
    return 'began';
  }

  let ended = false;
  button.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault(); // no focus ring flash, no text selection on a long press
    button.focus();
    if (button.setPointerCapture) button.setPointerCapture(e.pointerId);
    ended = press() === 'ended';
  });
  button.addEventListener('pointerup', () => {
    if (ended) { ended = false; return; }
    held = false;
    if (state === 'recording' && mode === 'hold') {
      if (performance.now() - pressedAt >= HOLD_MS) finish();
      else { mode = 'click'; tick(); }
    } else if (state === 'starting') mode = 'click';
  });
  button.addEventListener('pointercancel', () => { if (mode === 'hold') cancel(); });
  button.addEventListener('contextmenu', (e) => e.preventDefault()); // a long press on a phone
  button.addEventListener('click', (e) => {
    if (e.detail !== 0) return; // a pointer: handled above
    if (state === 'recording' || state === 'starting') press();
    else { press(); held = false; mode = 'click'; } // Enter / Space: click-to-talk
  });
  function onKey(e) {
    if (!button.isConnected) { close(); return; }
    if (e.key === 'Escape' && (state === 'recording' || state === 'starting')) cancel();
  }
  document.addEventListener('keydown', onKey);

  async function play(speech, error) {
    if (error) { say(t('The reply has no sound: {why}', { why: error.message }), 'error'); return; }
    if (!speech || !button.isConnected || state !== 'idle') return;
    say(t('Speaking the reply…'));
    try {
      await playWav(speech.wav_base64);
      if (!isPlaying() && status.textContent === t('Speaking the reply…')) say('');
    } catch (e) {
      say(t('The reply could not be played ({why}).', { why: e.message }), 'error');
    }
  }

  return { button, status, say, play, close };
}
