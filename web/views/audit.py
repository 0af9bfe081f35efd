"""审计日志: every step and every view of complainant data, filterable (supervisors)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import col, select

from ledger.models import Event, Ticket
from ledger.tickets import ACTION_LABELS
from web.context import PageRefused, current, runtime_of
from web.errors import BadForm
from web.render import page

router = APIRouter()
PAGE = 100


def _day(value: str | None, label: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise BadForm(f"「{label}」不是日期，请用 YYYY-MM-DD（{value}）", "bad date") from None
    if not 1900 <= day.year <= 2999:  # 9999-12-31 + 1 day was an OverflowError (a 500)
        raise BadForm(f"「{label}」的年份须在 1900–2999 之间（{value}）", "year out of range")
    return day


@router.get("/audit")
def audit_page(request: Request) -> Response:
    who = current(request)
    if not who.may_audit:
        raise PageRefused("审计日志仅供督查人员和管理员查看")
    rt = runtime_of(request)
    q = request.query_params
    action = q.get("action") or None
    actor = (q.get("actor") or "").strip() or None
    number = (q.get("ticket") or "").strip() or None
    since, until = _day(q.get("from"), "日期起"), _day(q.get("to"), "日期止")
    try:
        before = int(q["before"]) if q.get("before") else None
    except ValueError:
        raise BadForm("before 须为整数", "bad before") from None
    if before is not None and not 0 < before < 2**63:  # beyond SQL integers: was a 500
        raise BadForm("before 超出范围", "before out of range")
    query = select(Event, Ticket.number).join(Ticket, col(Ticket.id) == col(Event.ticket_id))
    if action:
        query = query.where(Event.action == action)
    if actor:
        query = query.where(col(Event.actor).contains(actor, autoescape=True))
    if number:
        query = query.where(Ticket.number == number)
    if since:
        query = query.where(col(Event.at) >= datetime.combine(since, time.min, tzinfo=rt.tz))
    if until:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=rt.tz)
        query = query.where(col(Event.at) < end)
    if before:
        query = query.where(col(Event.id) < before)  # keyset paging: newest first
    with rt.session() as session:
        rows = list(session.exec(query.order_by(col(Event.id).desc()).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    older = None
    if more:
        params = {k: v for k, v in q.items() if k != "before" and v}
        params["before"] = str(rows[-1][0].id)
        from urllib.parse import urlencode

        older = urlencode(params)
    return page(request, "audit.html", who, rows=rows, actions=ACTION_LABELS, q=q, older=older)
