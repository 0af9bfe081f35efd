"""登录 / 退出: password login, one-time login links, logout."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.errors import user_text
from web import auth
from web.context import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    address_of,
    current,
    form_of,
    runtime_of,
    safe_next,
)
from web.errors import LoginRefused, LoginThrottled
from web.render import page

router = APIRouter()


def _login_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        None,
        status=status,
        csrf=token,
        error=error,
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = form.get("csrf")
    if not cookie or not auth.csrf_ok(cookie, given if isinstance(given, str) else None):
        return _login_page(request, error="表单已失效，请重新登录", status=400)
    code, password = str(form.get("code") or ""), str(form.get("password") or "")
    rt = runtime_of(request)
    now = rt.now()
    try:
        with rt.session() as session:
            person = auth.authenticate(
                session, code, password, address=address_of(request), now=now
            )
            login_ = (
                auth.open_session(session, person, address=address_of(request), now=now)
                if person
                else None
            )
    except LoginThrottled as exc:
        return _login_page(request, error=user_text(exc), status=429)
    if login_ is None:
        return _login_page(request, error=user_text(auth.refused()), status=401)
    return _logged_in(request, login_.secret, safe_next(str(form.get("next") or "/")))


def _logged_in(request: Request, secret: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=int(auth.SESSION_TTL.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await form_of(request)
    rt = runtime_of(request)
    with rt.session() as session:
        auth.close_session(session, request.cookies.get(SESSION_COOKIE), now=rt.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/login/link/{secret}", response_class=HTMLResponse)
def link_form(request: Request, secret: str) -> Response:
    """A button, not an automatic login: link previews and scanners must not use it up."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, "login_link.html", None, csrf=token, secret=secret)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login")
    return response


@router.post("/login/link/{secret}")
async def link_login(request: Request, secret: str) -> Response:
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = form.get("csrf")
    if not cookie or not auth.csrf_ok(cookie, given if isinstance(given, str) else None):
        return _login_page(request, error="表单已失效，请重新打开登录链接", status=400)
    rt = runtime_of(request)
    now = rt.now()
    try:
        with rt.session() as session:
            person = auth.use_login_link(session, secret, now=now)
            opened = auth.open_session(session, person, address=address_of(request), now=now)
    except LoginRefused as exc:
        return _login_page(request, error=user_text(exc), status=401)
    return _logged_in(request, opened.secret, "/")


@router.get("/me")
def me(request: Request) -> Response:
    who = current(request)
    return page(request, "me.html", who)
