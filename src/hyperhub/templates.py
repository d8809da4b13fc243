"""Templates, rendered in one hardened sandbox: the rules' templated values in actions and
conditions (`"{{ state.living_room_climate_sensor.temperature + 2 }}"`, `"Car is {{
trigger.distance_km | round(1) }} km away"`), and the value and command templates other
systems send with their devices (Home Assistant's discovery: `"{{ value_json.temperature }}"`).

Jinja2's sandbox renders them (no attribute access to Python internals, no I/O). A string
that is one `{{ … }}` and nothing else gives the expression's own value (a number stays a
number); any other text renders to a string. The names are the caller's: for a rule
`state` (device → its properties), `trigger` (what fired: kind, device, property, from, to,
distance_km, …), `now` (a datetime in the space's timezone) and `distance(device,
place="home")` in km; for a device of another system `value` and `value_json`.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, Undefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from hyperhub.errors import HyperHubError

_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.S)
MAX_TEMPLATE = 2000  # characters
MAX_OUTPUT = 10_000  # characters of a rendered text, or of any string or list made on the way
MAX_STEPS = 100_000  # lines of template code one render may run (loops: ~10-50 ms here)


class TemplateFailed(HyperHubError):
    """A template does not compile, or fails when rendered (names the template)."""


class _TooMuchWork(RuntimeError):
    """Raised inside a render that ran more than `MAX_STEPS` lines of template code."""


class _BoundedNamespace(Namespace):
    """`namespace()`, whose attributes may not grow past `MAX_OUTPUT` (a loop doubling
    `ns.x ~ ns.x` 26 times built 64 MB)."""

    def __setitem__(self, name: str, value: Any) -> None:
        if isinstance(value, str | list | tuple | dict) and len(value) > MAX_OUTPUT:
            raise ValueError(f"a template may not build more than {MAX_OUTPUT} characters or items")
        super().__setitem__(name, value)


class _Strict(Undefined):
    """A missing name or key is an error that names it, not a silent empty string."""

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        raise UndefinedError(f"{self._undefined_name!r} is not defined here")

    __str__ = __iter__ = __bool__ = __len__ = _fail_with_undefined_error
    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __lt__ = __gt__ = _fail_with_undefined_error


class _Env(ImmutableSandboxedEnvironment):
    """The sandbox, with `**` and `*` bounded (`9**9**9`, `"a" * 10**9` would hang the hub)."""

    intercepted_binops = frozenset(["**", "*", "%"])

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Calls as the sandbox allows them, but no padding or width beyond `MAX_OUTPUT`
        (`"x".ljust(10**9)`, `"{:>999999999}".format(1)`, `"x" | center(10**9)`)."""
        name = getattr(__obj, "__name__", "")
        if name in _GROWING_CALLS:
            _check_growth(name, getattr(__obj, "__self__", None), args)
        if name in _WIDTH_CALLS:
            bound = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
            for value in (getattr(bound, "__self__", None), *args, *kwargs.values()):
                if _too_wide(value):
                    raise ValueError(f"a width above {MAX_OUTPUT} is not allowed in a template")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise ValueError(f"a width above {MAX_OUTPUT} is not allowed in a template")
        if operator == "**" and _huge_power(left, right):
            raise ValueError("a power that large is not allowed in a template")
        if operator == "*":
            sized = [x for x in (left, right) if isinstance(x, str | list | tuple)]
            count = [x for x in (left, right) if isinstance(x, int) and not isinstance(x, bool)]
            if sized and count and len(sized[0]) * count[0] > MAX_OUTPUT:
                raise ValueError(f"a template may not build more than {MAX_OUTPUT} items")
        return super().call_binop(context, operator, left, right)


_WIDTH_CALLS = frozenset(
    [
        "ljust",
        "rjust",
        "center",
        "zfill",
        "expandtabs",
        "format",
        "format_map",
        "do_center",
        "do_indent",
        "do_wordwrap",
        "do_format",
        "do_truncate",
    ]
)
_WIDE_FORMAT = re.compile(r"\d{6,}")  # a width or precision of 100,000 or more
_GROWING_CALLS = frozenset(["replace", "join"])


