"""Every error as `{"error": {"status", "code", "message"}}` with the right status code.

HyperHub's named errors map to statuses here (`STATUS`); validation errors become 422 with
a message that names the field; unknown routes 404; anything unexpected a generic 500 that
is logged, never a traceback for the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hyperhub.api.language import lang_in
from hyperhub.auth import AuthError
from hyperhub.errors import (
    AdapterError,
    AudioError,
    AutomationError,
    BrokerError,
    CommandFailed,
    DeviceTimeout,
    DeviceUnavailable,
    HyperHubError,
    ModelChecksumMismatch,
    ModelUnavailable,
    NeedsConfirmation,
    NotAllowed,
    ReadOnly,
    RuleDisabled,
    SpaceError,
    SpecError,
    StaleVersion,
    StoreError,
    UnknownDevice,
    UnknownRule,
    UnknownScene,
    UnsupportedLanguage,
    VersionRequired,
    VoiceUnavailable,
)
from hyperhub.spec.words import error_text

log = logging.getLogger("hyperhub.api")

# most specific first: the first class an error is an instance of decides its status; its
# code is the class's own (`HyperHubError.code`, named in hyperhub.errors only)
STATUS: tuple[tuple[type[HyperHubError], int], ...] = (
    (NeedsConfirmation, 409),
    (NotAllowed, 403),
    (RuleDisabled, 409),
    (StaleVersion, 412),
    (VersionRequired, 428),
    (ReadOnly, 409),
    (AutomationError, 422),
    (UnknownDevice, 404),
    (UnknownRule, 404),
    (UnknownScene, 404),
    (SpecError, 422),
    (DeviceTimeout, 503),
    (DeviceUnavailable, 503),
    (BrokerError, 503),
    (StoreError, 503),
    (ModelUnavailable, 503),
    (VoiceUnavailable, 503),
    (ModelChecksumMismatch, 503),
    (AudioError, 422),
    (UnsupportedLanguage, 422),
    (CommandFailed, 409),
    (AdapterError, 409),
    (SpaceError, 422),
)
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "stale_version",
    413: "too_large",
    422: "invalid",
    428: "version_required",
    429: "rate_limited",
    503: "unavailable",
}


_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


class ApiError(Exception):
    """An error answer: status, machine-readable code, a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    lang: str = "en",
) -> JSONResponse:
    """The JSON error answer; `message` is English, said in `lang` (the request's
    Accept-Language) by `words.error_text`."""
    message = error_text(lang, code, message)
    body = {"error": {"status": status, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def error_of(exc: HyperHubError) -> ApiError:
    """The answer for one of HyperHub's named errors."""
    if isinstance(exc, AuthError):
        status = 409 if exc.code == "setup_done" else 401
        return ApiError(status, exc.code, str(exc), {"WWW-Authenticate": "Bearer"})
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return ApiError(status, exc.code, str(exc))
    return ApiError(400, "bad_request" if exc.code == HyperHubError.code else exc.code, str(exc))


def validation_message(errors: list[Any]) -> tuple[int, str, str]:
    """(status, code, message) for pydantic's errors: the fields and what is wrong."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "bad_json", "the request body is not valid JSON"
    parts = []
    for e in errors[:3]:
        if tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT:
            return 422, "invalid", "the request body must be a JSON object"
        where = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg")))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return 422, "invalid", "; ".join(parts) + more


def install(app: FastAPI) -> None:
    """Register the handlers that make every error a JSON error."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.headers, lang_in(request))

    async def named_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HyperHubError)
        err = error_of(exc)
        if isinstance(exc, NeedsConfirmation):  # the question itself, in the asker's language
            said = exc.in_lang(lang_in(request))
            return error_response(err.status, err.code, said, err.headers)
        return error_response(err.status, err.code, err.message, err.headers, lang_in(request))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, code, message = validation_message(list(exc.errors()))
        return error_response(status, code, message, lang=lang_in(request))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404:
            message = f"nothing at {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, code, message, exc.headers, lang_in(request))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "the hub hit an unexpected error; it is logged"
        return error_response(500, "internal", message, lang=lang_in(request))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HyperHubError, named_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
