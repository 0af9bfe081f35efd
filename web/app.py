"""The web desk's application: pages, static files, and the ``/api/v1`` JSON API."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from duban.runtime import Runtime
from ledger.errors import DubanError, user_text
from web.context import LoginRequired, PageNotFound, PageRefused
from web.errors import status_of
from web.render import STATIC, page

logger = logging.getLogger(__name__)


def create_app(rt: Runtime, *, secure_cookies: bool = False) -> FastAPI:
    """The desk on ``rt``'s ledger. ``secure_cookies`` marks cookies Secure (behind HTTPS)."""
    from web.views import (
        api,
        audit,
        desk,
        intake,
        login,
        models,
        people,
        reports,
        tasks,
        tickets,
        triage,
    )

    app = FastAPI(title="督查工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.rt = rt
    app.state.secure_cookies = secure_cookies
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for module in (login, desk, tickets, tasks, triage, intake, reports, audit, people, models):
        app.include_router(module.router)
    app.mount("/api/v1", api.create_api(rt))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> HTMLResponse:
        return not_found(request)

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> HTMLResponse:
        return page(request, "error.html", _who(request), status=403, message=exc.text)

    @app.exception_handler(DubanError)
    async def _refusal(request: Request, exc: DubanError) -> HTMLResponse:
        return page(
            request, "error.html", _who(request), status=status_of(exc), message=user_text(exc)
        )

    @app.exception_handler(404)
    async def _missing(request: Request, exc: Exception) -> Response:
        return not_found(request)

    return app


def not_found(request: Request) -> HTMLResponse:
    """The one answer for a page or ticket that does not exist or may not be seen."""
    return page(request, "error.html", _who(request), status=404, message="找不到该页面或督办件")


def _who(request: Request) -> Any:
    return request.scope.get("duban.who")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def json_error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)
