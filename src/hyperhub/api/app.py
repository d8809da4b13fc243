"""`create_app(ctx)`: the FastAPI app of a hub."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from hyperhub import __version__
from hyperhub.api import errors, web
from hyperhub.api.context import ApiContext
from hyperhub.api.models import ErrorOut
from hyperhub.api.routes import adapters, admin, assistant, auth, automations, devices, ws
from hyperhub.api.security import Guard

DESCRIPTION = """The REST and WebSocket API of a HyperHub (docs/api.md is the contract).

Everything under `/api/` except `/api/health`, `/api/auth/login` and `/api/auth/setup` needs
`Authorization: Bearer <token>` (`hyperhub token create`, or log in). Errors are JSON:
`{"error": {"status", "code", "message"}}`."""

ERRORS = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "No valid token"),
        (403, "Missing scope"),
        (404, "Unknown thing"),
        (409, "Needs confirmation / refused"),
        (413, "Request body too large"),
        (422, "Invalid body, query or value"),
        (429, "Rate limited"),
        (503, "Device offline or not answering; speech unavailable or busy; hub starting"),
    )
}


def create_app(ctx: ApiContext) -> FastAPI:
    """The API and dashboard of one hub (`ctx` says what it serves and how)."""
    app = FastAPI(
        title="HyperHub",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served from local files by `web.install`
        redoc_url=None,
        responses=ERRORS,  # type: ignore[arg-type]
    )
    app.state.ctx = ctx
    errors.install(app)
    routers = (admin, auth, devices, assistant, automations, adapters, ws)
    for module in routers:
        app.include_router(module.router)
    web.install(app, ctx.settings.web_dir)
    if ctx.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(ctx.settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(
        Guard,
        bind_host=ctx.settings.host,
        max_body=ctx.settings.max_body,
        max_audio=ctx.settings.max_audio_bytes,
    )
    return app
