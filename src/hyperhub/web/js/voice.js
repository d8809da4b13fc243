// The microphone and the speaker for the Chat's push-to-talk (docs/voice.md).
//
// Recording: getUserMedia → an AudioWorklet (voice-capture.js) that hands over the raw
// samples → a 16-bit mono WAV at the audio context's rate (no codec: the hub reads WAV
// itself and resamples it). Playing: the hub's WAV decoded and played through Web Audio —
// no <audio> element, since the page's CSP allows media only from its own origin (no
// blob: or data: URLs).

/** Why the microphone cannot be used: `kind` is insecure, unsupported, denied, no_mic,
 *  busy or failed (chat.js says each in words). */
export class MicError extends Error {
  constructor(kind, message = '') {
    super(message || kind);
    this.kind = kind;
  }
}

let context = null;
let worklet = null; // the promise of the worklet module, once per context
let playing = null;

function audioContext() {
  if (!context || context.state === 'closed') {
    context = new AudioContext();
    worklet = null;
  }
  return context;
}

/** Wake the audio context inside a click or key press (browsers start it only then). */
export function wakeAudio() {
  const ctx = audioContext();
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
}

function micErrorOf(e) {
  const kind = {
    NotAllowedError: 'denied', SecurityError: 'denied', PermissionDeniedError: 'denied',
    NotFoundError: 'no_mic', DevicesNotFoundError: 'no_mic', OverconstrainedError: 'no_mic',
    NotReadableError: 'busy', TrackStartError: 'busy', AbortError: 'busy',
  }[e && e.name] || 'failed';
  return new MicError(kind, (e && e.message) || String(e));
}

/**
 * Start recording from the microphone. `onLevel(0…1)` hears the loudness as it comes.
 * Resolves to {rate, seconds, stop() → Blob (audio/wav), cancel()}; rejects with MicError.
 */
export async function startRecording({ onLevel } = {}) {
  if (!window.isSecureContext) throw new MicError('insecure');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
    throw new MicError('unsupported');
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (e) {
    throw micErrorOf(e);
  }
  const ctx = audioContext();
  let source;
  let node;
  try {
    await ctx.resume();
    if (!worklet) worklet = ctx.audioWorklet.addModule(new URL('./voice-capture.js', import.meta.url));
    await worklet;
    source = ctx.createMediaStreamSource(stream);
    node = new AudioWorkletNode(ctx, 'hyperhub-capture');
  } catch (e) {
    worklet = null;
    for (const track of stream.getTracks()) track.stop();
    throw new MicError('unsupported', e.message);
  }
  const blocks = [];
  let frames = 0;
  node.port.onmessage = (e) => {
    blocks.push(e.data);
    frames += e.data.length;
    if (onLevel) onLevel(level(e.data));
  };
  source.connect(node);
  const rate = ctx.sampleRate;
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    node.port.onmessage = null;
    source.disconnect();
    node.disconnect();
    for (const track of stream.getTracks()) track.stop(); // the browser's "recording" light goes off
  };
  return {
    rate,
    get seconds() { return frames / rate; },
    stop() { release(); return wavBlob(blocks, frames, rate); },
    cancel: release,
  };
}

function level(block) {
  let sum = 0;
  for (let i = 0; i < block.length; i += 1) sum += block[i] * block[i];
  return Math.min(1, Math.sqrt(sum / block.length) * 4); // speech is ~0.05–0.25 RMS
}

/** Float blocks as a 16-bit PCM mono WAV. */
function wavBlob(blocks, frames, rate) {
  const buffer = new ArrayBuffer(44 + frames * 2);
  const view = new DataView(buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i += 1) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, 'RIFF');
  view.setUint32(4, 36 + frames * 2, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, frames * 2, true);
  let at = 44;
  for (const block of blocks) {
    for (let i = 0; i < block.length; i += 1) {
      const x = Math.max(-1, Math.min(1, block[i]));
      view.setInt16(at, x < 0 ? x * 0x8000 : x * 0x7fff, true);
      at += 2;
    }
  }
  return new Blob([buffer], { type: 'audio/wav' });
}

/** Play a WAV given as base64 (the hub's spoken reply); resolves when it has played or
 *  was stopped. */
export async function playWav(base64) {
  stopPlaying();
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const ctx = audioContext();
  await ctx.resume();
  const buffer = await ctx.decodeAudioData(bytes.buffer);
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  playing = source;
  return new Promise((resolve) => {
    source.onended = () => {
      if (playing === source) playing = null;
      resolve();
    };
    source.start();
  });
}

/** Stop a reply that is playing (a new recording starts, the person leaves the Chat). */
export function stopPlaying() {
  if (!playing) return;
  const source = playing;
  playing = null;
  try { source.stop(); } catch { /* it had ended */ }
}

/** Whether a reply is playing now. */
export function isPlaying() { return playing !== null; }
