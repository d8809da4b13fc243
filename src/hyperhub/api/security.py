"""Who may do what: bearer tokens and scopes, rate limits, and the headers and checks every
request goes through (security headers, the Host check on loopback, the body size limit)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hyperhub.api.context import ApiContext
from hyperhub.api.errors import ApiError
from hyperhub.api.voice import is_audio
from hyperhub.auth import AuthError, Token

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI sets inline styles and draws icons as data: URLs; its scripts are files here
DOCS_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `hyperhub token create` or `POST /api/auth/login`.",
)


async def context(request: Request) -> ApiContext:
    """The API's context (async: FastAPI would run a plain function in a worker thread)."""
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def current_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
) -> Token:
    """The caller's token; 401 when there is none or it is not valid (any more)."""
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "this needs a token: send the header Authorization: Bearer <token>",
            {"WWW-Authenticate": "Bearer"},
        )
    try:
        token = request.app.state.ctx.auth.verify(credentials.credentials)
    except AuthError as exc:
        raise ApiError(401, exc.code, str(exc), {"WWW-Authenticate": "Bearer"}) from None
    request.state.token = token
    return token


def missing_scope(token: Token, scope: str, doing: str = "this") -> ApiError:
    has = ", ".join(sorted(token.scopes)) or "none"
    return ApiError(
        403,
        "missing_scope",
        f"{doing} needs the scope {scope!r}; token {token.name!r} has {has}",
    )


RISKY_SCOPE = "control:risky"


def may_confirm(token: Token) -> bool:
    """Whether the token may say yes to a risky command, rule, scene or plan (what is risky:
    `spec.policy`); every route that confirms asks here."""
    return token.has(RISKY_SCOPE)


def confirm_refused(token: Token, doing: str) -> ApiError:
    """The 403 for a yes (or a risky rule or scene) from a token that may not give it."""
    return missing_scope(token, RISKY_SCOPE, doing)


def require(scope: str) -> Callable[..., Awaitable[Token]]:
    """A dependency: the caller's token, which must have `scope` (else 403)."""

    async def check(token: Token = Depends(current_token)) -> Token:  # noqa: B008
        if not token.has(scope):
            raise missing_scope(token, scope)
        return token

    return check


# what a route's parameters ask for: the API's context, the caller's token, a token with a scope
Ctx = Annotated[ApiContext, Depends(context)]
Caller = Annotated[Token, Depends(current_token)]
Reader = Annotated[Token, Depends(require("read"))]
Controller = Annotated[Token, Depends(require("control"))]
Admin = Annotated[Token, Depends(require("admin"))]


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host part of a Host header: 'a:80' → 'a', '[::1]:80' → '[::1]'."""
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


# the one route that takes a recording, and so a larger body when it is sent one
AUDIO_PATHS = frozenset({"/api/ask"})


class BodyTooLarge(ApiError):
    def __init__(self, limit: int, what: str = "the request body") -> None:
        super().__init__(413, "too_large", too_large(limit, what))


def too_large(limit: int, what: str) -> str:
    return f"{what} is over {limit:,} bytes"


class Guard:
    """ASGI middleware: the Host check (on loopback), the body size limit (`max_audio` for a
    recording sent to a route that takes one), security headers."""

    def __init__(
        self, app: ASGIApp, *, bind_host: str, max_body: int, max_audio: int | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_audio = max_body if max_audio is None else max_audio
        self.allowed: frozenset[str] | None = None
        if is_loopback(bind_host):
            self.allowed = LOOPBACK_NAMES | {bind_host, f"[{bind_host}]"}
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        self._page = [(b"content-security-policy", CSP.encode()), *common]
        self._docs = [(b"content-security-policy", DOCS_CSP.encode()), *common]
        self._api = [*self._page, (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.allowed is not None and not self._host_ok(scope):
            if kind == "websocket":
                return await send({"type": "websocket.close", "code": 4400})
            return await _plain_error(send, 400, "bad_host", "the Host header names no loopback")
        if kind == "websocket":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        extra = self._api if path.startswith("/api/") else self._page
        if path == "/docs" or path.startswith("/docs/"):
            extra = self._docs
        limit, what = self.max_body, "the request body"
        if path in AUDIO_PATHS and is_audio(_header(scope, b"content-type")):
            limit, what = self.max_audio, "the recording"
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _plain_error(send, 413, "too_large", too_large(limit, what))
        seen = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, what)
            return message

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, bounded_receive, send_with_headers)

    def _host_ok(self, scope: Scope) -> bool:
        value = _header(scope, b"host")
        return value is None or host_name(value) in (self.allowed or ())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _plain_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"status": status, "code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"content-security-policy", CSP.encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
