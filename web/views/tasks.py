"""督办事项: the leadership's tasks with their colours, and one task's whole file.

Read-only here: units report and supervisors check from chat or the CLI, through the same
``desk.tasks`` verbs. Who sees what is ``desk.task_queries``' rule: staff and district
leaders see every task, a unit the tasks it leads or supports; any other number is answered
like one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from desk import task_queries as TQ
from ledger.errors import DubanError, user_text
from tasks.colours import Colour
from web.context import PageNotFound, current, runtime_of
from web.errors import BadForm
from web.render import page

router = APIRouter()


@router.get("/tasks")
def tasks_page(request: Request) -> Response:
    who = current(request)
    rt = runtime_of(request)
    colour = (request.query_params.get("colour") or "").strip() or None
    with rt.session() as session:
        try:
            rows = TQ.task_rows(
                session, rules=rt.rules, policy=rt.policy.tasks, now=rt.now(),
                viewer=who.viewer, colour=colour,
            )  # fmt: skip
        except DubanError as exc:
            raise BadForm(user_text(exc), "bad task filter") from None
    counts = {c.value: sum(1 for r in rows if r.colour == c.value) for c in Colour}
    return page(
        request, "tasks.html", who, rows=rows, colour=colour, colours=[c.value for c in Colour],
        counts=counts,
    )  # fmt: skip


@router.get("/tasks/{number}")
def task_page(request: Request, number: str) -> Response:
    who = current(request)
    rt = runtime_of(request)
    with rt.session() as session:
        task = TQ.visible_task(session, who.viewer, number)
        if task is None:
            raise PageNotFound()
        detail = TQ.task_detail(session, task, rules=rt.rules, policy=rt.policy.tasks, now=rt.now())
    return page(request, "task.html", who, d=detail)
