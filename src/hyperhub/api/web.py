"""The dashboard's static files at `/`, and the API docs at `/docs` from local files.

The dashboard is served as the router's fallback (after every route), so a wrong method on
an API route still answers 405, and anything under `/api/` that is no route answers 404 JSON.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HyperHub</title></head>
<body><h1>HyperHub</h1><p>The hub is running, but its dashboard files are not installed.
The API is at <a href="/docs">/docs</a>.</p></body></html>
"""
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
DOCS_INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});\n'
HIDDEN_SUFFIXES = (".py", ".pyc", ".pyi")


def default_web_dir() -> Path:
    return Path(str(resources.files("hyperhub.web")))


class DashboardFiles(StaticFiles):
    """The dashboard's files; never the package's Python files."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        parts = Path(path).parts
        if path.endswith(HIDDEN_SUFFIXES) or "__pycache__" in parts:
            raise HTTPException(404)
        return await super().get_response(path, scope)


class Fallback:
    """What no route matched: 404 under /api/, else the dashboard (or a placeholder)."""

    def __init__(self, web_dir: Path) -> None:
        self.files: DashboardFiles | None = None
        if (web_dir / "index.html").is_file():
            self.files = DashboardFiles(directory=web_dir, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "/")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if path == "/api" or path.startswith("/api/") or scope["type"] != "http":
            raise HTTPException(404)
        if self.files is not None:
            await self.files(scope, receive, send)
            return
        if path != "/":
            raise HTTPException(404)
        await HTMLResponse(PLACEHOLDER)(scope, receive, send)


def install(app: FastAPI, web_dir: Path | None) -> None:
    """Serve /docs from local files and the dashboard as the fallback of every route."""
    assets = _swagger_assets()
    if assets is not None:
        app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return HTMLResponse(DOCS_PAGE.format(title=app.title))

        @app.get("/docs/init.js", include_in_schema=False)
        async def docs_init() -> Response:
            return Response(DOCS_INIT, media_type="text/javascript")

    app.router.default = Fallback(web_dir or default_web_dir())


def _swagger_assets() -> Path | None:
    """Swagger UI's files, from the fastapi-offline package (no CDN at run time)."""
    try:
        path = Path(str(resources.files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None
    return path if (path / "swagger-ui-bundle.js").is_file() else None