def _check_growth(name: str, self_: Any, args: tuple[Any, ...]) -> None:
    """Refuse `str.replace` / `str.join` (and the filters) whose result would be over
    `MAX_OUTPUT`, before it is built (`'x' * 9000 | replace('', 'y' * 9000)`: 81 MB)."""
    size = 0
    if name == "replace" and isinstance(self_, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = self_.count(old) if old else len(self_) + 1
        if len(args) >= 3 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        size = len(self_) + count * (len(new) - len(old))
    elif name == "join" and isinstance(self_, str) and args:
        items = args[0]
        if isinstance(items, str | list | tuple):
            size = sum(len(str(x)) for x in items[: MAX_OUTPUT + 1]) + len(self_) * len(items)
    if size > MAX_OUTPUT:
        raise ValueError(f"a template may not build more than {MAX_OUTPUT} characters")


def _too_wide(value: Any) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return abs(value) > MAX_OUTPUT
    return isinstance(value, str) and bool(_WIDE_FORMAT.search(value))


def _huge_power(base: Any, exponent: Any) -> bool:
    """Whether base ** exponent would have more than ~300 digits."""
    if not isinstance(base, int | float) or not isinstance(exponent, int | float):
        return False
    return abs(exponent) > 1000 or (abs(base) > 1 and math.log10(abs(base)) * abs(exponent) > 300)


_ENV = _Env(undefined=_Strict, autoescape=False)


def _bounded(filter_fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A width-taking filter that refuses widths above `MAX_OUTPUT` (numbers given to it;
    for `format`, the widths in its format string)."""

    @functools.wraps(filter_fn)  # keeps jinja's pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        numbers = [v for v in (*args, *kwargs.values()) if not isinstance(v, str)]
        wide = any(_too_wide(v) for v in numbers)
        if name == "format" and args and isinstance(args[0], str):
            wide = wide or _too_wide(args[0])
        if wide:
            raise ValueError(f"a width above {MAX_OUTPUT} is not allowed in a template")
        return filter_fn(*args, **kwargs)

    return bounded


for _name in ("center", "indent", "wordwrap", "format", "truncate"):
    _ENV.filters[_name] = _bounded(_ENV.filters[_name], _name)


def _growth_bounded(filter_fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The `replace` and `join` filters, refused before they build too much."""

    @functools.wraps(filter_fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        rest = [a for a in args if not hasattr(a, "autoescape")]  # the eval context
        if name == "replace" and len(rest) >= 3:
            _check_growth("replace", str(rest[0]), tuple(rest[1:]))
        elif name == "join" and rest:
            items = list(rest[0]) if not isinstance(rest[0], str) else rest[0]
            sep = rest[1] if len(rest) > 1 else kwargs.get("d", "")
            _check_growth("join", str(sep), (items,))
        return filter_fn(*args, **kwargs)

    return bounded


for _name in ("replace", "join"):
    _ENV.filters[_name] = _growth_bounded(_ENV.filters[_name], _name)
_ENV.globals["namespace"] = _BoundedNamespace


def is_template(value: Any) -> bool:
    """Whether a value is a template (a string with `{{` or `{%`)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def has_templates(value: Any) -> bool:
    """Whether a value or anything inside it (dict values, list items) is a template."""
    if isinstance(value, dict):
        return any(has_templates(v) for v in value.values())
    if isinstance(value, list):
        return any(has_templates(v) for v in value)
    return is_template(value)


def check(text: str) -> str | None:
    """Why `text` is not a valid template, or None when it compiles."""
    if len(text) > MAX_TEMPLATE:
        return f"a template is at most {MAX_TEMPLATE} characters"
    try:
        _compile(text)
    except TemplateError as exc:
        return f"template {text!r} does not compile: {exc.message or exc}"
    return None


@lru_cache(maxsize=4096)
def _compile(text: str) -> Callable[[Mapping[str, Any]], Any]:
    match = _ONE_EXPRESSION.match(text)
    if match is not None:
        expr = _ENV.compile_expression(match["expr"], undefined_to_none=False)
        return lambda names: expr(**names)
    template = _ENV.from_string(text)
    return lambda names: template.render(**names)


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """`value` with every template in it rendered (dicts and lists walked); others as they are.

    Raises `TemplateFailed` naming the template and what went wrong.
    """
    if isinstance(value, dict):
        return {k: render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, names) for v in value]
    if not is_template(value):
        return value
    if len(value) > MAX_TEMPLATE:  # compiling alone could stall the loop
        raise TemplateFailed(f"a template is at most {MAX_TEMPLATE} characters")
    try:
        out = _bounded_run(_compile(value), names)
    except _TooMuchWork:
        raise TemplateFailed(
            f"template {value!r} does too much work (over {MAX_STEPS:,} steps)"
        ) from None
    except TemplateError as exc:
        raise TemplateFailed(f"template {value!r}: {exc.message or exc}") from None
    except RecursionError:
        raise TemplateFailed(f"template {value!r} nests too deep") from None
    except Exception as exc:  # whatever a template does wrong, it is the template's failure
        raise TemplateFailed(f"template {value!r}: {exc}") from None
    if isinstance(out, Undefined):
        name = getattr(out, "_undefined_name", None)
        why = f"{name!r} is not defined here" if name else "it gives nothing"
        raise TemplateFailed(f"template {value!r}: {why}")
    if isinstance(out, str) and len(out) > MAX_OUTPUT:
        raise TemplateFailed(f"template {value!r} gives more than {MAX_OUTPUT} characters")
    return out


def _bounded_run(fn: Callable[[Mapping[str, Any]], Any], names: Mapping[str, Any]) -> Any:
    """`fn(names)`, stopped after `MAX_STEPS` lines of template code (loops in a rule file
    once ran 90 million times, stalling the hub for 4.9 s). A trace function on this thread
    counts the lines of the template's own code ("<template>" frames) only."""
    steps = 0

    def count(frame: Any, event: str, arg: Any) -> Any:
        nonlocal steps
        if event == "line":
            steps += 1
            if steps > MAX_STEPS:
                raise _TooMuchWork
        return count

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return count if frame.f_code.co_filename == "<template>" else None

    before = sys.gettrace()
    sys.settrace(calls)
    try:
        return fn(names)
    finally:
        sys.settrace(before)
