"""Home Assistant's MQTT discovery messages, read: topics, abbreviations, `~`, device-based
configs. (The first part of issue 20; the mapping onto the vocabulary and the adapter that
runs it come next.)

A discovery message is a retained JSON config on

    <prefix>/<component>/[<node_id>/]<object_id>/config      one entity
    <prefix>/device/<object_id>/config                       a device and its `cmps` (components)

(prefix `homeassistant` by default). Keys may be abbreviated (`stat_t` for `state_topic`,
`dev` for `device`, `ids` for the device's `identifiers` …); a `~` at the start or the end
of a topic value stands for the config's `~` (its base topic). An empty retained config
removes the entity (or, device-based, the device and all its components).

The abbreviations below are the documented ones the supported components use (light,
switch, binary_sensor, sensor, cover, lock, climate, fan) and the common ones; a key not in
the table is kept as it is, so a full name always works.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

COMPONENTS = ("light", "switch", "binary_sensor", "sensor", "cover", "lock", "climate", "fan")
MAX_CONFIG = 64 * 1024  # bytes of one config (a device-based one holds many components)
_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # a node id or object id: one topic level of these

ABBREVIATIONS: dict[str, str] = {
    # availability
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available",
    "t": "topic",  # inside an `availability` list item
    "val_tpl": "value_template",
    # the entity
    "dev": "device",
    "dev_cla": "device_class",
    "ent_cat": "entity_category",
    "en": "enabled_by_default",
    "ic": "icon",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "obj_id": "object_id",
    "o": "origin",
    "opt": "optimistic",
    "ret": "retain",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "stat_cla": "state_class",
    "exp_aft": "expire_after",
    "frc_upd": "force_update",
    "sug_dsp_prc": "suggested_display_precision",
    # state and command
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "stat_t": "state_topic",
    "stat_tpl": "state_template",
    "stat_val_tpl": "state_value_template",
    "pl_on": "payload_on",
    "pl_off": "payload_off",
    "stat_on": "state_on",
    "stat_off": "state_off",
    # light
    "bri_cmd_t": "brightness_command_topic",
    "bri_cmd_tpl": "brightness_command_template",
    "bri_scl": "brightness_scale",
    "bri_stat_t": "brightness_state_topic",
    "bri_tpl": "brightness_template",
    "bri_val_tpl": "brightness_value_template",
    "clr_temp_cmd_t": "color_temp_command_topic",
    "clr_temp_cmd_tpl": "color_temp_command_template",
    "clr_temp_stat_t": "color_temp_state_topic",
    "clr_temp_tpl": "color_temp_template",
    "clr_temp_val_tpl": "color_temp_value_template",
    "clrm": "color_mode",
    "sup_clrm": "supported_color_modes",
    "cmd_on_tpl": "command_on_template",
    "cmd_off_tpl": "command_off_template",
    "max_mirs": "max_mireds",
    "min_mirs": "min_mireds",
    "rgb_cmd_t": "rgb_command_topic",
    "rgb_cmd_tpl": "rgb_command_template",
    "rgb_stat_t": "rgb_state_topic",
    "rgb_val_tpl": "rgb_value_template",
    "on_cmd_type": "on_command_type",
    # cover
    "pl_open": "payload_open",
    "pl_cls": "payload_close",
    "pl_stop": "payload_stop",
    "pos_t": "position_topic",
    "pos_tpl": "position_template",
    "pos_open": "position_open",
    "pos_clsd": "position_closed",
    "set_pos_t": "set_position_topic",
    "set_pos_tpl": "set_position_template",
    "stat_open": "state_open",
    "stat_opening": "state_opening",
    "stat_clsd": "state_closed",
    "stat_closing": "state_closing",
    "stat_stopped": "state_stopped",
    # lock
    "pl_lock": "payload_lock",
    "pl_unlk": "payload_unlock",
    "stat_locked": "state_locked",
    "stat_unlocked": "state_unlocked",
    "stat_jam": "state_jammed",
    # climate
    "curr_temp_t": "current_temperature_topic",
    "curr_temp_tpl": "current_temperature_template",
    "mode_cmd_t": "mode_command_topic",
    "mode_cmd_tpl": "mode_command_template",
    "mode_stat_t": "mode_state_topic",
    "mode_stat_tpl": "mode_state_template",
    "temp_cmd_t": "temperature_command_topic",
    "temp_cmd_tpl": "temperature_command_template",
    "temp_stat_t": "temperature_state_topic",
    "temp_stat_tpl": "temperature_state_template",
    "temp_unit": "temperature_unit",
    "fan_mode_cmd_t": "fan_mode_command_topic",
    "fan_mode_stat_t": "fan_mode_state_topic",
    "fan_mode_stat_tpl": "fan_mode_state_template",
    # fan
    "pct_cmd_t": "percentage_command_topic",
    "pct_cmd_tpl": "percentage_command_template",
    "pct_stat_t": "percentage_state_topic",
    "pct_val_tpl": "percentage_value_template",
    "osc_cmd_t": "oscillation_command_topic",
    "osc_cmd_tpl": "oscillation_command_template",
    "osc_stat_t": "oscillation_state_topic",
    "osc_val_tpl": "oscillation_value_template",
    "pl_osc_on": "payload_oscillation_on",
    "pl_osc_off": "payload_oscillation_off",
    "spd_rng_min": "speed_range_min",
    "spd_rng_max": "speed_range_max",
    # device-based discovery
    "cmps": "components",
    "p": "platform",
}
DEVICE_ABBREVIATIONS: dict[str, str] = {
    "cns": "connections",
    "ids": "identifiers",
    "mf": "manufacturer",
    "mdl": "model",
    "mdl_id": "model_id",
    "hw": "hw_version",
    "sw": "sw_version",
    "sa": "suggested_area",
    "sn": "serial_number",
    "cu": "configuration_url",
}


class ConfigError(ValueError):
    """A discovery message that is not one (its topic or its JSON); the adapter logs it and
    goes on."""


@dataclass(frozen=True)
class Entity:
    """One discovered entity: its component (`light` …), its place in the topic tree, and
    its config with every key written out and `~` resolved."""

    component: str
    node_id: str | None
    object_id: str
    config: dict[str, Any]
    device: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What identifies it: its `unique_id`, else its place in the topic tree."""
        unique = self.config.get("unique_id")
        if isinstance(unique, str) and unique:
            return unique
        return "/".join(p for p in (self.component, self.node_id, self.object_id) if p)

    @property
    def device_key(self) -> str | None:
        """What identifies its device (its first identifier), or None without one."""
        ids = self.device.get("identifiers")
        if isinstance(ids, str):
            return ids
        if isinstance(ids, list) and ids and isinstance(ids[0], str):
            return ids[0]
        return None


