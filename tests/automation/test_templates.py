"""Templates in rules: native values, text, strict names, and the sandbox's limits."""

from __future__ import annotations

import pytest

from hyperhub.automation.templates import TemplateFailed, check, has_templates, render

NAMES = {"state": {"sensor": {"temperature": 16.5}}, "trigger": {"distance_km": 1.2345}}


def test_one_expression_keeps_its_type_and_text_renders_to_text() -> None:
    assert render("{{ state.sensor.temperature + 2 }}", NAMES) == 18.5
    assert render("Car is {{ trigger.distance_km | round(1) }} km", NAMES) == "Car is 1.2 km"
    assert render({"a": ["{{ 1 + 1 }}", 3]}, NAMES) == {"a": [2, 3]}
    assert has_templates({"a": ["x", "{{ y }}"]}) and not has_templates({"a": "plain"})


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{{ state.sensor.nope }}", "'nope' is not defined"),
        ("{{ state.nowhere.temperature }}", "'nowhere' is not defined"),
        ("{{ ().__class__.__bases__ }}", "unsafe"),
        ("{{ 9**9**9**9 }}", "a power that large"),
        ("{{ 'a' * 100000 }}", "more than 10000 items"),
        ("{{ '%0500000000d' % 1 }}", "a width above 10000"),
        ("{{ 'x'.ljust(500000000) }}", "a width above 10000"),
        ("{{ 'x' | center(500000000) }}", "a width above 10000"),
        ("{{ '{:>500000000}'.format(1) }}", "a width above 10000"),
    ],
)
def test_bad_templates_fail_with_a_message_naming_them(template: str, why: str) -> None:
    with pytest.raises(TemplateFailed, match=why) as caught:
        render(template, NAMES)
    assert template in str(caught.value)


def test_check_names_what_does_not_compile() -> None:
    assert check("{{ 1 + 1 }}") is None
    assert "does not compile" in (check("{{ 1 + }}") or "")
    assert "at most" in (check("{{ x }}" + " " * 3000) or "")
