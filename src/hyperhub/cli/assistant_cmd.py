"""`hyperhub ask`, `hyperhub chat` and `hyperhub bench assistant`: the assistant from the shell.

`ask --jsonl` is the assistant contract of design.md: one JSON answer per input line, whatever
the line holds, each line on a fresh simulated copy of the space's initial state. `ask "text"`
answers one sentence; `chat` keeps a conversation (follow-ups, yes / no) on one simulated state.
A rule request ("when I leave home, lock the door") is only proposed by `ask`; in `chat` a yes
saves it into the space's automations folder (`assistant.yaml`), which the hub reads at its
next start.

Engines: the matcher always; the local LLM in `auto` when llama-cpp-python and a model are there
(created and loaded only at the first sentence the matcher is not sure of); the remote engine
only when `--remote-url` is given. `--engine` forces one stage (benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypedDict, Unpack

from rich.console import Console
from rich.markup import escape

from hyperhub.assistant.pipeline import (
    DEFAULT_LLM_THRESHOLD,
    ENGINES,
    Answer,
    Assistant,
    Conversation,
)
from hyperhub.assistant.plan import Plan
from hyperhub.assistant.rules import FileRuleSaver, RuleSaver
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError, ModelUnavailable
from hyperhub.space import Space

log = logging.getLogger(__name__)

EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit", "退出", "再见"})
BAD_LINE = "I didn't understand this input line: {problem}."
FAILED = "I couldn't answer this: {problem}."
REMOTE_FAILED = "I couldn't ask the remote engine: {problem}."

Warn = Callable[[str], None]


class AskOptions(TypedDict, total=False):
    """What `Session.ask` passes on to `Assistant.ask`: the speaker's area, the conversation
    so far, where a confirmed rule is saved."""

    area: str | None
    conversation: Conversation | None
    rules: RuleSaver | None


@dataclass
class EngineOptions:
    """What the engine options of `ask` and `chat` ask for."""

    engine: str = "auto"
    model: Path | None = None
    adapter: str | None = None  # a GGUF LoRA path, "none", or None: the shipped one if any
    no_llm: bool = False
    remote_url: str | None = None
    remote_model: str | None = None
    remote_key: str | None = None
    remote_timeout: float = 10.0
    llm_threshold: float | None = None  # None: the pipeline's default

    @property
    def threshold(self) -> float:
        return DEFAULT_LLM_THRESHOLD if self.llm_threshold is None else self.llm_threshold

    def check(self) -> None:
        if self.engine not in ENGINES:
            raise HyperHubError(f"unknown engine {self.engine!r}; use one of {', '.join(ENGINES)}")
        if self.engine == "llm" and self.no_llm:
            raise HyperHubError("--engine llm and --no-llm contradict each other")
        if self.engine == "remote" and not self.remote_url:
            raise HyperHubError("--engine remote needs --remote-url URL (an OpenAI-compatible API)")
        if not 0.0 <= self.threshold <= 1.0:
            raise HyperHubError(f"--llm-threshold must be from 0 to 1, not {self.llm_threshold}")
        if self.model is not None and not self.model.is_file():
            raise ModelUnavailable(f"model file {self.model} does not exist")
        if self.adapter not in (None, "none") and not Path(self.adapter).is_file():
            raise ModelUnavailable(f"adapter file {self.adapter} does not exist")

    @property
    def lora_path(self) -> Path | str | None:
        """What `LlmEngine(lora_path=…)` takes for `adapter`."""
        if self.adapter is None:
            return "default"
        return None if self.adapter == "none" else Path(self.adapter)


def llm_unavailable(model: Path | None) -> str | None:
    """Why the local LLM cannot run here (without loading anything), or None when it can."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    if model is not None:
        return None if model.is_file() else f"model file {model} does not exist"
    try:
        from hyperhub.assistant.model_files import default_model_path

        path = Path(default_model_path())
    except (HyperHubError, ImportError, OSError) as exc:
        return f"no default model ({exc})"
    return None if path.is_file() else f"the default model {path} is not there"


