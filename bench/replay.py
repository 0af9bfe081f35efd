"""Replay real messages and replies (teddy2020c ``replies.csv``) into a fresh ledger and
print the reply / on-time figures of the busiest week and month.

    .venv/bin/python bench/replay.py ../shared/data/teddy2020c/replies.csv [--out DIR]

The ledger is a new SQLite file under ``--out`` (default ``var/replay``), so the office's
own ledger is not touched (``duban replay FILE`` replays into the configured ledger
instead). The report files (md, html, json, xlsx, PNG charts) are written there too.
Nothing from the data is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ledger import schema  # noqa: E402
from ledger.calendar import load_calendar  # noqa: E402
from ledger.db import make_engine, session_scope  # noqa: E402
from ledger.deadlines import DeadlineRules  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.policy import load_policy  # noqa: E402
from reports.errors import ReportError  # noqa: E402
from reports.periods import parse_month, parse_week  # noqa: E402
from reports.render import to_jsonable  # noqa: E402
from reports.replay import run_replay, summary_lines  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="replies.csv")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "replay")
    parser.add_argument("--week", help="ISO week, e.g. 2018-W48 (default: the busiest)")
    parser.add_argument("--month", help="month, e.g. 2018-11 (default: the busiest)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"no such file: {args.csv}", file=sys.stderr)
        return 2
    data = REPO / "data"
    policy = load_policy(data / "policy.yaml")
    rules = DeadlineRules(
        calendar=load_calendar(data / "calendar.yaml"),
        policy=policy.deadlines,
        tz=ZoneInfo("Asia/Shanghai"),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    database = args.out / "ledger.db"
    for stale in args.out.glob("ledger.db*"):
        stale.unlink()
    engine = make_engine(f"sqlite:///{database}")
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, data / "units.yaml")
    started = time.perf_counter()
    try:
        with session_scope(engine) as session:
            summary = run_replay(
                session,
                args.csv,
                rules=rules,
                policy=policy.ranking,
                week=parse_week(args.week) if args.week else None,
                month=parse_month(args.month) if args.month else None,
                out_dir=args.out,
            )
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(to_jsonable(summary.as_dict()), ensure_ascii=False, indent=2))
    else:
        print("\n".join(summary_lines(summary)))
        print(f"\nledger: {database}  ({seconds:.1f} s for replay and reports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
