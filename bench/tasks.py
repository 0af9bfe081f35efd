"""督办事项: importing a 2,000-row 责任清单 and colouring 20,000 tasks.

    .venv/bin/python bench/tasks.py [--rows 2000] [--tasks 20000]

1. Writes a 责任清单 XLSX of ``--rows`` rows (a title row, merged leader cells, the date
   forms offices write, 配合单位 lists) for the demo district, and imports it into a fresh
   SQLite ledger through ``desk.tasks.import_list`` (read, register, 交办 with cards);
   prints rows/s. Imports it again (nothing new) and prints that time too.
2. Makes ``--tasks`` tasks in bulk with deadlines spread over a year (holidays and 调休
   Saturdays included), milestones on one in four, reports on half, and times
   ``desk.task_queries.task_rows`` (every task's colour at one moment) and the colour
   function alone; prints tasks/s and the colour counts.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from desk import tasks as D  # noqa: E402
from desk.task_queries import milestones_by_task, task_rows  # noqa: E402
from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import list_units, load_directory  # noqa: E402
from ledger.models import Task, TaskMilestone  # noqa: E402
from ledger.tickets import Actor  # noqa: E402
from tasks.colours import status_of  # noqa: E402
from tasks.workflow import TaskSource  # noqa: E402

DEADLINES = ["2026-12-31", "2026年12月31日", "12月底", "年底前", "10月底", "长期", "每月",
             "15个工作日", "持续推进", "11月30日前"]  # fmt: skip
VERBS = ["推进", "完成", "落实", "开展", "整治", "建立", "提升", "督促"]
THINGS = ["老旧小区改造", "背街小巷整治", "校园周边交通秩序", "农贸市场食品安全", "内涝点位整改",
          "垃圾分类示范", "养老服务设施", "就业帮扶", "营商环境优化", "河道保洁"]  # fmt: skip


def write_list(path: Path, rows: int, units: list[str]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "责任清单"
    sheet.append(["滨河区2026年度重点工作责任清单"])
    sheet.merge_cells("A1:G1")
    sheet.append(["序号", "任务名称", "工作要求", "牵头领导", "牵头单位", "配合单位", "完成时限"])
    rng = random.Random(7)
    for n in range(1, rows + 1):
        lead = rng.choice(units)
        support = "、".join(rng.sample([u for u in units if u != lead], rng.randint(0, 2)))
        leader = "王区长" if n % 10 == 1 else None  # merged: written once per ten rows
        title = f"{rng.choice(VERBS)}{rng.choice(THINGS)}（第{n}项）"
        sheet.append([n, title, "按要求完成并报送", leader, lead, support, rng.choice(DEADLINES)])
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=20000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="duban-bench-tasks-"))
    rt = Runtime(settings=Settings(home=home))
    start_at = datetime(2026, 3, 2, 1, tzinfo=UTC)
    rt.clock = lambda: start_at
    schema.upgrade(rt.engine)
    with rt.session() as session:
        load_directory(session, REPO / "data" / "units.yaml")
        units = [u.short_name for u in list_units(session) if u.kind != "desk"]
    ctx = rt.routing
    path = home / "list.xlsx"
    write_list(path, args.rows, units)
    actor = Actor.system("bench")

    began = time.perf_counter()
    summary = D.import_list(ctx, path, source=TaskSource.LIST, actor=actor)
    first = time.perf_counter() - began
    began = time.perf_counter()
    again = D.import_list(ctx, path, source=TaskSource.LIST, actor=actor)
    second = time.perf_counter() - began
    print(f"import {args.rows} rows: {first:.2f} s ({args.rows / first:.0f} rows/s), "
          f"created {summary.created}, rejected {summary.rejected}")  # fmt: skip
    print(f"import again: {second:.2f} s, created {again.created}, known {again.known}")

    # -- 20,000 tasks' colours ------------------------------------------------------------
    rng = random.Random(11)
    with rt.session() as session:
        unit_ids = [u.id for u in list_units(session) if u.kind != "desk"]
        base = date(2026, 1, 5)
        rows = []
        for n in range(args.tasks):
            due = base + timedelta(days=rng.randint(0, 364))
            given = due - timedelta(days=rng.randint(5, 90))
            assigned = datetime(given.year, given.month, given.day, 1, tzinfo=UTC)
            ongoing = n % 10 == 0
            rows.append({
                "number": f"RW-2025-{n + 1:05d}", "title": f"任务{n}", "source_kind": "list",
                "lead_unit_id": rng.choice(unit_ids), "support_unit_ids": [],
                "state": rng.choice(["assigned", "acknowledged", "progressing", "finished"]),
                "ongoing": ongoing, "due_date": None if ongoing else due,
                "due_at": None if ongoing else ctx.rules.end_of_day(due),
                "report_monthly": ongoing, "created_at": assigned, "assigned_at": assigned,
                "last_report_at": assigned + timedelta(days=rng.randint(0, 30)) if n % 2 else None,
                "reopen_count": 0, "remind_count": 0, "extension_days": 0, "version": 1,
            })  # fmt: skip
        session.execute(insert(Task), rows)
        session.flush()
        ids = [t for (t,) in session.execute(Task.__table__.select().with_only_columns(Task.id))]
        stones = []
        for task_id in ids[::4]:
            day = base + timedelta(days=rng.randint(0, 300))
            stones.append({"task_id": task_id, "seq": 1, "title": "节点",
                           "due_date": day, "due_at": ctx.rules.end_of_day(day)})  # fmt: skip
        session.execute(insert(TaskMilestone), stones)
    now = datetime(2026, 10, 9, 2, tzinfo=UTC)  # the day after the National Day holiday
    with rt.session() as session:
        began = time.perf_counter()
        listed = task_rows(session, rules=ctx.rules, policy=ctx.policy.tasks, now=now)
        whole = time.perf_counter() - began
        tasks = list(session.exec(Task.__table__.select()))  # warm rows for the pure timing
        objects = [Task(**dict(row._mapping)) for row in tasks]
        by_task = milestones_by_task(session, [t.id for t in objects if t.id is not None])
    began = time.perf_counter()
    counts: dict[str, int] = {}
    for task in objects:
        status = status_of(task, by_task.get(task.id or 0, []), rules=ctx.rules,
                           policy=ctx.policy.tasks, now=now)  # fmt: skip
        counts[status.colour.value] = counts.get(status.colour.value, 0) + 1
    pure = time.perf_counter() - began
    total = len(listed)
    print(f"task_rows for {total} tasks (query + colour): {whole:.2f} s ({total / whole:.0f}/s)")
    print(f"colour alone for {len(objects)} tasks: {pure:.2f} s ({len(objects) / pure:.0f}/s)")
    print("colours:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"ledger: {home}")


if __name__ == "__main__":
    main()