class LazyLlm:
    """The local LLM engine, created and loaded at the first sentence that needs it.

    `required` (`--engine llm`): a failure to load raises `ModelUnavailable`. Otherwise the
    failure is said once through `warn` and the engine stays silent (empty plans)."""

    def __init__(
        self,
        space: Space,
        model: Path | None,
        *,
        required: bool,
        warn: Warn,
        lora_path: Path | str | None = "default",
    ) -> None:
        self.space = space
        self.model = model
        self.lora_path = lora_path
        self.required = required
        self.warn = warn
        self.engine: Any = None
        self.failed: str | None = None
        self._lock = threading.Lock()  # a warm-up thread and a request may load at once

    def load(self) -> Any:
        if self.engine is not None:
            return self.engine
        with self._lock:
            return self._load()

    def _load(self) -> Any:
        if self.engine is not None:
            return self.engine
        if self.failed is not None:
            if self.required:
                raise ModelUnavailable(self.failed)
            return None
        try:
            from hyperhub.assistant.llm import LlmEngine

            engine = LlmEngine(self.space, model_path=self.model, lora_path=self.lora_path)
            engine.load()
        except (HyperHubError, ImportError, OSError) as exc:
            self.failed = f"the local LLM cannot run: {exc}"
            if self.required:
                raise ModelUnavailable(self.failed) from None
            self.warn(f"{self.failed}; the matcher answers alone")
            return None
        self.engine = engine
        return engine

    def parse(self, text: str, *, area: str | None, state: dict[str, dict[str, Any]]) -> Plan:
        engine = self.load()
        if engine is None:
            return Plan(engine="llm")
        plan: Plan = engine.parse(text, area=area, state=state)
        return plan

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


class Session:
    """An `Assistant` with the engines the options ask for, and what they said went wrong."""

    def __init__(self, space: Space, opts: EngineOptions, warn: Warn) -> None:
        opts.check()
        self.space = space
        self.opts = opts
        self.warn = warn
        self.llm: LazyLlm | None = None
        self.remote: Any = None
        self._warned: set[str] = set()
        if opts.engine == "llm":
            reason = llm_unavailable(opts.model)
            if reason is not None:
                raise ModelUnavailable(f"--engine llm cannot run: {reason}")
            self.llm = LazyLlm(
                space, opts.model, required=True, warn=self.warn_once, lora_path=opts.lora_path
            )
        elif opts.engine == "auto" and not opts.no_llm:
            reason = llm_unavailable(opts.model)
            if reason is None:
                self.llm = LazyLlm(
                    space, opts.model, required=False, warn=self.warn_once, lora_path=opts.lora_path
                )
            else:
                self.warn_once(
                    f"the local LLM is not available: {reason}; the matcher answers alone"
                )
        if opts.remote_url and opts.engine in ("auto", "remote"):
            from hyperhub.assistant.remote import DEFAULT_REMOTE_MODEL, RemoteEngine

            self.remote = RemoteEngine(
                space,
                opts.remote_url,
                model=opts.remote_model or DEFAULT_REMOTE_MODEL,
                api_key=opts.remote_key,
                timeout=opts.remote_timeout,
            )
        self.assistant = Assistant(
            space,
            engine=opts.engine,
            llm=self.llm,
            remote=self.remote,
            llm_threshold=opts.threshold,
        )

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    def preload(self) -> None:
        """Load the LLM now when every sentence will need it (`--engine llm`)."""
        if self.llm is not None and self.opts.engine == "llm":
            self.llm.load()

    def warm_up(self) -> None:
        """Load the LLM now if it may be used (a hub at start, in a thread): the first
        sentence that needs it then does not wait for the model (or, the first time with a
        new adapter, for the merge). A failure is said once, as it would be later."""
        if self.llm is None:
            return
        try:
            self.llm.load()
        except Exception as exc:  # a thread's failure must reach the log, not vanish
            self.warn_once(f"the local LLM could not be loaded at start: {exc}")

    def ask(self, text: str, devices: Simulator, **options: Unpack[AskOptions]) -> Answer:
        self._forget_remote_failure()
        return self._said_remote_failure(self.assistant.ask(text, devices, **options))

    async def aask(self, text: str, devices: Any, **options: Unpack[AskOptions]) -> Answer:
        """`ask` on the devices of a running hub (`runtime.HubDevices`)."""
        self._forget_remote_failure()
        return self._said_remote_failure(await self.assistant.aask(text, devices, **options))

    def _forget_remote_failure(self) -> None:
        if self.remote is not None:
            self.remote.last_error = None

    def _said_remote_failure(self, answer: Answer) -> Answer:
        error = getattr(self.remote, "last_error", None)
        if error:
            if self.opts.engine == "remote" and not answer.changes and not answer.actions:
                answer.reply = REMOTE_FAILED.format(problem=str(error).rstrip("."))
            else:
                self.warn_once(f"the remote engine failed ({error}); going on without it")
        return answer

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
        if self.remote is not None:
            self.remote.close()


