"""The dashboard in Chinese: a zh-CN browser gets it in Chinese, a switch changes it (and is
remembered), no view shows English words that are not the space's own names, and every time
is in the space's time zone, labelled, whatever the browser's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HYPERHUB_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect

DESKTOP = {"width": 1280, "height": 800}
VIEWS = ("home", "car", "human", "robot", "chat", "history", "rules", "log")
# words that are the same in Chinese: the product, units, IANA zone names, acronyms
KEPT = {"HyperHub", "API", "GMT", "UTC", "Asia", "Shanghai", "English"}

# every text node and label a person can see or hear, outside code, without the space's
# own names (device, area, floor, rule and scene names are the user's words)
VISIBLE_TEXT = """() => {
  const out = [];
  const shown = (el) => el && el.offsetParent !== null && !el.closest('code, pre, [translate=no]');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.textContent.trim() && shown(n.parentElement)) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
    if (!shown(el) && !el.closest('#tabs')) continue;
    for (const a of ['aria-label', 'title', 'placeholder']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  return out;
}"""


def _names(hub) -> list[str]:
    names: set[str] = set()
    for dev in hub.api("GET", "devices")[1]:
        names.update([dev["name"], *dev.get("aliases", [])])
        # what a device reports as text (a radio station's name) is its own
        names.update(
            v
            for v in (dev.get("state") or {}).values()
            if isinstance(v, str) and not re.fullmatch(r"[a-z_]+", v)  # not an enum value
        )
    space = hub.api("GET", "space")[1]
    names.add(space["name"])
    for area in space["areas"]:
        names.update([area["name"], *(area.get("aliases") or []), area.get("floor") or ""])
    for key in ("rules", "scenes"):
        for item in hub.api("GET", key)[1]:
            names.update(
                [item.get("name") or "", item.get("id") or "", item.get("description") or ""]
            )
    names.add("web-tests")  # the test token's name, shown as the user
    return sorted((n for n in names if n), key=len, reverse=True)


def english_left(texts: list[str], names: list[str]) -> list[str]:
    """The texts that still hold an English word once names, quotes and kept words are out."""
    left = []
    for text in texts:
        rest = re.sub(r"“[^”]*”|\"[^\"]*\"", " ", text)  # quoted user text (a notify message)
        for name in names:
            rest = rest.replace(name, " ")
        words = [w for w in re.findall(r"[A-Za-z]{3,}", rest) if w not in KEPT]
        if words:
            left.append(f"{text!r} ({', '.join(words)})")
    return left


@pytest.fixture
def zh_page(browser, hub):
    """A signed-in page of a browser that prefers Chinese, in New York (not the space's zone)."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="America/New_York")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.goto(hub.url)
    # the sign-in card is in Chinese before anyone signs in
    page.get_by_text("使用 API 令牌").click()
    page.get_by_role("textbox", name="API 令牌").fill(hub.token)
    page.get_by_role("button", name="使用令牌").click()
    expect(page.locator("#live")).to_have_text("已连接")
    yield page
    context.close()
    assert not problems, "\n".join(problems)


def test_a_chinese_browser_gets_every_view_in_chinese(zh_page, hub):
    page = zh_page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(
        page.get_by_role("navigation", name="视图").get_by_role("link", name="规则")
    ).to_be_visible()
    names = _names(hub)
    for view in VIEWS:
        page.goto(f"{hub.url}#{view}")
        expect(page.locator("main")).not_to_be_empty()
        page.wait_for_timeout(300)  # views that load over the API draw a moment later
        left = english_left(page.evaluate(VISIBLE_TEXT), names)
        assert not left, f"English on the {view} view in Chinese: {left[:12]}"


def test_times_are_in_the_spaces_zone_and_say_so(zh_page, hub):
    """The browser is in New York; the demo space is in Shanghai: a time is Shanghai's."""
    page = zh_page
    shown = page.evaluate("import('./js/dom.js').then((m) => [m.fmtTime(0), m.zoneLabel()])")
    assert shown[0] == "1月1日 08:00:00"  # 1970-01-01 00:00 UTC is 08:00 in Shanghai
    assert "Asia/Shanghai" in shown[1]
    page.goto(f"{hub.url}#log")
    expect(page.locator("main")).to_contain_text("Asia/Shanghai")


def test_the_language_switch_is_remembered_by_every_tab(page, hub):
    # a token of its own: signing out revokes it
    token = hub.cli("token", "create", "--scopes", "read", "--name", "lang-tabs").strip()
    page.goto(hub.url)  # an English browser
    page.get_by_text("Use an API token").click()
    page.get_by_role("textbox", name="API token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#live")).to_have_text("Live")
    page.get_by_role("button", name="Language: 中文").click()
    expect(page.get_by_role("link", name="规则")).to_be_visible()
    expect(page.locator("#live")).to_have_text("已连接")  # still signed in after the reload
    other = page.context.new_page()  # a new tab: signed in, and in Chinese
    other.goto(hub.url)
    expect(other.get_by_role("link", name="规则")).to_be_visible()
    expect(other.locator("#live")).to_have_text("已连接")
    other.get_by_role("button", name="语言：English").click()
    expect(other.get_by_role("link", name="Rules")).to_be_visible()
    # signing out in one tab signs out the other
    other.get_by_role("button", name="Log out").click()
    expect(page.locator("#login")).to_be_visible()
    other.close()


