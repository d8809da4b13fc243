"""Assembling the HyperHub DeviceType and its MiotMapping from a parsed MIoT instance."""

from __future__ import annotations

from pathlib import Path

from hyperhub.spec.miot.checks import _effect_ok, _fits, _property_spec
from hyperhub.spec.miot.document import _Instance, _Item, _key, _load, _Prop
from hyperhub.spec.miot.fits import _extra_fit, _Fit, _words
from hyperhub.spec.miot.mapping import (
    MiotActionLink,
    MiotEventLink,
    MiotMapping,
    MiotPropertyLink,
    MiotType,
)
from hyperhub.spec.miot.names import _own_name, _snake
from hyperhub.spec.miot.rules import _ACTIONS, _BASE_OF, _MOTOR, _is_main, _rule_for, _vocabulary
from hyperhub.spec.model import (
    ActionSpec,
    ArgSpec,
    Effect,
    EventSpec,
    Process,
    PropertySpec,
    ValueSpec,
)
from hyperhub.spec.registry import builtin_types, parse_type


def load_miot_instance(doc: dict | str | Path, *, type_name: str | None = None) -> MiotType:
    """Load a MIoT-Spec instance (dict, JSON text, or a file path) as a HyperHub type + mapping."""
    inst = _load(doc)
    base = _BASE_OF.get(inst.kind) or next(
        (_BASE_OF[s] for s in inst.services if s in _BASE_OF), None
    )
    return _Builder(inst, base).build(type_name or base or _snake(inst.kind))


