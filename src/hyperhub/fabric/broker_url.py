"""Where the fabric's MQTT broker is: `mqtt://user:pass@host:1883` or `mqtts://…:8883?ca=…`.

An external broker (an existing Mosquitto, an EMQX cluster) is nothing more than one of
these; the embedded broker hands them out per principal (`Broker.url(principal)`).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from hyperhub.errors import BrokerError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")
_USERINFO_PASSWORD = re.compile(r"(://[^/@:]*:)[^/]*@")  # greedy: up to the last @


def mask_password(url: str) -> str:
    """`url` with the password of its user part replaced by `***` (safe to log or print)."""
    return _USERINFO_PASSWORD.sub(r"\1***@", url)


@dataclass(frozen=True)
class BrokerURL:
    """An MQTT broker address with optional credentials and TLS settings."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    insecure: bool = False  # TLS without certificate or host name checks (self-signed test brokers)

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse `mqtt://[user[:pass]@]host[:port]` or `mqtts://…[?ca=/path&insecure=1]`."""
        shown = mask_password(url)

        def bad(why: str) -> BrokerError:
            return BrokerError(f"bad broker URL {shown!r}: {why}")

        if "://" not in url:
            raise bad("no scheme; expected mqtt://user:pass@host:1883 or mqtts://…")
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise bad(f"{exc}; expected mqtt://user:pass@host:1883") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise bad(f"scheme {parts.scheme!r} is not supported; use mqtt:// or mqtts://")
        if not parts.hostname:
            raise bad("no host; expected mqtt://user:pass@host:1883")
        if parts.path not in ("", "/") or parts.fragment:
            raise bad("an MQTT broker URL has no path; expected mqtt://user:pass@host:1883")
        if port == 0:
            raise bad("port 0 is not a broker port")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"ca", "insecure"})
        if unknown:
            raise bad(f"unknown option(s) {', '.join(unknown)}; known: ca, insecure")
        if query and scheme != "mqtts":
            raise bad("ca= and insecure= need TLS; use mqtts://")
        ca_file = Path(query["ca"][-1]).expanduser() if "ca" in query else None
        if ca_file is not None and not ca_file.is_file():
            raise bad(f"CA file {str(ca_file)!r} not found")
        insecure_flag = query.get("insecure", ["0"])[-1].lower()
        if insecure_flag not in _TRUE + _FALSE:
            raise bad(f"insecure={insecure_flag!r}; use insecure=1 or insecure=0")
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORTS[scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=scheme == "mqtts",
            ca_file=ca_file,
            insecure=insecure_flag in _TRUE,
        )

    @property
    def scheme(self) -> str:
        return "mqtts" if self.tls else "mqtt"

    def render(self, *, show_password: bool = False) -> str:
        """The URL as text; the password is `***` unless `show_password`."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + (quote(self.password, safe="") if show_password else "***")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        options = []
        if self.ca_file is not None:
            options.append(f"ca={quote(str(self.ca_file))}")
        if self.insecure:
            options.append("insecure=1")
        query = "?" + "&".join(options) if options else ""
        return f"{self.scheme}://{auth}{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.render()

    def with_credentials(self, username: str, password: str) -> BrokerURL:
        """The same broker, logging in as someone else."""
        return BrokerURL(
            self.host, self.port, username, password, self.tls, self.ca_file, self.insecure
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `aiomqtt.Client(**url.client_kwargs())`."""
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        if self.username is not None:
            kwargs["username"] = self.username
            kwargs["password"] = self.password
        if self.tls:
            from aiomqtt import TLSParameters  # only TLS users need it at import time

            kwargs["tls_params"] = TLSParameters(
                ca_certs=str(self.ca_file) if self.ca_file is not None else None,
                cert_reqs=ssl.CERT_NONE if self.insecure else ssl.CERT_REQUIRED,
            )
            if self.insecure:
                kwargs["tls_insecure"] = True
        return kwargs