@dataclass
class LiveHub:
    """The hub running on the data dir: `ask` and `chat` act on its devices (checked,
    acknowledged, audited like `set` and `call`) instead of a simulation."""

    info: Any  # runtime.HubInfo
    data_dir: Path
    store: Any  # the data dir's StateStore (the audit rows are written there)
    stored: dict[str, dict[str, Any]]  # the stored state, for devices not heard yet

    @contextlib.asynccontextmanager
    async def devices(self, space: Space, actor: str) -> AsyncIterator[Any]:
        from hyperhub.runtime import HubDevices, connect_to_running_hub

        connection = connect_to_running_hub(
            self.info, self.data_dir, space, devices=list(space.devices), timeout=3.0
        )
        async with connection as fabric:
            yield HubDevices(fabric, self.store, actor, self.stored)


SIMULATED = "simulated: nothing was sent to devices"


def fresh_devices(space: Space, state: dict[str, dict[str, Any]] | None = None) -> Simulator:
    """A simulated copy of the space (its initial state, or `state`), on a clock that does not
    move: nothing changes but what the assistant does."""
    return Simulator(space, ManualClock(), state=state)


# -- input -----------------------------------------------------------------------------------


def read_lines(stream: IO[bytes]) -> Iterator[str]:
    """Lines of a byte stream as text: UTF-8 (bad bytes replaced), without the line ending."""
    first = True
    for raw in stream:
        line = raw.decode("utf-8", errors="replace")
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield line.removesuffix("\n").removesuffix("\r")


