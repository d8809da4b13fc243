"""The in-process amqtt broker: plugins for the embedded Mosquitto's logins and ACL, and
fixes for two bugs of amqtt 0.12's broker.

The plugins are loaded by dotted path from `AmqttBroker`'s config; both read the live
`CredentialStore`, so a node added at run time can log in at once. Differences from
Mosquitto, by amqtt's design: a subscription must lie inside a readable ACL rule (Mosquitto
grants any subscription and filters each message; amqtt would leak retained messages that
way), and a will message for a topic the client may not write is refused at login (amqtt
never checks wills later).

`broker_class()` gives the broker to run: for amqtt 0.12.x, `PatchedBroker`, which
- iterates its subscriptions over a snapshot. amqtt loops over the live dict across awaits
  (the ACL check of each delivery; the retained messages sent at login) while other tasks
  add and drop subscriptions (a subscribe; the session monitor forgetting a client that
  left, up to 1 s later). The loop then fails with "dictionary changed size during
  iteration": a broadcast is lost for the subscribers it had not reached yet, and a client
  logging in at that moment is left connected but never served (its publishes and
  subscriptions are not answered);
- sends a client logging in only the retained messages of its own subscriptions. amqtt
  sends it those of every topic filter any client has subscribed to, unchecked by the ACL:
  a node would get other devices' retained state and discovery whenever the hub was
  subscribed to them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import amqtt
from amqtt.broker import Broker
from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hyperhub.fabric.credentials import (
    AclIndex,
    CredentialStore,
    acl_rules,
    client_id_allowed,
)


@dataclass
class _Options:
    credentials: Any = None  # the CredentialStore (dacite passes it through untouched)
    space: str = ""


class _Rules:
    """ACL rules per username (indexed), rebuilt whenever the credential store changes."""

    def __init__(self, credentials: CredentialStore, space: str) -> None:
        self._credentials, self._space = credentials, space
        self._cache: dict[str, AclIndex] = {}
        self._revision = -1

    def of(self, username: str | None) -> AclIndex:
        if not username:
            return _NOTHING
        revision = self._credentials.current_revision()  # re-reads a changed file
        if revision != self._revision:
            self._cache.clear()
            self._revision = revision
        index = self._cache.get(username)
        if index is None:
            principal = self._credentials.principal(username)
            index = AclIndex(acl_rules(principal, self._space) if principal else [])
            self._cache[username] = index
        return index


_NOTHING = AclIndex([])


def _text(value: str | bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class CredentialAuthPlugin(BaseAuthPlugin):
    """Lets in exactly the principals of the credential store, with their passwords."""

    Config = _Options

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._credentials: CredentialStore = self.config.credentials
        self._rules = _Rules(self._credentials, self.config.space)

    async def authenticate(self, *, session: Session) -> bool | None:
        principal = self._credentials.verify(_text(session.username), _text(session.password))
        if principal is None:
            return False
        if not client_id_allowed(principal, self.config.space, session.client_id or ""):
            # a node names only its own id: another's would knock that client off
            self.context.logger.warning(
                "refused %s: client id %r is not its own", principal.name, session.client_id
            )
            return False
        if session.will_flag and not self._rules.of(principal.name).allows_write(
            session.will_topic or ""
        ):
            self.context.logger.warning(
                "refused %s: will topic %r is not its own", principal.name, session.will_topic
            )
            return False
        return True


class TopicAclPlugin(BaseTopicPlugin):
    """Checks every publish, subscription and delivery against the principal's ACL rules."""

    Config = _Options

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._rules = _Rules(self.config.credentials, self.config.space)

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        if session is None or not topic:
            return False
        rules = self._rules.of(_text(session.username))
        if action == Action.PUBLISH:
            return rules.allows_write(topic)
        if action == Action.SUBSCRIBE:
            return rules.covers_subscription(topic)
        if action == Action.RECEIVE:
            return rules.allows_read(topic)
        return False


# -- fixes for amqtt 0.12's broker -----------------------------------------------------------
PATCHED_SERIES = "0.12."  # the amqtt versions whose broker code PatchedBroker was checked on
Subscribers = list[tuple[Session, int]]


class SnapshotSubscriptions(dict[str, Subscribers]):
    """amqtt's `topic filter → [(session, qos)]`, whose iteration never sees changes.

    Iterating (keys, `items()`, `values()`) goes over a copy taken when it starts, with a
    copy of each filter's subscriber list, so subscriptions added or dropped meanwhile
    neither break the loop nor make it skip a subscriber. Look-ups and changes go to the
    live dict and lists, as amqtt expects. A copy costs about what amqtt's loop over every
    filter costs anyway.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> list[tuple[str, Subscribers]]:  # type: ignore[override]
        return [(topic_filter, list(subs)) for topic_filter, subs in super().items()]

    def values(self) -> list[Subscribers]:  # type: ignore[override]
        return [list(subs) for subs in super().values()]


class PatchedBroker(Broker):
    """amqtt 0.12's broker with the two fixes of this module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subscriptions: SnapshotSubscriptions = SnapshotSubscriptions(self._subscriptions)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """Only for a filter `session` itself subscribed to (amqtt calls this at login for
        every client's filters)."""
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(sub.client_id == session.client_id for sub, _qos in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)


def broker_class() -> type[Broker]:
    """The amqtt broker to run: `PatchedBroker` on amqtt 0.12.x, amqtt's own otherwise."""
    version = getattr(amqtt, "__version__", "")
    if version.startswith(PATCHED_SERIES) and _patchable(Broker):
        return PatchedBroker
    logging.getLogger(__name__).debug(
        "amqtt %s is not %sx: running its broker without HyperHub's fixes",
        version,
        PATCHED_SERIES,
    )
    return Broker


def _patchable(base: type[Broker]) -> bool:
    """The methods PatchedBroker relies on are still there (and still coroutines)."""
    method = getattr(base, "_publish_retained_messages_for_subscription", None)
    return inspect.iscoroutinefunction(method)
