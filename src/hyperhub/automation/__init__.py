"""Automations: places, scenes and rules (`model`), read from a space's `automations/` files
and checked against the space (`loader`), with templated values (`templates`); changed one
rule or scene at a time in those files, every other byte kept (`folder`, `splice`)."""

from hyperhub.automation.folder import AutomationFolder, append_rule
from hyperhub.automation.loader import (
    Book,
    automations_path,
    dump_rule,
    load_automations,
    parse_automations,
)
from hyperhub.automation.model import (
    Action,
    AutomationFile,
    Condition,
    Place,
    Rule,
    Scene,
    Trigger,
)
from hyperhub.errors import AutomationError

__all__ = [
    "Action",
    "AutomationError",
    "AutomationFile",
    "AutomationFolder",
    "Book",
    "Condition",
    "Place",
    "Rule",
    "Scene",
    "Trigger",
    "append_rule",
    "automations_path",
    "dump_rule",
    "load_automations",
    "parse_automations",
]
