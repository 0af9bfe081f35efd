"""台账 (list, filters, sorting, paging, saved views, export) and 督办件详情 (with its steps)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session, col, or_, select
from starlette.background import BackgroundTask

from desk import queries as Q
from desk.permissions import sees_complainant, visible_ticket
from duban.runtime import Runtime
from ledger import tickets as T
from ledger.directory import list_units
from ledger.errors import DubanError, NotFound, user_text
from ledger.models import (
    Message,
    Person,
    SavedView,
    SourceKind,
    Ticket,
    TicketState,
    Unit,
)
from ledger.states import TRIAGE_STATES
from web import actions as W
from web import export as E
from web.context import PageNotFound, Who, current, form_of, runtime_of
from web.errors import BadForm, status_of
from web.render import page

router = APIRouter()

PAGE_SIZES = (20, 50, 100)
FILTER_KEYS = (
    "state",
    "unit",
    "source",
    "q",
    "received_from",
    "received_to",
    "due_from",
    "due_to",
    "overdue",
    "open",
    "escalated",
    "person",
    "routed_by",
    "order",
)


MAX_PAGE = 1_000_000


def _date(value: str | None, label: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadForm(f"「{label}」不是日期，请用 YYYY-MM-DD（{value}）", "bad date") from None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "on", "yes")


def parse_filters(session: Session, params: Any) -> tuple[Q.TicketFilter, str]:
    """The list's query string as a ``TicketFilter`` and an order; bad values are named."""
    state = params.get("state") or None
    if state is not None and state not in TicketState._value2member_map_:
        raise BadForm(f"未知状态「{state}」", "unknown state")
    source = params.get("source") or None
    if source is not None:
        try:
            source_kind: SourceKind | None = SourceKind.parse(source)
        except ValueError:
            raise BadForm(f"未知来源「{source}」", "unknown source") from None
    else:
        source_kind = None
    unit_id = None
    if params.get("unit"):
        unit = session.exec(select(Unit).where(Unit.code == params["unit"])).first()
        if unit is None:
            raise BadForm(f"未知单位「{params['unit']}」", "unknown unit")
        unit_id = unit.id
    person_id = None
    if params.get("person"):
        person = session.exec(select(Person).where(Person.code == params["person"])).first()
        if person is None:
            raise BadForm(f"未知人员「{params['person']}」", "unknown person")
        person_id = person.id
    order = params.get("order") or "new"
    if order not in Q.TICKET_ORDERS:
        raise BadForm(f"未知排序「{order}」", "unknown order")
    return (
        Q.TicketFilter(
            state=TicketState(state) if state else None,
            unit_id=unit_id,
            source=source_kind,
            keyword=(params.get("q") or "").strip() or None,
            received_from=_date(params.get("received_from"), "收到日期起"),
            received_to=_date(params.get("received_to"), "收到日期止"),
            due_from=_date(params.get("due_from"), "时限起"),
            due_to=_date(params.get("due_to"), "时限止"),
            overdue=_flag(params.get("overdue")),
            open_only=_flag(params.get("open")),
            escalated=_flag(params.get("escalated")),
            person_id=person_id,
            routed_by=(params.get("routed_by") or "").strip() or None,
        ),
        order,
    )


def masked_titles(session: Session, who: Who, rows: list[Q.TicketRow]) -> list[Q.TicketRow]:
    """Each row's title as this person may read it: a unit's people read the masked text
    (``unit_text``), as on the detail; rows read without a title get one."""
    staff = sees_complainant(who.person)
    wanted = [r.number for r in rows if not staff or not r.title]
    if not wanted:
        return rows
    from dataclasses import replace

    found = session.exec(
        select(Ticket.number, Message.title, Message.text, Message.unit_text)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(col(Ticket.number).in_(wanted))
    ).all()
    titles = {
        number: (unit_text if not staff and unit_text is not None else (title or text))[:60]
        for number, title, text, unit_text in found
    }
    return [replace(r, title=titles[r.number]) if r.number in titles else r for r in rows]


def list_rows(
    rt: Runtime, who: Who, params: Any, *, page_no: int, size: int
) -> tuple[list[Q.TicketRow], bool, str | None]:
    """A page of the 台账, whether there is a next one, and what the search left out.

    Past the first page the links carry the ticket the page starts after (``after``) or
    ends before (``before``): each page is read from there through an index, as cheap on
    page 2,000 as on page 2 (a bare ``page=N`` still skips (N-1)×size rows)."""
    after = (params.get("after") or "").strip() or None
    before = (params.get("before") or "").strip() or None
    with rt.session() as session:
        filters, order = parse_filters(session, params)
        try:
            rows = Q.search_tickets(
                session,
                filters,
                viewer=who.viewer,
                rules=rt.rules,
                now=rt.now(),
                limit=size + 1,
                offset=(page_no - 1) * size,
                order=order,
                after=after,
                before=None if after else before,
            )
        except NotFound as exc:
            raise BadForm(user_text(exc), "unknown page cursor") from None
        if before and not after:
            more, rows = True, rows[-size:]
        else:
            more, rows = len(rows) > size, rows[:size]
        note = Q.keyword_window_note(session, filters)
        return masked_titles(session, who, rows), more, note


