"""Scale: build realistic ledgers of N tickets, time the reports and desk operations at two
sizes in paired runs (issue 14).

    .venv/bin/python bench/scale.py build --tickets 1000000 --db sqlite:///var/scale/1m.db
        [--seed 7]
    .venv/bin/python bench/scale.py run --sizes 10000,1000000 [--db sqlite|postgresql] [--repeat 2]

``build`` fills an empty ledger (bench/ledgerbuild.py: the demo district, ~1,000 messages a
day ending at a fixed NOW, every ticket through its lifecycle, a backlog, duplicates).
``run`` builds (or reuses, under var/scale/, keyed by size and seed) one ledger per size and
times each operation in a fresh subprocess through the real CLI code path, alternating the
sizes (small, large, small, large …): CPU seconds (user + sys of the child) and peak
resident memory (the child's own VmHWM). It prints the medians and the ratio large / small
next to the issue's targets. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.ledgerbuild import build_ledger  # noqa: E402


def cmd_build(args: argparse.Namespace) -> None:
    started = time.process_time()
    result = build_ledger(args.db, args.tickets, args.seed, days=args.days, progress=print)
    info = result.as_dict()
    info["cpu_seconds"] = round(time.process_time() - started, 1)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return
    print(
        f"{result.tickets:,} tickets ({result.messages:,} messages, {result.events:,} events) "
        f"in {result.seconds:.1f} s wall, {info['cpu_seconds']} CPU-s -> {args.db}"
    )
    print("  states: " + ", ".join(f"{k} {v:,}" for k, v in result.states.items()))
    print(f"  overdue at {result.now:%Y-%m-%d %H:%M} UTC: {result.overdue:,}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fill an empty ledger with N tickets")
    build.add_argument("--tickets", type=int, required=True)
    build.add_argument("--db", required=True, help="sqlite:///path.db or postgresql://…")
    build.add_argument("--seed", type=int, default=7)
    build.add_argument("--days", type=float, default=None, help="default tickets / 1000")
    build.add_argument("--json", action="store_true")
    build.set_defaults(func=cmd_build)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
