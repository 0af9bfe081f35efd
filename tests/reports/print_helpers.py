"""Shared by the print tests: the hand-built week as the sample office reports it, and the
tables of a rendered page read back with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from sqlalchemy.engine import Engine

from duban.settings import REPO_ROOT
from ledger.db import session_scope
from ledger.policy import RankingPolicy, load_policy
from reports.monthly import MonthlyReport, build_monthly
from reports.periods import parse_month, parse_week
from reports.weekly import WeeklyReport, build_weekly
from tests.reports import scenario

OFFICE = load_policy(REPO_ROOT / "data" / "policy.yaml").office


def weekly_report(engine: Engine) -> WeeklyReport:
    with session_scope(engine) as session:
        scenario.build(session)
    with session_scope(engine) as session:
        return build_weekly(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            week=parse_week("2026-W47"),
            office=OFFICE,
        )


def monthly_report(engine: Engine) -> MonthlyReport:
    with session_scope(engine) as session:
        scenario.build(session)
    with session_scope(engine) as session:
        return build_monthly(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            month=parse_month("2026-11"),
            office=OFFICE,
        )


@dataclass
class Cell:
    text: str
    attrs: dict[str, str]

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


@dataclass
class Table:
    kind: str | None
    header: list[Cell] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [cell.text for cell in self.header]


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.row: list[Cell] | None = None
        self.cell: Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables.append(Table(values.get("class")))
        elif tag == "tr":
            self.row = []
        elif tag in ("th", "td"):
            self.cell = Cell("", values)

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self.cell is not None and self.row is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            table = self.tables[-1]
            if all(c.attrs.get("data-field") for c in self.row) and not table.header:
                table.header = self.row
            else:
                table.rows.append(self.row)
            self.row = None


def tables_of(page: str) -> list[Table]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables
