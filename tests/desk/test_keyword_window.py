"""A keyword (matched inside the text: no index serves it) looks through the newest
``KEYWORD_WINDOW`` tickets only, unless a received range says where to look, so the 台账's
search does not slow down as the ledger grows."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from desk import queries as Q
from desk.permissions import Viewer
from ledger.db import session_scope
from tests.helpers import local, make_ticket
from tests.reports import scenario


def test_a_keyword_searches_the_newest_tickets_unless_a_range_is_given(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules, now = scenario.RULES, scenario.REPORT_NOW
    with session_scope(engine) as session:
        numbers = [
            make_ticket(session, rules, received_at=local(2026, 11, 2 + n, 9), text=text).number
            for n, text in enumerate(("电梯停运 一", "路灯不亮", "电梯停运 二", "电梯停运 三"))
        ]

    def search(**kw) -> list[str]:
        with session_scope(engine) as session:
            rows = Q.search_tickets(
                session, Q.TicketFilter(**kw), viewer=Viewer(None), rules=rules, now=now
            )
            return [r.number for r in rows]

    assert search(keyword="电梯") == [numbers[3], numbers[2], numbers[0]]
    monkeypatch.setattr(Q, "KEYWORD_WINDOW", 3)  # the three newest tickets
    assert search(keyword="电梯") == [numbers[3], numbers[2]]
    assert search(keyword="电梯", received_from=date(2026, 11, 1)) == [
        numbers[3],
        numbers[2],
        numbers[0],
    ]
    assert search(keyword="电梯", received_to=date(2026, 11, 2)) == [numbers[0]]
    assert len(search()) == 4  # no keyword, no window


def test_a_search_that_left_old_tickets_out_says_so(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = scenario.RULES
    with session_scope(engine) as session:
        for n in range(4):
            make_ticket(session, rules, received_at=local(2026, 11, 2 + n, 9), text=f"电梯 {n}")

    def note(**kw) -> str | None:
        with session_scope(engine) as session:
            return Q.keyword_window_note(session, Q.TicketFilter(**kw))

    assert note(keyword="电梯") is None  # four tickets: the window holds them all
    monkeypatch.setattr(Q, "KEYWORD_WINDOW", 4)
    assert note(keyword="电梯") is None
    monkeypatch.setattr(Q, "KEYWORD_WINDOW", 3)
    said = note(keyword="电梯")
    assert said is not None and "最近 3 件" in said and "收到日期" in said
    assert note(keyword="电梯", received_from=date(2026, 11, 1)) is None
    assert note() is None
