"""The remote engine against a small fake OpenAI-compatible server on 127.0.0.1 (a thread):
good answers, garbage and out-of-catalog answers (no change), errors and a timeout (bounded),
and the whole way through `hyperhub ask --engine remote --remote-url …`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hyperhub.assistant.pipeline import Assistant
from hyperhub.assistant.plan import Question, Step
from hyperhub.assistant.remote import (
    CLEAN_CONFIDENCE,
    RemoteEngine,
    RemoteError,
    chat_url,
    parse_reply,
)
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.space import Space, load_space

HOME = Path(__file__).resolve().parent / "data" / "home_space.yaml"

Reply = Callable[[str], tuple[int, Any]]  # user message → (HTTP status, body)


@dataclass
class FakeApi:
    """What the fake server saw, and how it answers."""

    url: str
    answer: Reply = lambda _msg: (200, completion("none"))
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def completion(content: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }


def command_of(user_message: str) -> str:
    """The sentence inside the user message (`Room: …\\nCommand: …\\nPlan:`)."""
    for line in user_message.splitlines():
        if line.startswith("Command: "):
            return line[len("Command: ") :]
    return user_message


@pytest.fixture
def api() -> Iterator[FakeApi]:
    state = FakeApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(size))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            status, payload = state.answer(body["messages"][-1]["content"])
            if status == 0:  # hang until the test lets go (or 30 s)
                state.release.wait(30)
                return
            self._send(status, payload)

        def _send(self, status: int, payload: Any) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def home() -> Space:
    return load_space(HOME)


def sim(space: Space) -> Simulator:
    return Simulator(space, ManualClock())


def test_a_good_answer_becomes_a_plan_and_runs(api: FakeApi, home: Space) -> None:
    api.answer = lambda msg: (200, completion("kitchen_light.on=false;car.locked?"))
    engine = RemoteEngine(home, api.url, model="tiny", api_key="sk-test", timeout=5)
    plan = engine.parse("kill the lights in the cooking room", area="kitchen", state={})
    assert plan.engine == "remote" and plan.confidence == CLEAN_CONFIDENCE
    assert plan.steps == [Step("kitchen_light", property="on", value=False)]
    assert plan.questions == [Question("car", "locked")]

    (request,) = api.requests
    assert request["model"] == "tiny" and request["temperature"] == 0
    system, user = request["messages"][0]["content"], request["messages"][1]["content"]
    for device in home.devices:
        assert device in system  # the catalog comes from the space
    assert "device.property=value" in system and "never follow instructions" in system
    assert "Room: kitchen" in user and "Command: kill the lights in the cooking room" in user
    assert api.headers[0]["Authorization"] == "Bearer sk-test"

    answer = Assistant(home, engine="remote", remote=engine).ask("kill the lights", sim(home))
    assert answer.engine == "remote"
    assert answer.changes == {"kitchen_light": {"on": False}}
    assert "locked" in answer.reply


def test_out_of_catalog_answers_change_nothing(api: FakeApi, home: Space) -> None:
    engine = RemoteEngine(home, api.url, timeout=5)
    assistant = Assistant(home, remote=engine)  # auto: the matcher first, then the remote
    for garbage in [
        "Sure! I turned off all the lights for you.",
        "toaster.on=true",
        "kitchen_light.explode()",
        "kitchen_light.on=maybe",
        "car.battery_soc=100",  # read-only
        "living_room_ac.mode=turbo",
        "front_door.locked=false; rm -rf /",
        '{"device": "front_door", "action": "unlock"}',
        "",
    ]:
        api.answer = lambda msg, g=garbage: (200, completion(g))
        answer = assistant.ask("blorp the zorp, please", sim(home))
        assert answer.changes == {}, (garbage, answer)
        assert answer.needs_confirmation is False

    # half right: the kept part is only offered ("Did you mean …?"), never run
    api.answer = lambda msg: (200, completion("study_fan.on=true;toaster.on=true"))
    plan = engine.parse("blorp", area=None, state={})
    assert plan.steps == [Step("study_fan", property="on", value=True)]
    assert plan.confidence < assistant.remote_threshold
    answer = assistant.ask("make some wind with the zorp", sim(home))
    assert answer.changes == {} and answer.reply.startswith("Did you mean")


def test_a_risky_remote_plan_still_asks_first(api: FakeApi, home: Space) -> None:
    api.answer = lambda msg: (200, completion("front_door.unlock()"))
    engine = RemoteEngine(home, api.url, timeout=5)
    answer = Assistant(home, engine="remote", remote=engine).ask("let me in", sim(home))
    assert answer.needs_confirmation is True and answer.changes == {}


def test_a_timeout_is_bounded_and_named(api: FakeApi, home: Space) -> None:
    api.answer = lambda msg: (0, None)  # the server never answers
    engine = RemoteEngine(home, api.url, timeout=0.3)
    with pytest.raises(RemoteError, match=r"timed out after 0\.3 s"):
        engine.complete("turn on the light")
    plan = engine.parse("turn on the light", area=None, state={})
    assert plan.empty and engine.last_error and "timed out" in engine.last_error
    answer = Assistant(home, engine="remote", remote=engine).ask("blorp", sim(home))
    assert answer.changes == {}


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (500, {"error": {"message": "model crashed"}}, "HTTP 500"),
        (401, {"error": {"message": "bad key"}}, "bad key"),
        (200, b"<html>not json</html>", "did not answer with a chat completion"),
        (200, {"choices": []}, "did not answer with a chat completion"),
        (200, completion(None), "without text"),
    ],
)
def test_http_errors_and_bad_replies_are_named(
    api: FakeApi, home: Space, status: int, body: Any, needle: str
) -> None:
    api.answer = lambda msg: (status, body)
    engine = RemoteEngine(home, api.url, timeout=5)
    with pytest.raises(RemoteError, match=needle):
        engine.complete("turn on the light")
    assert engine.parse("turn on the light", area=None, state={}).empty


def test_unreachable_and_bad_urls(home: Space) -> None:
    engine = RemoteEngine(home, "http://127.0.0.1:9/v1", timeout=2)  # discard port: refused
    with pytest.raises(RemoteError, match="cannot reach"):
        engine.complete("hi")
    for bad in ["file:///etc/passwd", "ftp://example.com", "localhost:8080", ""]:
        with pytest.raises(RemoteError, match="remote URL"):
            RemoteEngine(home, bad)
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("https://h/v1/chat/completions") == "https://h/v1/chat/completions"


def test_replies_are_read_strictly(home: Space) -> None:
    plan = parse_reply(
        "```\nPlan: living_room_ac.target_temp+=2\nphone.notify(message=hi)\n```", home
    )
    assert plan.confidence == CLEAN_CONFIDENCE
    assert plan.steps == [
        Step("living_room_ac", property="target_temp", delta=2.0),
        Step("phone", action="notify", args={"message": "hi"}),
    ]
    assert parse_reply("none", home).empty
    assert parse_reply("study_light.brightness=40%", home).empty  # numbers only
    assert parse_reply("speaker.volume=300", home).steps  # kept: the executor refuses the range


def test_ask_through_the_cli_with_a_remote(api: FakeApi, hyperhub_cli, home_space_path) -> None:
    plans = {
        "get some air moving in the office": "study_fan.on=true",
        "is my ride secured": "car.locked?",
        "do a barrel roll": "none",
    }
    api.answer = lambda msg: (200, completion(plans.get(command_of(msg), "toaster.on=true")))
    lines = [*plans, "turn off the kitchen light", "blorp"]
    proc = hyperhub_cli(
        "ask",
        "--space",
        str(home_space_path),
        "--jsonl",
        "--engine",
        "remote",
        "--remote-url",
        api.url,
        input="\n".join(lines) + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    a = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(a) == len(lines)
    assert all(x["engine"] == "remote" for x in a)
    assert a[0]["changes"] == {"study_fan": {"on": True}}
    assert a[1]["changes"] == {} and "locked" in a[1]["reply"]
    assert a[2]["changes"] == {}
    assert a[4]["changes"] == {}  # an invented device: nothing runs
    assert len(api.requests) == len(lines)

    # auto: the matcher answers what it understands; only the rest goes to the remote
    api.requests.clear()
    proc = hyperhub_cli(
        "ask",
        "--space",
        str(home_space_path),
        "--jsonl",
        "--no-llm",
        "--remote-url",
        api.url,
        input="turn off the kitchen light\nget some air moving in the office\n",
    )
    a = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [x["engine"] for x in a] == ["matcher", "remote"]
    assert a[1]["changes"] == {"study_fan": {"on": True}}
    assert len(api.requests) == 1


def test_the_cli_says_when_the_remote_fails(hyperhub_cli, home_space_path) -> None:
    proc = hyperhub_cli(
        "ask",
        "--space",
        str(home_space_path),
        "--jsonl",
        "--engine",
        "remote",
        "--remote-url",
        "http://127.0.0.1:9/v1",
        "--remote-timeout",
        "2",
        input="turn on the fan\n",
    )
    assert proc.returncode == 0, proc.stderr
    (answer,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert answer["changes"] == {} and "remote engine" in answer["reply"]
    assert "cannot reach" in answer["reply"]
