"""Templates in rules: native values, text, strict names, and the sandbox's limits."""

from __future__ import annotations

import pytest

from hyperhub.templates import TemplateFailed, check, has_templates, render

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


@pytest.mark.parametrize(
    ("template", "why"),
    [
        # 90 million loop iterations once stalled the hub's loop for 4.9 s
        (
            "{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}x",
            "too much work",
        ),
        (
            "{% for a in 'x' * 9999 %}{% for b in 'x' * 9999 %}{% endfor %}{% endfor %}x",
            "too much work",
        ),
        # doubling through a namespace built 64 MB
        (
            "{% set ns = namespace(x='a') %}{% for i in range(26) %}{% set ns.x = ns.x ~ ns.x %}"
            "{% endfor %}{{ ns.x | length }}",
            "more than 10000",
        ),
        ("{{ ('x' * 9000) | replace('', 'y' * 9000) | length }}", "more than 10000"),
        ("{{ ('x' * 9000).replace('', 'y' * 9000) | length }}", "more than 10000"),
        ("{{ (range(9000) | list) | join('z' * 9000) | length }}", "more than 10000"),
    ],
)
def test_template_work_and_size_are_bounded(template: str, why: str) -> None:
    with pytest.raises(TemplateFailed, match=why):
        render(template, {})


def test_bounded_templates_still_do_ordinary_work() -> None:
    loop = "{% set ns = namespace(t=0) %}{% for i in range(1000) %}{% set ns.t = ns.t + i %}{% endfor %}{{ ns.t }}"
    assert render(loop, {}) == "499500"  # text around the expression: a string
    assert render("{{ ['a', 'b'] | join(', ') }} {{ 'abc' | replace('b', 'x') }}", {}) == "a, b axc"
    assert render("{{ 'a-b'.replace('-', '+') }}", {}) == "a+b"
    import sys

    assert sys.gettrace() is None  # the step counter is gone after a render, failed or not
    with pytest.raises(TemplateFailed):
        render("{% for a in range(99999) %}{% for b in range(9) %}{% endfor %}{% endfor %}", {})
    assert sys.gettrace() is None
