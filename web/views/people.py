"""人员与单位 (admin): people from ``units.yaml`` with their web access — a one-time login
link to hand over, tokens and sessions ended. Passwords are set on the console only
(``duban people set-password``), never shown or typed here."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import col, func, select

from desk.logins import issue_login_link, login_url
from ledger.directory import get_person, list_units
from ledger.models import ROLE_LABELS, ApiToken, Person, Role, WebPassword, WebSession
from web import auth
from web.context import PageRefused, Who, current, form_of, runtime_of
from web.errors import BadForm
from web.render import page

router = APIRouter()


@dataclass(frozen=True, slots=True)
class PersonRow:
    code: str
    name: str
    unit: str
    roles: str
    active: bool
    has_password: bool
    tokens: int
    sessions: int


def require_admin(who: Who) -> None:
    if not who.has(Role.ADMIN):
        raise PageRefused("人员与单位仅供管理员使用")


def people_rows(request: Request) -> list[PersonRow]:
    rt = runtime_of(request)
    now = rt.now()
    with rt.session() as session:
        units = {u.id: u.short_name for u in list_units(session)}
        passwords = set(session.exec(select(WebPassword.person_id)).all())
        tokens = dict(
            session.exec(
                select(ApiToken.person_id, func.count())
                .where(col(ApiToken.revoked_at).is_(None))
                .group_by(col(ApiToken.person_id))
            ).all()
        )
        sessions = dict(
            session.exec(
                select(WebSession.person_id, func.count())
                .where(col(WebSession.revoked_at).is_(None), col(WebSession.expires_at) > now)
                .group_by(col(WebSession.person_id))
            ).all()
        )
        return [
            PersonRow(
                code=p.code,
                name=p.name,
                unit=units.get(p.unit_id, "") if p.unit_id is not None else "",
                roles="、".join(
                    ROLE_LABELS[Role(r)] for r in p.roles if r in Role._value2member_map_
                ),
                active=p.active,
                has_password=p.id in passwords,
                tokens=tokens.get(p.id or 0, 0),
                sessions=sessions.get(p.id or 0, 0),
            )
            for p in session.exec(select(Person).order_by(col(Person.id)))
        ]


@router.get("/people")
def people_page(request: Request) -> Response:
    who = current(request)
    require_admin(who)
    return page(request, "people.html", who, rows=people_rows(request))


@router.post("/people/{code}/{action}")
async def people_action(request: Request, code: str, action: str) -> Response:
    who = current(request)
    await form_of(request)
    require_admin(who)
    rt = runtime_of(request)
    now, by = rt.now(), f"web:{who.person.code}"
    link = None
    with rt.session() as session:
        person = get_person(session, code)
        if action == "link":
            if not person.active:
                raise BadForm(f"{person.name} 的账号已停用", "inactive person")
            secret = issue_login_link(session, person, by=by, now=now)
            link = login_url(str(request.base_url), secret)
            notice = f"{person.name} 的一次性登录链接（10 分钟内有效，只能使用一次）"
        elif action == "revoke-tokens":
            notice = (
                f"已作废 {person.name} 的 {auth.revoke_tokens(session, person, now=now)} 个接口令牌"
            )
        elif action == "revoke-sessions":
            count = auth.revoke_sessions(session, person, now=now)
            notice = f"已结束 {person.name} 的 {count} 个网页会话"
        else:
            raise BadForm("未知操作", "unknown action")
    return page(request, "people.html", who, rows=people_rows(request), notice=notice, link=link)
