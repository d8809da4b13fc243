"""The vocabulary (spec/words): every name of the built-in types in both languages, one
entry per name with every facet in both languages, the fallbacks, and the language of a
browser tag or a terminal."""

from __future__ import annotations

import pytest

from hyperhub.spec import builtin_types
from hyperhub.spec.words import (
    ENTRY_SECTIONS,
    LANGS,
    action_label,
    display,
    entries,
    env_lang,
    error_text,
    event_text,
    label,
    lang_of,
    noun,
    state_word,
    type_label,
    unit_word,
    value_word,
    vocabulary,
)


def _names() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {
        k: set() for k in ("properties", "values", "actions", "events", "types")
    }
    for type_ in builtin_types():
        found["types"].add(type_.type)
        for name, prop in type_.properties.items():
            found["properties"].add(name)
            found["values"].update(prop.values or ())
        found["actions"].update(type_.actions)
        found["events"].update(type_.events)
    return found


@pytest.mark.parametrize("lang", LANGS)
def test_every_name_of_the_built_in_types_has_words_in_each_language(lang):
    words = display(lang)
    missing = {
        section: sorted(names - set(words.get(section) or {}))
        for section, names in _names().items()
    }
    assert not any(missing.values()), f"{lang}: no words for {missing}"


def _error_codes() -> set[str]:
    """Every error code the hub answers with: its named errors' (each class's `code`), and
    the codes the API and the sign-in write out (`ApiError(status, "code", …)`,
    `AuthError(message, "code")`, `_plain_error(send, status, "code", …)`), found in their
    source."""
    import ast
    from pathlib import Path

    import hyperhub
    from hyperhub.api.errors import HTTP_CODES
    from hyperhub.errors import HyperHubError

    codes, todo = set(HTTP_CODES.values()), [HyperHubError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    root = Path(hyperhub.__file__).parent
    for path in [*root.glob("api/**/*.py"), *root.glob("auth/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            at = {"ApiError": 1, "AuthError": 1, "_plain_error": 2}.get(node.func.id)
            arg = node.args[at] if at is not None and len(node.args) > at else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                codes.add(arg.value)
    codes |= {"bad_json", "internal", "network"}  # error_response's and the dashboard's own
    assert {"missing_scope", "bad_host", "bad_credentials"} <= codes  # the scan works
    return codes


def test_every_error_code_says_why_in_chinese():
    reasons = vocabulary("zh")["errors"]
    assert sorted(_error_codes() - set(reasons)) == []
    assert error_text("zh", "device_unavailable", "device lamp is offline") == (
        "设备离线（device lamp is offline）"
    )
    assert error_text("en", "device_unavailable", "device lamp is offline") == (
        "device lamp is offline"
    )
    assert error_text("zh", "no_such_code", "odd") == "odd"  # no reason: the message alone


def test_the_names_read_as_people_say_them():
    assert label("en", "target_temp") == "Target temperature"
    assert label("en", "target_temp", short=True) == "Target"
    assert label("en", "brightness", short=True) == "Brightness"  # no short form: the label
    assert noun("en", "target_temp") == "target temperature"
    assert noun("en", "pm25") == "PM2.5"  # not "pM2.5"
    assert label("zh", "target_temp") == "目标温度" and noun("zh", "target_temp") == "目标温度"
    assert state_word("en", "locked", False) == "Unlocked"
    assert state_word("zh", "locked", True) == "已上锁"
    assert state_word("en", "oscillate", True) == "On"
    assert value_word("zh", "cool") == "制冷"
    assert action_label("zh", "flash_lights") == "闪灯"
    assert event_text("en", "charge_complete") == "finished charging"
    assert type_label("zh", "robot_dog") == "机器狗"
    assert unit_word("zh", "bpm") == "次/分" and unit_word("zh", "°C") == "°C"


def test_a_name_nobody_wrote_down_reads_as_its_id_in_words():
    assert label("zh", "filter_life_pct") == "Filter life pct"
    assert value_word("en", "turbo_boost") == "Turbo boost"
    assert action_label("en", "self_clean") == "Self clean"
    assert event_text("en", "filter_worn") == "filter worn"
    assert state_word("en", "child_lock", True) == "On"  # the default pair


@pytest.mark.parametrize(
    ("tag", "lang"),
    [("zh-CN", "zh"), ("zh_TW.UTF-8", "zh"), ("ZH", "zh"), ("en-GB", "en"), ("fr", "en"),
     ("", "en"), (None, "en")],
)  # fmt: skip
def test_a_language_tag_is_chinese_or_english(tag, lang):
    assert lang_of(tag) == lang


def test_a_terminal_language_follows_posix_order():
    assert env_lang({}) == "en"
    assert env_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert env_lang({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}) == "en"  # LC_ALL wins
    assert env_lang({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh"
    assert env_lang({"HYPERHUB_LANG": "zh", "LC_ALL": "en_US.UTF-8"}) == "zh"


# facets that are words or templates in a language (label and short are checked above)
_SAID = ("hear", "prompt", "prompt_true", "prompt_false", "prompt_ask", "prompt_group", "say")
_PLACEHOLDERS = {"{r}", "{p}", "{a}", "{m}", "{n}", "{v}"}


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)


@pytest.mark.parametrize("section", ENTRY_SECTIONS)
def test_each_name_is_one_entry_with_the_same_facets_in_both_languages(section):
    """A name the assistant hears, prompts or trains on in one language has the same facet in
    the other: a new property is one entry per language, and none is half-done."""
    en, zh = entries("en", section), entries("zh", section)
    assert set(zh) <= set(en), f"Chinese-only {section}: {sorted(set(zh) - set(en))}"
    uneven = {
        name: sorted(set(en[name]) ^ set(zh.get(name, {})))
        for name in en
        if (set(en[name]) ^ set(zh.get(name, {}))) - {"label", "short", "prompt"}
    }
    assert not uneven, f"{section}: facets in one language only: {uneven}"


@pytest.mark.parametrize("lang", LANGS)
def test_templates_use_only_known_placeholders_and_say_something(lang):
    import re

    for section in ENTRY_SECTIONS:
        for name, entry in entries(lang, section).items():
            for facet, value in entry.items():
                for text in _texts(value):
                    assert text.strip(), f"{lang} {section}.{name}.{facet}: an empty word"
                    unknown = set(re.findall(r"\{[^}]*\}", text)) - _PLACEHOLDERS
                    assert not unknown, f"{lang} {section}.{name}.{facet}: {text!r}"


def test_the_dashboard_gets_names_not_the_assistants_words():
    shown = display("en")
    assert shown["values"]["cool"] == "Cool"
    assert shown["actions"]["flash_lights"] == "Flash lights"
    assert shown["types"]["robot_dog"] == "Robot dog"
    assert shown["properties"]["on"] == {"label": "Power"}
    said = {f for e in entries("en", "properties").values() for f in e}
    assert {"hear", "say", "make_true", "prompt"} <= said  # the file has them …
    assert "classes" not in shown  # … and the API does not carry them
    assert not any(set(e) - {"label", "short"} for e in shown["properties"].values())


def test_the_matcher_hears_the_vocabularys_words():
    from hyperhub.assistant.lexicon import lexicon, package_data

    assert lexicon("en")["properties"]["pm25"] == entries("en", "properties")["pm25"]["hear"]
    assert lexicon("zh")["classes"]["curtain"] == entries("zh", "classes")["curtain"]["hear"]
    for lang in LANGS:  # the lexicon files keep the grammar only
        own = package_data("hyperhub.assistant.lexicon", f"{lang}.yaml")
        assert not set(own) & set(ENTRY_SECTIONS), lang
