"""工作台: what the person owes now, by role, overdue first with the working days left."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from desk import queries as Q
from duban.runtime import Runtime
from web.context import Who, current, runtime_of
from web.render import page
from web.views.tickets import masked_titles

router = APIRouter()


def urgency(row: Q.TicketRow) -> tuple[int, int, str]:
    """Overdue first (most overdue on top), then fewest working days left."""
    left = row.workdays_left if row.workdays_left is not None else 10_000
    return (0 if row.overdue else 1, left, row.number)


def todo_sections(rt: Runtime, who: Who) -> list[Q.TodoSection]:
    """``desk.queries.todo`` sorted by urgency, titles as this person may read them."""
    with rt.session() as session:
        sections = Q.todo(session, who.viewer, rules=rt.rules, now=rt.now())
        return [
            Q.TodoSection(
                s.title, masked_titles(session, who, sorted(s.rows, key=urgency)), s.empty
            )
            for s in sections
        ]


@router.get("/")
def desk_page(request: Request) -> Response:
    who = current(request)
    return page(request, "desk.html", who, sections=todo_sections(runtime_of(request), who))
