"""amqtt plugins that give the in-process broker the embedded Mosquitto's logins and ACL.

Loaded by dotted path from `AmqttBroker`'s config; both read the live `CredentialStore`, so
a node added at run time can log in at once. Differences from Mosquitto, by amqtt's design:
a subscription must lie inside a readable ACL rule (Mosquitto grants any subscription and
filters each message; amqtt would leak retained messages that way), and a will message for
a topic the client may not write is refused at login (amqtt never checks wills later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hyperhub.fabric.credentials import AclRule, CredentialStore, acl_rules


@dataclass
class _Options:
    credentials: Any = None  # the CredentialStore (dacite passes it through untouched)
    space: str = ""


class _Rules:
    """ACL rules per username, rebuilt whenever the credential store changes."""

    def __init__(self, credentials: CredentialStore, space: str) -> None:
        self._credentials, self._space = credentials, space
        self._cache: dict[str, list[AclRule]] = {}
        self._revision = -1

    def of(self, username: str | None) -> list[AclRule]:
        if not username:
            return []
        principal = self._credentials.principal(username)  # refreshes the store's revision
        if self._credentials.revision != self._revision:
            self._cache.clear()
            self._revision = self._credentials.revision
        if username not in self._cache:
            self._cache[username] = acl_rules(principal, self._space) if principal else []
        return self._cache[username]


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
        if session.will_flag and not any(
            rule.allows_write(session.will_topic or "") for rule in self._rules.of(principal.name)
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
            return any(rule.allows_write(topic) for rule in rules)
        if action == Action.SUBSCRIBE:
            return any(rule.covers_subscription(topic) for rule in rules)
        if action == Action.RECEIVE:
            return any(rule.allows_read(topic) for rule in rules)
        return False
