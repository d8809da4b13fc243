"""Whether a command may run, and whether it needs a yes first: the one place that decides.

Every path that carries out or plans a command asks here — the local hub
(`local.LocalSpace`), the fabric's hub side (`fabric.commands.check_command`), the API's
device specs, the assistant's executor and rule builder, the automation loader (a rule's
or scene's `risky` list) and the training generator. What is risky is the spec's data: a
property's or an action's `risky` rule (`spec.model.RiskRule`: `values`, `above`,
`classes`, `why`). Who may say yes (the `control:risky` scope) is the API's
(`api.security.may_confirm`).

    policy.check_command(target, Command("front_door_lock", action="unlock"), confirm=False)
    → NeedsConfirmation("Unlock Front Door Lock needs confirmation: anyone could walk in
      (front_door_lock.unlock)")
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from hyperhub.errors import NeedsConfirmation, SpecError
from hyperhub.spec import words
from hyperhub.spec.model import DeviceType, RiskRule, label
from hyperhub.spec.words import lang_of, name_in

__all__ = [
    "Command",
    "Target",
    "check",
    "check_command",
    "is_risky",
    "jsonable",
    "may_be_risky",
    "needs_confirmation",
    "risk",
]

_NO_VALUE = object()  # an action: its risk does not depend on a value


@dataclass(frozen=True)
class Command:
    """A write (`property`, `value`) or an action (`action`, `args`) for one device."""

    device: str
    property: str | None = None
    value: Any = None
    action: str | None = None
    args: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.property is None) == (self.action is None):
            raise ValueError("a command has either a property (and value) or an action")

    def what(self) -> dict[str, Any]:
        """What was asked, as the audit log records it."""
        if self.action is None:
            return {"property": self.property, "value": jsonable(self.value)}
        return {"action": self.action, "args": jsonable(self.args or {})}

    def summary(self) -> str:
        if self.action is None:
            return f"set {self.property}={self.value!r}"
        return f"call {self.action}"


@dataclass(frozen=True)
class Target:
    """What the policy knows of a device: its id, type and class; its name and aliases for
    the refusal; `exposes`, the properties it has (None: every one of its type's)."""

    id: str
    dtype: DeviceType
    cls: str | None = None
    name: str = ""
    aliases: Sequence[str] = ()
    exposes: Collection[str] | None = None


def _applies(rule: RiskRule | None, cls: str | None, value: Any = _NO_VALUE) -> bool:
    """Whether `rule` makes a write of `value` (an action: no value) risky on a device of
    class `cls`. A rule without `values` / `above` applies to every value."""
    if rule is None or (rule.classes is not None and cls not in rule.classes):
        return False
    if value is _NO_VALUE:
        return True
    if rule.values is not None and not any(
        value == v and type(value) is type(v) for v in rule.values
    ):
        return False
    if rule.above is None:
        return True
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and value > rule.above


def risk(dtype: DeviceType, cls: str | None, cmd: Command) -> RiskRule | None:
    """The rule that makes `cmd` risky on a device of this type and class; None when it is
    not (or names nothing the type has: checking it is `check`'s job)."""
    if cmd.action is not None:
        action = dtype.actions.get(cmd.action)
        rule = None if action is None else action.risky
        return rule if _applies(rule, cls) else None
    prop = dtype.properties.get(cmd.property or "")
    rule = None if prop is None else prop.risky
    return rule if _applies(rule, cls, cmd.value) else None


def is_risky(dtype: DeviceType, cls: str | None, cmd: Command) -> bool:
    """Whether `cmd` needs a yes before it runs on a device of this type and class."""
    return risk(dtype, cls, cmd) is not None


def may_be_risky(dtype: DeviceType, cls: str | None, prop: str) -> bool:
    """Whether some write of `prop` is risky on a device of this class: a value not known
    yet (a template) counts as risky, and a dashboard marks the property."""
    spec = dtype.properties.get(prop)
    return spec is not None and _applies(spec.risky, cls)


def check(target: Target, cmd: Command) -> Command:
    """`cmd` with its value or arguments checked against the spec and normalised; raises
    `SpecError` (an unknown property or action, one the device does not expose) or
    `ValueNotAllowed`."""
    device, dtype = target.id, target.dtype
    if cmd.property is not None:
        prop = cmd.property
        if target.exposes is not None and prop not in target.exposes:
            dtype.prop(prop, device)  # an unknown name: the spec's error lists the known ones
            raise SpecError(
                f"device {device} ({dtype.type}) does not expose {prop!r}; "
                f"it has: {', '.join(sorted(target.exposes))}"
            )
        value = dtype.check_write(prop, cmd.value, device)
        return Command(cmd.device, property=prop, value=value)
    assert cmd.action is not None
    args = dtype.check_args(cmd.action, cmd.args or {}, device)
    return Command(cmd.device, action=cmd.action, args=args)


def check_command(target: Target, cmd: Command, confirm: bool) -> Command:
    """`cmd` checked (`check`), and refused with `NeedsConfirmation` when it is risky and
    not confirmed: what every path that carries out a command calls before it does."""
    checked = check(target, cmd)
    if not confirm and is_risky(target.dtype, target.cls, checked):
        raise needs_confirmation(target, checked)
    return checked


def needs_confirmation(target: Target, cmd: Command) -> NeedsConfirmation:
    """The one refusal of a risky command sent without a yes, in words, with what could
    happen (the spec's `why`) and the command's id for scripts: "Unlock Front Door Lock
    needs confirmation: anyone could walk in (front_door_lock.unlock)"; in Chinese
    "解锁前门需要确认：任何人都能走进来（front_door_lock.unlock）"."""
    dtype, device = target.dtype, target.id
    rule = risk(dtype, target.cls, cmd)
    ref = cmd.action if cmd.action is not None else cmd.property
    why = rule.why if rule is not None and rule.why else "it is a risky action"
    name = target.name or device

    def said(lang: str) -> str:
        if lang_of(lang) == "zh":
            what = _risky_what("zh", name_in("zh", name, target.aliases), dtype, cmd)
            return f"{what}需要确认：{words.risk_why('zh', why)}（{device}.{ref}）"
        what = _risky_what("en", name, dtype, cmd)
        return f"{what[:1].upper()}{what[1:]} needs confirmation: {why} ({device}.{ref})"

    return NeedsConfirmation(said("en"), said)


# a risky command in words, per language: an action (locking too), opening or closing a
# part, setting a property
_RISKY_SAID = {
    "en": ("{verb} {name}", "{verb} {name}'s {part}", "set {name}'s {prop} to {value}"),
    "zh": ("{verb}{name}", "{verb}{name}的{part}", "把{name}的{prop}设为{value}"),
}


def _risky_what(lang: str, name: str, dtype: DeviceType, cmd: Command) -> str:
    """What a risky command would do, in `lang` ("en" or "zh"): "unlock Front Door Lock",
    "open Garage's door", "set Garage's position to 100 %"; "解锁前门", "把车库门的开合度设为
    100 %"."""
    zh = lang == "zh"
    do, open_close, set_to = _RISKY_SAID[lang]
    prop, value = cmd.property or "", cmd.value
    flag = isinstance(value, bool)

    def verb(action: str) -> str:
        return words.action_label("zh", action) if zh else label(action)

    if cmd.action is not None or (prop == "locked" and flag):
        action = cmd.action if cmd.action is not None else ("lock" if value else "unlock")
        return do.format(verb=verb(action), name=name)
    if prop.endswith("_open") and flag:
        part = words.label("zh", prop) if zh else label(prop[:-5])
        return open_close.format(verb=verb("open" if value else "close"), name=name, part=part)
    if flag and not zh:
        shown = "yes" if value else "no"
    else:
        shown = dtype.properties[prop].text(value, prop, lang)
    if zh and shown[:1].isascii():
        shown = f" {shown}"  # "设为 100 %", "设为制热"
    said = words.label("zh", prop) if zh else label(prop)
    return set_to.format(name=name, prop=said, value=shown)


def jsonable(value: Any) -> Any:
    """A value made JSON-safe for the audit log (anything unknown becomes its repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)