def _page_params(params: Any) -> tuple[int, int]:
    try:
        page_no = max(1, int(params.get("page") or 1))
        size = int(params.get("size") or 50)
    except ValueError:
        raise BadForm("页码须为整数", "bad page") from None
    if page_no > MAX_PAGE:  # a page number beyond SQLite's integers was a 500
        raise BadForm(f"页码须在 1 到 {MAX_PAGE} 之间", "page out of range")
    return page_no, size if size in PAGE_SIZES else 50


def _query(params: Any, **changes: Any) -> str:
    keep = {k: params.get(k) for k in (*FILTER_KEYS, "size") if params.get(k)}
    keep.update({k: v for k, v in changes.items() if v})
    return urlencode(keep)


def _neighbours(
    params: Any, rows: list[Q.TicketRow], *, page_no: int, more: bool
) -> tuple[str | None, str | None]:
    """The previous and next pages' query strings: page 1 plainly, any other page as the
    rows before this page's first ticket or after its last."""
    prev = None
    if page_no == 2 or (page_no > 2 and not rows):
        prev = _query(params)
    elif page_no > 2:
        prev = _query(params, page=page_no - 1, before=rows[0].number)
    nxt = _query(params, page=page_no + 1, after=rows[-1].number) if more and rows else None
    return prev, nxt


@router.get("/tickets")
def ticket_list(request: Request) -> Response:
    who = current(request)
    rt = runtime_of(request)
    params = request.query_params
    page_no, size = _page_params(params)
    error = note = None
    try:
        rows, more, note = list_rows(rt, who, params, page_no=page_no, size=size)
    except BadForm as exc:
        rows, more, error = [], False, user_text(exc)
    prev_query, next_query = _neighbours(params, rows, page_no=page_no, more=more)
    with rt.session() as session:
        units = [u for u in list_units(session) if u.kind != "desk"]
        views = saved_views(session, who)
    return page(
        request,
        "tickets.html",
        who,
        rows=rows,
        more=more,
        page_no=page_no,
        size=size,
        params=params,
        units=units,
        orders=Q.TICKET_ORDERS,
        error=error,
        note=note,
        views=views,
        prev_query=prev_query,
        next_query=next_query,
        export_query=_query(params),
        bulk_steps=[("assign", "交办"), ("approve_extension", "批准延期"), ("archive", "归档")],
    )


def saved_views(session: Session, who: Who) -> list[SavedView]:
    return list(
        session.exec(
            select(SavedView)
            .where(or_(SavedView.person_id == who.person.id, SavedView.shared == True))  # noqa: E712
            .order_by(col(SavedView.name))
        )
    )


@router.post("/tickets/views")
async def save_view(request: Request) -> Response:
    who = current(request)
    form = await form_of(request)
    name = str(form.get("name") or "").strip()[:64]
    if not name:
        raise BadForm("请填写视图名称", "view name required")
    query = str(form.get("query") or "")
    rt = runtime_of(request)
    with rt.session() as session:
        parse_filters(session, _Params(query))  # refuse a view that would not open
        row = session.exec(
            select(SavedView).where(SavedView.person_id == who.person.id, SavedView.name == name)
        ).first()
        row = row or SavedView(
            person_id=who.person.id or 0, name=name, query="", created_at=rt.now()
        )
        row.query, row.shared = query, bool(form.get("shared")) and who.staff
        session.add(row)
    return RedirectResponse(f"/tickets?{query}", status_code=303)


class _Params(dict[str, str]):
    def __init__(self, query: str) -> None:
        from urllib.parse import parse_qsl

        super().__init__(parse_qsl(query))


# -- export ---------------------------------------------------------------------------------


def _records(rt: Runtime, who: Who, params: Any) -> Iterator[dict[str, Any]]:
    with rt.session() as session:
        filters, order = parse_filters(session, params)
        yield from E.records(
            session, filters, viewer=who.viewer, rules=rt.rules, now=rt.now(), order=order
        )


