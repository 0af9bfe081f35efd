"""督办事项 in the web desk: the list with colours and one task's file, as each role may."""

from __future__ import annotations

from datetime import date

from desk import tasks as TD
from ledger.directory import find_unit
from tasks import workflow as W
from tests.helpers import local
from tests.web.conftest import Desk


def new_task(site: Desk, *, title: str, lead: str, due: date) -> str:
    with site.rt.session() as session:
        lead_unit = find_unit(session, lead)
        session.expunge(lead_unit)
    spec = W.TaskSpec(
        title=title, lead_unit=lead_unit, source=W.TaskSource.KEY, due_date=due,
        limit_days=None, ongoing=False, leader=None, support_units=(), milestones=(),
        requirements="年底前完成",
    )  # fmt: skip
    return TD.create(site.rt.routing, spec, actor=site.actor("luru1")).number


def test_tasks_list_and_file_by_role(site: Desk, clock) -> None:
    clock.now = local(2026, 11, 16, 9)
    late = new_task(site, title="东湖路积水点改造", lead="住建局", due=date(2026, 11, 18))
    other = new_task(site, title="背街小巷保洁", lead="城管局", due=date(2026, 12, 31))
    clock.now = local(2026, 11, 23, 9)

    staff = site.client("ducha1")
    page = staff.get("/tasks")
    assert page.status_code == 200 and late in page.text and other in page.text
    assert "东湖路积水点改造" in page.text and "红" in page.text
    red = staff.get("/tasks", params={"colour": "红"})
    assert late in red.text and other not in red.text
    assert staff.get("/tasks", params={"colour": "紫"}).status_code == 400
    detail = staff.get(f"/tasks/{late}")
    assert detail.status_code == 200 and "住建局" in detail.text and "办理记录" in detail.text

    unit = site.client("zjj-ld")
    mine = unit.get("/tasks")
    assert late in mine.text and other not in mine.text  # a unit sees the tasks it leads
    missing = unit.get("/tasks/RW-2026-9999")
    hidden = unit.get(f"/tasks/{other}")
    assert hidden.status_code == missing.status_code == 404  # like one that does not exist