@dataclass(frozen=True)
class Removed:
    """An empty retained config: the entity at this place (or the whole device) is gone."""

    component: str
    node_id: str | None
    object_id: str


def expand(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with its abbreviated keys written out (also in `device`, `origin` and
    `availability` items, and in each of a device-based config's `components`)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = ABBREVIATIONS.get(key, key)
        if name == "device" and isinstance(value, dict):
            value = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in value.items()}
        elif name == "origin" and isinstance(value, dict):
            value = {
                {"sw": "sw_version", "url": "support_url"}.get(k, k): v for k, v in value.items()
            }
        elif name == "availability" and isinstance(value, list):
            value = [expand(item) if isinstance(item, dict) else item for item in value]
        elif name == "components" and isinstance(value, dict):
            value = {k: expand(v) if isinstance(v, dict) else v for k, v in value.items()}
        out[name] = value
    return out


def with_base(config: dict[str, Any], base: str | None = None) -> dict[str, Any]:
    """Resolve `~`: a topic value (a key ending in `_topic`, or `topic`) that starts or
    ends with `~` takes the base topic there (the config's own `~`, else `base`)."""
    tilde = config.get("~", base)
    if not isinstance(tilde, str) or not tilde:
        return {k: v for k, v in config.items() if k != "~"}
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "~":
            continue
        if (key.endswith("_topic") or key == "topic") and isinstance(value, str):
            if value.startswith("~"):
                value = tilde + value[1:]
            elif value.endswith("~"):
                value = value[:-1] + tilde
        elif key == "availability" and isinstance(value, list):
            value = [with_base(i, tilde) if isinstance(i, dict) else i for i in value]
        out[key] = value
    return out


def place(prefix: str, topic: str) -> tuple[str, str | None, str] | None:
    """(component, node_id, object_id) of a discovery topic under `prefix`, or None when it
    is not one (not `…/config`, or levels that are no ids)."""
    if not topic.startswith(prefix + "/") or not topic.endswith("/config"):
        return None
    levels = topic[len(prefix) + 1 : -len("/config")].split("/")
    if len(levels) == 2:
        component, node_id, object_id = levels[0], None, levels[1]
    elif len(levels) == 3:
        component, node_id, object_id = levels
    else:
        return None
    if not all(_ID.match(x) for x in (component, object_id, node_id or "x")):
        return None
    return component, node_id, object_id


def read(prefix: str, topic: str, payload: bytes | bytearray) -> list[Entity | Removed]:
    """What one discovery message says: the entities it configures (several for a
    device-based config), or what it removes. `ConfigError` names what is wrong."""
    where = place(prefix, topic)
    if where is None:
        raise ConfigError(f"{topic}: not a discovery topic under {prefix}/")
    component, node_id, object_id = where
    if not payload:
        return [Removed(component, node_id, object_id)]
    if len(payload) > MAX_CONFIG:
        raise ConfigError(f"{topic}: a config of {len(payload)} bytes (at most {MAX_CONFIG})")
    try:
        raw = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"{topic}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{topic}: a config is a JSON object")
    config = expand(raw)
    if component == "device":
        return _device_based(object_id, config, topic)
    config = with_base(config)
    device = config.pop("device", {})
    return [
        Entity(component, node_id, object_id, config, device if isinstance(device, dict) else {})
    ]


def _device_based(object_id: str, config: dict[str, Any], topic: str) -> list[Entity | Removed]:
    """`<prefix>/device/<id>/config`: shared keys (device, origin, availability, state
    topic, `~` …) for each of its `components`, keyed by their object ids."""
    components = config.pop("components", None)
    device = config.pop("device", {})
    tilde = config.get("~")
    if not isinstance(components, dict) or not isinstance(device, dict):
        raise ConfigError(f"{topic}: a device-based config needs `device` and `components`")
    shared = {k: v for k, v in config.items() if k not in ("origin",)}
    out: list[Entity | Removed] = []
    for cmp_id, cmp in components.items():
        if not isinstance(cmp, dict) or not _ID.match(str(cmp_id)):
            continue
        platform = cmp.get("platform")
        if not isinstance(platform, str):
            continue
        if len(cmp) == 1:  # only its platform: the component was removed
            out.append(Removed(platform, object_id, str(cmp_id)))
            continue
        own = {k: v for k, v in cmp.items() if k != "platform"}
        merged = with_base({**shared, **own}, tilde if isinstance(tilde, str) else None)
        out.append(Entity(platform, object_id, str(cmp_id), merged, device))
    return out