@router.get("/tickets/export.csv")
def export_csv(request: Request) -> Response:
    who = current(request)
    rt = runtime_of(request)
    with rt.session() as session:
        parse_filters(session, request.query_params)  # bad input before the first byte
    name = f"duban-{rt.now().astimezone(rt.tz):%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        E.csv_chunks(_records(rt, who, dict(request.query_params)), rt.rules),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/tickets/export.xlsx")
def export_xlsx(request: Request) -> Response:
    who = current(request)
    rt = runtime_of(request)
    path = E.write_xlsx(_records(rt, who, dict(request.query_params)), rt.rules)
    name = f"duban-{rt.now().astimezone(rt.tz):%Y%m%d-%H%M}.xlsx"
    return FileResponse(
        path,
        filename=name,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        background=BackgroundTask(os.unlink, path),
    )


# -- detail ---------------------------------------------------------------------------------


def detail_context(rt: Runtime, who: Who, number: str) -> dict[str, Any]:
    """What the detail page shows; ``PageNotFound`` when the ticket may not be seen."""
    with rt.session() as session:
        ticket = visible_ticket(session, who.viewer, number)
        if ticket is None:
            raise PageNotFound()
        detail = Q.ticket_detail(
            session, ticket, viewer=who.viewer, rules=rt.rules, now=rt.now(), with_events=True
        )
        steps = W.offered(session, ticket, who)
        units = [u for u in list_units(session, active_only=True) if u.kind != "desk"]
        excluded = set(ticket.excluded_units)
        codes = {u.code: u for u in units}
        choices = [
            s
            for s in detail.suggestions
            if s.get("unit") in codes and codes[s["unit"]].id not in excluded
        ][:3]
        pending = T.pending_extension(session, ticket)
    return {
        "d": detail,
        "steps": steps,
        "units": [u for u in units if u.id not in excluded],
        "choices": choices,
        "pending": pending,
        "triage": TicketState(detail.row.state) in TRIAGE_STATES,
        "may_reveal": sees_complainant(who.person),
        "labels": {
            **{k: s.label for k, s in W.STEPS.items()},
            "assign": "交办" if TicketState(detail.row.state) in TRIAGE_STATES else "改派",
        },
    }


@router.get("/tickets/{number}")
def ticket_page(request: Request, number: str) -> Response:
    who = current(request)
    rt = runtime_of(request)
    return page(request, "ticket.html", who, **detail_context(rt, who, number))


@router.post("/tickets/{number}/step/{key}")
async def ticket_step(request: Request, number: str, key: str) -> Response:
    who = current(request)
    form = await form_of(request)
    rt = runtime_of(request)
    notice, error, status = None, None, 200
    try:
        result = W.run(rt, who, number, key, form, W.expected_version(form))
        notice = result.text
    except PageNotFound:
        raise
    except DubanError as exc:
        error, status = user_text(exc), status_of(exc)
    context = detail_context(rt, who, number)
    return page(request, "ticket.html", who, status=status, notice=notice, error=error, **context)


@router.post("/tickets/{number}/complainant")
async def complainant(request: Request, number: str) -> Response:
    """来信人信息: staff only, on an explicit click; each view is an audit event."""
    who = current(request)
    await form_of(request)
    rt = runtime_of(request)
    with rt.session() as session:
        ticket = visible_ticket(session, who.viewer, number)
        if ticket is None or not sees_complainant(who.person):
            raise PageNotFound()
        shown = Q.reveal_complainant(
            session, ticket, viewer=who.viewer, actor=who.actor, now=rt.now()
        )
    return page(request, "_complainant.html", who, c=shown, number=number)


@router.post("/tickets/bulk")
async def bulk(request: Request) -> Response:
    """A step on a selection: each ticket checked, taken and logged on its own."""
    who = current(request)
    form = await request.form()
    await form_of(request)
    rt = runtime_of(request)
    key = str(form.get("step") or "")
    if key not in ("assign", "approve_extension", "archive"):
        raise BadForm("请选择批量操作", "bad bulk step")
    fields = {"unit": form.get("unit"), "note": form.get("note")}
    results = []
    for item in form.getlist("ticket"):
        number, _, version = str(item).partition("@")
        if version and not (version.isdigit() and len(version) < 10):  # int("abc") was a 500
            results.append((number, False, f"版本号有误（{version[:20]}）"))
            continue
        try:
            done = W.run(rt, who, number, key, fields, int(version) if version else None)
            results.append((number, True, done.text))
        except PageNotFound:
            results.append((number, False, "找不到该督办件"))
        except DubanError as exc:
            results.append((number, False, user_text(exc)))
    return page(request, "bulk.html", who, results=results, label=W.STEPS[key].label)