def test_a_risky_command_is_asked_about_in_chinese(zh_page, hub):
    """The confirmation's text is the hub's refusal, in the page's language; the lock is
    called what the hub's sentences call it ("前门", its Chinese alias), not "Front Door Lock"."""
    page = zh_page
    page.goto(f"{hub.url}#home")
    tile = page.get_by_role("article", name="前门", exact=True)
    tile.get_by_role("button", name="解锁前门").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("前门：解锁？")  # the dashboard's own title, its name in Chinese
    expect(dialog).to_contain_text("需要确认：任何人都能走进来")  # the hub's words, in Chinese
    dialog.get_by_role("button", name="取消").click()
    expect(dialog).to_be_hidden()
    assert hub.state("front_door_lock")["locked"] is True


def test_a_refusal_says_why_in_chinese_with_the_details_folded(zh_page, hub):
    """The log matched the hub's English messages to guess a Chinese reason; now the audit
    row carries the error's code, and the API says the reason in the page's language."""
    page = zh_page
    status, _ = hub.api(
        "POST", "devices/study_desk_lamp/set", {"property": "brightness", "value": 900}
    )
    assert status == 422
    hub.api("POST", "devices/study_desk_lamp/set", {"property": "brightness", "value": 40})
    said = page.evaluate(
        "import('./js/api.js').then((m) => m.post('devices/study_desk_lamp/set',"
        " {property: 'brightness', value: 900}).catch((e) => e.message))"
    )
    assert said.startswith("这个值不允许（study_desk_lamp.brightness: 900")
    page.goto(f"{hub.url}#log")
    table = page.get_by_role("table")
    expect(table).to_contain_text("亮度 → 40%")  # the changes, in words
    fold = table.locator("details", has_text="这个值不允许").first
    expect(fold).to_be_visible()
    expect(fold.locator("span[lang=en]")).to_be_hidden()  # the English details, folded
    fold.locator("summary").click()
    expect(fold.locator("span[lang=en]")).to_contain_text("900 is not allowed")


def test_a_rules_runs_say_what_happened_in_chinese(zh_page, hub):
    """A run's trigger ("run by api:web-tests") and its condition steps ("study_desk_lamp.on
    is False") were the engine's English; now they are the rule's sentences."""
    page = zh_page
    status, _ = hub.api("POST", "rules/steamy_bathroom/run", {"check_conditions": True})
    assert status == 200
    hub.wait_until(
        lambda: hub.api("GET", "rules/steamy_bathroom/runs?limit=1")[1], "the run is stored"
    )
    page.goto(f"{hub.url}#rules")
    rule = page.get_by_role("article", name="Steamy bathroom", exact=True)
    rule.get_by_text("运行记录", exact=True).click()
    runs = rule.get_by_role("list", name="Steamy bathroom的运行记录")
    expect(runs).to_contain_text("条件不满足")
    expect(runs).to_contain_text("由 web-tests 手动运行")
    expect(runs).to_contain_text("✗ 条件：车的车内温度低于-30 °C")
    assert "condition" not in runs.inner_text()  # no English line of the engine
    assert hub.state("bathroom_exhaust_fan")["on"] is False
