"""Who is asking: the logged-in person (cookie) or the API token's person, per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlmodel import Session

from desk.permissions import Viewer, is_staff
from duban.runtime import Runtime
from ledger import tickets as T
from ledger.models import ROLE_LABELS, Person, Role
from web import auth
from web.errors import CsrfRefused

SESSION_COOKIE = "duban_session"
LOGIN_CSRF_COOKIE = "duban_login_csrf"


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page, the API answers 401."""


class PageNotFound(Exception):
    """Answered as the one 404 page (a ticket that does not exist or may not be seen)."""


class PageRefused(Exception):
    """A page this person's roles do not open (403, with the Chinese reason)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class Who:
    person: Person
    csrf: str  # empty for API token requests (no cookies, no CSRF)

    @property
    def actor(self) -> T.Actor:
        return T.Actor.of(self.person)

    @property
    def viewer(self) -> Viewer:
        return Viewer(person=self.person)

    @property
    def staff(self) -> bool:
        return is_staff(self.person)

    def has(self, *roles: Role) -> bool:
        return self.person.has_role(*roles)

    @property
    def roles_label(self) -> str:
        return "、".join(
            ROLE_LABELS[Role(r)] for r in self.person.roles if r in Role._value2member_map_
        )

    @property
    def may_triage(self) -> bool:
        return self.has(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)

    @property
    def may_import(self) -> bool:
        return self.has(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)

    @property
    def may_audit(self) -> bool:
        return self.has(Role.SUPERVISOR, Role.ADMIN)

    @property
    def may_admin(self) -> bool:
        return self.has(Role.ADMIN)

    @property
    def may_report(self) -> bool:
        return self.staff or self.has(Role.LEADER)


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def address_of(request: Request) -> str:
    """The client's address (behind the reverse proxy, uvicorn's --proxy-headers sets it)."""
    return request.client.host if request.client is not None else "unknown"


def current(request: Request) -> Who:
    """The logged-in person of this request's cookie, or ``LoginRequired``."""
    cached: Who | None = request.scope.get("duban.who")
    if cached is not None:
        return cached
    rt = runtime_of(request)
    secret = request.cookies.get(SESSION_COOKIE)
    with rt.session() as session:
        found = auth.session_person(session, secret, now=rt.now())
    if found is None:
        raise LoginRequired()
    row, person = found
    who = Who(person=person, csrf=row.csrf_token)
    request.scope["duban.who"] = who
    return who


async def form_of(request: Request) -> dict[str, Any]:
    """The posted form, after its CSRF token is checked against the session's."""
    who = current(request)
    form = await request.form()
    given = form.get("csrf") or request.headers.get("x-csrf-token")
    if not auth.csrf_ok(who.csrf, given if isinstance(given, str) else None):
        raise CsrfRefused(
            "表单已失效（缺少或不符的安全令牌），请刷新页面后重试",
            "CSRF token missing or wrong",
        )
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}


def bearer(request: Request) -> Who:
    """The person of ``Authorization: Bearer <token>`` (API), or ``LoginRequired``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LoginRequired()
    rt = runtime_of(request)
    with rt.session() as session:
        person = auth.token_person(session, token.strip(), now=rt.now())
    if person is None:
        raise LoginRequired()
    return Who(person=person, csrf="")


def refresh_person(session: Session, who: Who) -> Person:
    """The person as the ledger has it now (inside a step's own session)."""
    person = session.get(Person, who.person.id)
    if person is None or not person.active:
        raise LoginRequired()
    return person


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
