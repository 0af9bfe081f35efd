"""待分办: the triage queue, the model's top three as one-click choices (never a unit that
sent the ticket back), or any unit from the list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from desk.queries import TriageItem, triage_queue
from ledger.directory import list_units
from ledger.models import Unit
from web.context import PageRefused, Who, current, runtime_of
from web.render import page

router = APIRouter()


def triage_rows(session: Session, *, limit: int = 200) -> list[TriageItem]:
    return triage_queue(session, limit=limit)


def require_triage(who: Who) -> None:
    if not who.may_triage:
        raise PageRefused("待分办仅供录入员和督查人员使用")


@router.get("/triage")
def triage_page(request: Request) -> Response:
    who = current(request)
    require_triage(who)
    rt = runtime_of(request)
    with rt.session() as session:
        rows = triage_rows(session)
        units: list[Unit] = [u for u in list_units(session, active_only=True) if u.kind != "desk"]
    return page(request, "triage.html", who, rows=rows, units=units)


@router.post("/triage/{number}")
async def triage_assign(request: Request, number: str) -> Response:
    """One click: 交办 to the chosen unit, then the queue again with the result on top."""
    from ledger.errors import DubanError, user_text
    from web import actions as W
    from web.context import PageNotFound, form_of
    from web.errors import status_of

    who = current(request)
    form = await form_of(request)
    require_triage(who)
    rt = runtime_of(request)
    notice, error, status = None, None, 200
    try:
        notice = W.run(rt, who, number, "assign", form, W.expected_version(form)).text
    except PageNotFound:
        raise
    except DubanError as exc:
        error, status = user_text(exc), status_of(exc)
    with rt.session() as session:
        rows = triage_rows(session)
        units = [u for u in list_units(session, active_only=True) if u.kind != "desk"]
    return page(
        request,
        "triage.html",
        who,
        status=status,
        rows=rows,
        units=units,
        notice=notice,
        error=error,
    )
