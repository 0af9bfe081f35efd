"""The web desk's export of the 台账 view reads it in keyset pages (no OFFSET: its end costs
what its start does), in the view's order, the same rows as the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from desk import queries as Q
from desk.permissions import Viewer
from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit
from tests.helpers import local, make_ticket
from tests.reports import scenario
from web import export as E


@pytest.mark.parametrize("order", sorted(Q.TICKET_ORDERS))
def test_web_export_pages_follow_the_view_without_offset(engine: Engine, order: str) -> None:
    rules, now = scenario.RULES, scenario.REPORT_NOW
    with session_scope(engine) as session:
        zjj, cgj = find_unit(session, "zjj"), find_unit(session, "cgj")
        for n in range(9):  # deadlines shared by three tickets each
            received = local(2026, 11, 2 + n % 3, 9) + timedelta(minutes=n)
            ticket = make_ticket(
                session, rules, received_at=received, text=f"第{n}件 路灯", time_limit_days=2
            )
            unit = zjj if n % 4 else cgj
            T.assign(session, ticket, unit, actor=T.Actor.system("t"), now=received, routed_by="m")
    offsets: list[object] = []  # each page's OFFSET (SQLite writes "OFFSET ?" with 0)

    def seen(_conn, _cursor, statement, parameters, *_args) -> None:
        if "FROM ticket JOIN message" in statement:
            offsets.append(parameters[-1] if "OFFSET" in statement.upper() else 0)

    for filters in (Q.TicketFilter(), Q.TicketFilter(unit_id=zjj.id)):
        with session_scope(engine) as session:
            listed = [
                r.number
                for r in Q.search_tickets(
                    session, filters, viewer=Viewer(None), rules=rules, now=now, order=order
                )
            ]
            event.listen(engine, "before_cursor_execute", seen)
            try:
                exported = [
                    r["number"]
                    for r in E.records(
                        session,
                        filters,
                        viewer=Viewer(None),
                        rules=rules,
                        now=now,
                        order=order,
                        chunk=2,
                    )
                ]
            finally:
                event.remove(engine, "before_cursor_execute", seen)
        assert exported == listed and len(set(exported)) == len(exported) > 2
    assert len(offsets) >= 8 and set(offsets) == {0}


def test_control_characters_do_not_break_the_xlsx(engine: Engine, tmp_path) -> None:
    """A citizen's text may carry a control character (a pasted \\x07, a \\x1b); XLSX does
    not allow them and openpyxl refused the whole file: they are dropped from the cell."""
    from openpyxl import load_workbook

    from reports.export import export_tickets_csv

    rules, now = scenario.RULES, scenario.REPORT_NOW
    with session_scope(engine) as session:
        make_ticket(session, rules, text="东湖路\x07路灯\x1b不亮\t请修")
    with session_scope(engine) as session:
        export_tickets_csv(session, tmp_path / "t.xlsx", rules=rules, now=now, fmt="xlsx")
        web = E.write_xlsx(
            E.records(session, Q.TicketFilter(), viewer=Viewer(None), rules=rules, now=now), rules
        )
    try:
        for path in (tmp_path / "t.xlsx", web):
            rows = list(load_workbook(path, read_only=True).worksheets[0].values)
            assert rows[1][rows[0].index("内容")] == "东湖路路灯不亮\t请修"
    finally:
        web.unlink()
