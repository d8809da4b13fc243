"""MQTT topic names HyperHub reserves, and which filters it may give to another system.

HyperHub's own tree starts at `ROOT` (`fabric.topics` lays it out); the broker's `$`
topics are the broker's. An adapter's foreign system (Zigbee2MQTT, OwnTracks, Home
Assistant's discovery and the devices behind it) may be given any other filter.
"""

from __future__ import annotations

ROOT = "hyperhub"


def foreign_topic_problem(topic: str) -> str | None:
    """Why `topic` may not be given to a node as another system's topics, or None: it must
    be a valid filter outside HyperHub's own tree and the broker's `$` topics."""
    levels = topic.split("/")
    if not topic or topic.startswith("$") or levels[0] in (ROOT, "#", "+"):
        return f"{topic!r}: not another system's topics (HyperHub's own and $ topics are not given)"
    if any(("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels):
        return f"{topic!r} is not a topic filter"
    if "#" in levels[:-1]:
        return f"{topic!r}: # may only be the last level"
    if "" in levels:
        return f"{topic!r} has an empty level"
    return None