class _Builder:
    """Assembles properties, actions, events and the mapping from a parsed instance."""

    def __init__(self, inst: _Instance, base: str | None) -> None:
        self.inst, self.base_name = inst, base
        self.base = builtin_types().get(base) if base else None
        self.base_event_names = set(self.base.events) if self.base else set()
        self.props = {(p.siid, p.piid): p for p in inst.props if p.service != "device-information"}
        self.specs: dict[str, PropertySpec] = {}
        self.links: dict[tuple[int, int], MiotPropertyLink] = {}  # every property, own name
        self.reads: dict[tuple[int, int], MiotPropertyLink] = {}
        self.writes: dict[str, MiotPropertyLink] = {}

    def build(self, type_name: str) -> MiotType:
        done = self._canonical()
        motor = self._motor()
        if motor:
            done.add((motor.siid, motor.piid))
        self._extras(done)
        actions, action_links = self._actions(motor)
        events, event_links = self._events()
        simulation = self._simulation()
        for name, event in self._base_events(actions, simulation).items():
            events.setdefault(name, event)
        base = self.base
        data = {
            "type": type_name,
            "description": self.inst.description or (base.description if base else ""),
            "classes": base.classes if base else (),
            "properties": self.specs,
            "actions": actions,
            "events": events,
            "simulation": simulation,
        }
        dtype = parse_type(data, f"miot:{self.inst.urn}")
        mapping = MiotMapping(dtype, self.reads, self.writes, action_links, event_links)
        return MiotType(self.inst.urn, self.base_name, dtype, mapping)

    def _canonical(self) -> set[tuple[int, int]]:
        """Map vocabulary properties; return the (siid, piid) that need no extra of their own.

        When several MIoT properties map to one name (a cover's current- and target-position),
        the first readable one is read and the first writable one is written.
        """
        found: dict[str, list[tuple[_Prop, _Fit]]] = {}
        for p in self.props.values():
            if hit := _rule_for(p, self.base_name):
                found.setdefault(hit[0], []).append((p, hit[1]))
        done: set[tuple[int, int]] = set()
        for name, cands in found.items():
            reader = next((c for c in cands if c[0].readable), None)
            writer = next((c for c in cands if c[0].writable), None)
            source = reader or writer
            if source is None:
                continue
            vocab = _vocabulary(self.base_name)[name]
            spec = vocab.model_dump(exclude={"name", "vss"}, exclude_none=True)
            spec.update(source[1].spec, optional=False)
            spec["description"] = vocab.description or source[0].description
            spec["access"] = "rw" if writer and vocab.access == "rw" else "ro"
            self.specs[name] = _property_spec(name, spec)
            if reader:
                self.reads[_key(reader[0])] = self._link(reader[0], name, reader[1])
                done.add(_key(reader[0]))
            if writer and spec["access"] == "rw":
                self.writes[name] = self._link(writer[0], name, writer[1])
                if not writer[0].readable:
                    done.add(_key(writer[0]))
        return done

    def _motor(self) -> _Prop | None:
        """A cover's `motor-control` value-list, which carries its open/close/stop actions."""
        if self.base_name != "cover":
            return None
        for p in self.props.values():
            if p.name == "motor-control" and p.primary and p.choices and p.writable:
                return p if _is_main("cover", p.service) else None
        return None

    def _extras(self, done: set[tuple[int, int]]) -> None:
        """Keep every property not mapped (or consumed by an action) as the device gives it."""
        for key, p in self.props.items():
            if key in done:
                continue
            fit, spec = _extra_fit(p)
            link = self._own_link(p, fit)
            if not p.access:  # no access: only an action or event argument
                continue
            self.specs[link.name] = _property_spec(
                link.name, {**spec, "access": "rw" if p.writable else "ro"}
            )
            if p.readable:
                self.reads[key] = link
            if p.writable:
                self.writes[link.name] = link

    def _link(self, p: _Prop, name: str, fit: _Fit) -> MiotPropertyLink:
        link = MiotPropertyLink(p.siid, p.piid, name, p.urn, fit.codec)
        self.links.setdefault(_key(p), link)
        return link

    def _own_link(self, p: _Prop, fit: _Fit) -> MiotPropertyLink:
        """A link under the property's own `<service>_<property>` name, unique among names."""
        taken = {*self.specs, *(link.name for link in self.links.values())}
        return self._link(p, _own_name(p.service, p.siid, p.primary, p.name, taken), fit)

    def _args(self, item: _Item) -> tuple[tuple[ArgSpec, ...], tuple[MiotPropertyLink, ...]]:
        """An action's `in` or an event's `arguments`, as arguments named like their property."""
        args, links = [], []
        for piid in item.piids:
            p = self.props[(item.siid, piid)]
            fit, extra = _extra_fit(p)
            link = self.links.get(_key(p)) or self._own_link(p, fit)  # the motor-control list
            spec = self.specs.get(link.name) or _property_spec(link.name, extra)
            fields = spec.model_dump(include=set(ValueSpec.model_fields), exclude_none=True)
            args.append(ArgSpec(name=link.name, **fields))
            links.append(link)
        return tuple(args), tuple(links)

    def _actions(self, motor: _Prop | None) -> tuple[dict[str, ActionSpec], dict]:
        specs: dict[str, ActionSpec] = {}
        links: dict[str, MiotActionLink] = {}
        base_actions = self.base.actions if self.base else {}
        for a in self.inst.actions:
            if a.service == "device-information":
                continue
            canon = _ACTIONS.get((self.base_name or "", a.name)) or _ACTIONS.get(("*", a.name))
            if canon not in base_actions or canon in specs or not a.primary:
                canon = None
            name = canon or _own_name(a.service, a.siid, a.primary, a.name, specs)
            args, ins = self._args(a)
            base = base_actions.get(name) if canon else None
            specs[name] = ActionSpec(
                name=name,
                description=(base.description if base else "") or a.description,
                args=args,
                risky=base.risky if base else None,
                effects=self._effects(base.effects) if base else (),
            )
            links[name] = MiotActionLink(name, a.siid, aiid=a.iid, ins=ins)
        for raw, word in _words(motor):
            motor_name = _MOTOR.get(word)
            if motor and motor_name in base_actions and motor_name not in specs:
                effects = self._effects(base_actions[motor_name].effects)
                specs[motor_name] = base_actions[motor_name].model_copy(update={"effects": effects})
                links[motor_name] = MiotActionLink(
                    motor_name, motor.siid, piid=motor.piid, value=raw
                )
        for name, action in base_actions.items():  # no MIoT command: kept if effects are writes
            if (
                name not in specs
                and action.effects
                and all(_effect_ok(e, self.specs, set(), writes_only=True) for e in action.effects)
            ):
                specs[name] = action
        return specs, links

    def _effects(self, effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
        events = self.base_event_names
        return tuple(e for e in effects if _effect_ok(e, self.specs, events, writes_only=False))

    def _events(self) -> tuple[dict[str, EventSpec], dict[tuple[int, int], MiotEventLink]]:
        specs: dict[str, EventSpec] = {}
        links: dict[tuple[int, int], MiotEventLink] = {}
        for e in self.inst.events:
            if e.service == "device-information":
                continue
            name = _own_name(e.service, e.siid, e.primary, e.name, specs)
            args, arg_links = self._args(e)
            specs[name] = EventSpec(name=name, description=e.description, args=args)
            links[(e.siid, e.iid)] = MiotEventLink(name, e.siid, e.iid, arg_links)
        return specs, links

    def _simulation(self) -> tuple[Process, ...]:
        """Base simulation processes that only touch what this device has."""
        events = self.base_event_names
        out = []
        for proc in self.base.simulation if self.base else ():
            names = [proc.property, proc.source, *proc.when]
            names += [proc.target] if isinstance(proc.target, str) else []
            ok = all(n is None or n in self.specs for n in names)
            ok = ok and all(_fits(self.specs[k], v) for k, v in proc.when.items())
            ok = ok and all(
                _effect_ok(e, self.specs, events, writes_only=False) for e in proc.on_reach
            )
            if ok:
                out.append(proc)
        return tuple(out)

    def _base_events(self, actions: dict[str, ActionSpec], sim: tuple[Process, ...]) -> dict:
        """Base events that the kept actions or simulation processes emit."""
        effects = [e for a in actions.values() for e in a.effects]
        effects += [e for proc in sim for e in proc.on_reach]
        wanted = {e.event for e in effects if e.event}
        return {n: ev for n, ev in (self.base.events if self.base else {}).items() if n in wanted}