def parse_line(line: str) -> tuple[str, str | None, str | None]:
    """One input line of `ask --jsonl` → (text, area, problem). A line that starts with `{` is
    a JSON object {"text": …, "area": …}; any other line is the text itself."""
    if not line.lstrip().startswith("{"):
        return line, None, None
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return line, None, f"it starts with {{ but is not a JSON object ({why})"
    if not isinstance(obj, dict):
        return line, None, "it starts with { but is not a JSON object"
    text = obj.get("text")
    if not isinstance(text, str):
        what = "missing" if text is None else _kind(text)
        return line, None, f'"text" must be a string, and it is {what}'
    area = obj.get("area")
    if area is not None and not isinstance(area, str):
        return text, None, f'"area" must be a string (an area id), not {_kind(area)}'
    return text, area or None, None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    kinds: dict[type, str] = {list: "a list", dict: "an object"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def problem_answer(text: str, problem: str) -> Answer:
    return Answer(text=text, reply=BAD_LINE.format(problem=problem))


def failed(text: str, exc: HyperHubError) -> Answer:
    """The answer to a sentence whose handling failed with a named error."""
    return Answer(text=text, reply=FAILED.format(problem=str(exc).rstrip(".")))


def _write_json(data: dict[str, Any], stream: IO[bytes]) -> None:
    stream.write((json.dumps(data, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    stream.flush()


# -- ask --jsonl -----------------------------------------------------------------------------


def run_jsonl(
    space: Space,
    opts: EngineOptions,
    *,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    warn: Warn,
) -> int:
    """The contract: one JSON answer per input line, each on a fresh simulated state.
    Returns how many lines were answered."""
    src = stdin if stdin is not None else sys.stdin.buffer
    dst = stdout if stdout is not None else sys.stdout.buffer
    session = Session(space, opts, warn)
    rules = FileRuleSaver(space)  # only the ids in use: lines have no conversation to save in
    count = 0
    try:
        session.preload()
        for line in read_lines(src):
            _write_json(answer_line(session, line, rules).as_contract(), dst)
            count += 1
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        if stdout is None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        session.close()
    return count


def answer_line(session: Session, line: str, rules: RuleSaver | None = None) -> Answer:
    """The answer to one input line; never raises (the contract has one answer per line)."""
    text, area, problem = parse_line(line)
    if problem is not None:
        return problem_answer(text, problem)
    try:
        return session.ask(text, fresh_devices(session.space), area=area, rules=rules)
    except HyperHubError as exc:
        return failed(text, exc)
    except Exception as exc:  # the contract: one answer per line, whatever happens
        log.exception("assistant failed on %r", text[:200])
        session.warn_once(f"internal error: {type(exc).__name__}: {exc}")
        return Answer(
            text=text, reply=FAILED.format(problem=f"internal error ({type(exc).__name__})")
        )


# -- ask "text" ------------------------------------------------------------------------------


def run_one(
    space: Space,
    state: dict[str, dict[str, Any]] | None,
    text: str,
    area: str | None,
    opts: EngineOptions,
    *,
    as_json: bool,
    out: Console,
    warn: Warn,
    live: LiveHub | None = None,
    more: Callable[[Answer], dict[str, Any]] | None = None,
) -> Answer:
    """Answer one sentence: on the running hub's devices (`live`), else on a simulated copy
    of `state` (the space's initial state if None). `more`, given the answer before it is
    printed, returns keys to add to its JSON (`ask --audio`: the transcript, stage times)."""
    area = check_area(space, area)
    session = Session(space, opts, warn)
    rules = FileRuleSaver(space)
    try:
        if live is not None:

            async def on_hub() -> Answer:
                async with live.devices(space, "ask:cli") as devices:
                    return await session.aask(text, devices, area=area, rules=rules)

            answer = asyncio.run(on_hub())
        else:
            answer = session.ask(text, fresh_devices(space, state), area=area, rules=rules)
    finally:
        session.close()
    added = more(answer) if more is not None else {}
    if as_json:
        _write_json({**answer.as_contract(), **added}, sys.stdout.buffer)
    else:
        show(answer, out)
        where = "sent through the hub" if live is not None else SIMULATED
        out.print(
            f"[dim]{answer.engine}, {answer.ms:.1f} ms — {where}"
            + ("; confirm in `hyperhub chat`" if answer.needs_confirmation else "")
            + "[/]"
        )
    return answer


def check_area(space: Space, area: str | None) -> str | None:
    """The area's id for `--area` given as an id, a name or an alias ("Kitchen", 厨房)."""
    return None if area is None else space.find_area(area).id


def show(answer: Answer, out: Console) -> None:
    """An answer for people: the reply, then what changed."""
    style = "yellow" if answer.needs_confirmation else ("green" if answer.changes else "")
    reply = escape(answer.reply)
    out.print(f"[{style}]{reply}[/]" if style else reply, highlight=False)
    if answer.rule is not None and answer.needs_confirmation:
        from hyperhub.automation.loader import dump_rule
        from hyperhub.automation.model import Rule

        text = dump_rule(Rule.model_validate(answer.rule)).rstrip("\n")
        out.print(escape(_indent(text, "  ")), style="dim", highlight=False)
    for device, props in answer.changes.items():
        for prop, value in props.items():
            shown = (
                json.dumps(value, ensure_ascii=False) if isinstance(value, bool | str) else value
            )
            out.print(
                f"  [dim]{escape(device)}.{escape(prop)} →[/] {escape(str(shown))}", highlight=False
            )


# -- chat ------------------------------------------------------------------------------------


def run_chat(
    space: Space,
    state: dict[str, dict[str, Any]] | None,
    area: str | None,
    opts: EngineOptions,
    *,
    as_json: bool,
    out: Console,
    warn: Warn,
    stdin: IO[bytes] | None = None,
    live: LiveHub | None = None,
) -> int:
    """A conversation until EOF or an exit word, on the running hub's devices (`live`) or
    on one simulated state; returns the turns."""
    area = check_area(space, area)
    session = Session(space, opts, warn)
    conversation = Conversation()
    rules = FileRuleSaver(space)
    src = stdin if stdin is not None else sys.stdin.buffer
    interactive = stdin is None and sys.stdin.isatty() and not as_json
    if interactive:
        where = f" in {space.areas[area].name}" if area else ""
        mode = "acting on the running hub" if live is not None else "simulated"
        out.print(
            f"[bold]HyperHub assistant[/] — space {escape(space.name)!r}{escape(where)}, "
            f"{mode}. Type exit to leave."
        )
    lines = _chat_lines(src, interactive, out)
    turns = 0

    def told(answer: Answer) -> None:
        if as_json:
            _write_json(answer.as_contract(), sys.stdout.buffer)
        else:
            show(answer, out)

    def wanted(line: str) -> bool | None:
        """None: the person said goodbye; False: nothing to answer; True: answer it."""
        if line.strip().casefold() in EXIT_WORDS:
            return None
        return bool(line.strip()) or as_json

    async def on_hub(live: LiveHub) -> int:
        count = 0
        async with live.devices(space, "chat:cli") as devices:
            while (line := await asyncio.to_thread(next, lines, None)) is not None:
                if (go := wanted(line)) is None:
                    break
                if go:
                    try:
                        answer = await session.aask(
                            line, devices, area=area, conversation=conversation, rules=rules
                        )
                    except HyperHubError as exc:
                        answer = failed(line, exc)
                    count += 1
                    told(answer)
        return count

    try:
        if live is not None:
            return asyncio.run(on_hub(live))
        devices = fresh_devices(space, state)
        for line in lines:
            if (go := wanted(line)) is None:
                break
            if go:
                try:
                    answer = session.ask(
                        line, devices, area=area, conversation=conversation, rules=rules
                    )
                except HyperHubError as exc:
                    answer = failed(line, exc)
                turns += 1
                told(answer)
    finally:
        session.close()
    return turns


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _chat_lines(src: IO[bytes], interactive: bool, out: Console) -> Iterator[str]:
    if not interactive:
        yield from read_lines(src)
        return
    while True:
        try:
            yield out.input("[bold cyan]›[/] ")
        except EOFError:
            out.print()
            return


# -- bench assistant -------------------------------------------------------------------------


def bench_assistant(
    *,
    eval_dir: Path | None,
    space: Path | None,
    cases: Path | None,
    model: Path | None,
    no_llm: bool,
    as_json: bool,
    record_to: Path | None,
    adapter: str | None = None,
    heldout: bool = False,
) -> None:
    """Score the matcher, the LLM and the pipeline with the shared score.py; print, record."""
    from hyperhub.cli.bench import _show, bench_module

    console = Console(stderr=as_json)
    assistant_bench = bench_module("assistant_bench")
    with console.status("assistant benchmark") as status:
        figures = assistant_bench.run_assistant_bench(
            eval_dir=eval_dir,
            space=space,
            cases=cases,
            model=model,
            adapter=adapter,
            llm=not no_llm,
            heldout=heldout,
            on_phase=lambda name: status.update(f"assistant benchmark: {name}"),
        )
    tables = assistant_bench.results_tables(figures)
    _show(console, tables, figures, as_json, record_to, "Assistant (`hyperhub bench assistant`)")
