"""``duban demo``: a district's week on embedded defaults (filled in as features land)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("demo", help="演示 (run the demo on a fresh SQLite ledger)")(demo)


def demo(ctx: typer.Context) -> None:
    from duban.demo import run_demo

    run_demo()
