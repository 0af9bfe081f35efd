"""CPU time of the 台账 list's queries (``desk.queries.search_tickets``) on built ledgers.

    .venv/bin/python bench/list_queries.py --db sqlite:////tmp/10k.db --db sqlite:////tmp/1m.db
        [--repeat 7] [--only open,overdue]

Each ``--db`` is a ledger built by ``bench/scale.py build`` (at the latest schema: copy a
cached one and run ``duban db upgrade`` on the copy). For each filter and order it calls the
function the CLI, the web desk and the API call, ``--repeat`` times, and prints the median
CPU milliseconds per ledger and the ratio of each to the first (the list must stay flat as
the ledger grows). ``--rows-only`` leaves out building the row objects (the query alone).
On PostgreSQL the server's CPU is not the client's: ``--wall`` times wall-clock instead.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlmodel import Session, col, select  # noqa: E402

from bench.ledgerbuild import NOW  # noqa: E402
from desk import queries as Q  # noqa: E402
from desk.permissions import Viewer  # noqa: E402
from duban.runtime import Runtime  # noqa: E402
from ledger.db import make_engine  # noqa: E402
from ledger.models import SourceKind, Ticket, TicketState  # noqa: E402

F = Q.TicketFilter
PAGE, DEEP = 50, 2000  # the web list's page size; page 2,000 of it


def cases(session: Session) -> list[tuple[str, Q.TicketFilter, dict[str, Any]]]:
    """(name, filter, keyword arguments of search_tickets) for each measured list."""
    deep = (DEEP - 1) * PAGE

    def nth(*order: Any) -> str | None:
        return session.exec(
            select(Ticket.number).order_by(*order).offset(deep - 1).limit(1)
        ).first()

    after_new = nth(col(Ticket.id).desc())
    after_due = nth(col(Ticket.due_at), col(Ticket.id))
    web = {"limit": PAGE + 1}
    return [
        ("default", F(), {}),
        ("--routed-by classifier", F(routed_by="classifier"), {}),
        ("--routed-by rule:", F(routed_by="rule:"), {}),
        ("--routed-by triage", F(routed_by="triage"), {}),
        ("--routed-by rule: by deadline", F(routed_by="rule:"), {"order": "due"}),
        ("--escalated", F(escalated=True), {}),
        ("--escalated by deadline", F(escalated=True), {"order": "due"}),
        ("--open", F(open_only=True), {}),
        ("--open by deadline", F(open_only=True), {"order": "due"}),
        ("--overdue", F(overdue=True), {}),
        ("--overdue by deadline", F(overdue=True), {"order": "due"}),
        ("--open --routed-by triage", F(open_only=True, routed_by="triage"), {}),
        ("--escalated --open", F(escalated=True, open_only=True), {}),
        ("--unit", F(unit_id=4), {}),
        ("--unit by deadline", F(unit_id=4), {"order": "due"}),
        ("--unit --open", F(unit_id=4, open_only=True), {}),
        ("--state replied", F(state=TicketState.REPLIED), {}),
        ("--source letter", F(source=SourceKind.LETTER), {}),
        ("--keyword", F(keyword="路灯"), {}),
        ("--person", F(person_id=3), {}),
        ("web page 1", F(), web),
        ("web page 2,000 (OFFSET)", F(), {**web, "offset": deep}),
        ("web page 2,000 by deadline (OFFSET)", F(), {**web, "offset": deep, "order": "due"}),
        ("web page 2,000 (after=)", F(), {**web, "after": after_new}),
        ("web page 2,000 by deadline (after=)", F(), {**web, "after": after_due, "order": "due"}),
    ]


@dataclasses.dataclass
class _Bare:
    title: object = None


def measure(url: str, *, repeat: int, only: set[str] | None, clock: Callable[[], float]) -> dict:
    engine = make_engine(url)
    rules = Runtime().rules
    now: datetime = NOW
    out: dict[str, float] = {}
    with Session(engine) as session:
        for name, filters, kw in cases(session):
            if only and name not in only:
                continue
            times = []
            for _ in range(repeat + 1):  # the first call warms the cache and is left out
                begun = clock()
                Q.search_tickets(session, filters, viewer=Viewer(None), rules=rules, now=now, **kw)
                times.append(clock() - begun)
            out[name] = statistics.median(times[1:]) * 1000
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", required=True, help="a built ledger's URL")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--rows-only", action="store_true", help="time the query alone")
    parser.add_argument("--wall", action="store_true", help="wall-clock (PostgreSQL)")
    args = parser.parse_args(argv)
    if args.rows_only:
        Q.TicketRow.of = staticmethod(lambda *a, **kw: _Bare())  # type: ignore[method-assign]
    clock = time.perf_counter if args.wall else time.process_time
    only = set(args.only.split(",")) if args.only else None
    results = [measure(url, repeat=args.repeat, only=only, clock=clock) for url in args.db]
    names = [Path(url).name or url for url in args.db]
    print(f"{'list':40s}" + "".join(f"{n[-22:]:>24s}" for n in names))
    for case in results[0]:
        first = results[0][case]
        cells = [f"{r[case]:9.2f} ms" + (f" ×{r[case] / first:5.2f}" if i else " " * 7)
                 for i, r in enumerate(results)]  # fmt: skip
        print(f"{case:40s}" + "".join(f"{c:>24s}" for c in cells))


if __name__ == "__main__":
    main()
