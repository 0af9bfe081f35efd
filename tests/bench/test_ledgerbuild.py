"""bench/ledgerbuild.py: the scale benchmark's ledger is one the real code accepts.

A small ledger (300 tickets over 120 days) replays, ticket by ticket, to the state, unit and
deadline stored on it; ``duban report weekly`` counts the backlog the builder meant and
``duban report export`` lists every ticket.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bench.ledgerbuild import build_ledger, replay_mismatches
from duban.cli import app
from ledger.db import make_engine

AS_OF = "2026-11-23T10:00"  # the builder's NOW in the office's time
runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'scale.db'}"
    return url, build_ledger(url, 300, seed=3, days=120)


def test_every_ticket_replays_to_what_is_stored(built) -> None:
    url, result = built
    checked, mismatches = replay_mismatches(url)
    assert result.tickets == checked == 300
    assert mismatches == []


def test_the_ledger_holds_whole_lifecycles_a_backlog_and_reposts(built) -> None:
    url, result = built
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM ticket GROUP BY state"))
        states = {state: count for state, count in rows}
        actions = {row[0] for row in conn.execute(text("SELECT DISTINCT action FROM event"))}
        reposts = conn.execute(
            text("SELECT count(*) FROM message WHERE duplicate_of_id IS NOT NULL")
        ).scalar_one()
        linked = conn.execute(text("SELECT sum(duplicate_count) FROM ticket")).scalar_one()
        counter = conn.execute(text("SELECT sum(value) FROM counter")).scalar_one()
        replies = conn.execute(text("SELECT count(*) FROM reply")).scalar_one()
    engine.dispose()
    assert states == result.states
    assert states["archived"] > 150 and result.overdue > 0
    assert {
        "register",
        "assign",
        "acknowledge",
        "reply",
        "verify_pass",
        "verify_fail",
        "archive",
        "request_extension",
        "approve_extension",
        "return",
        "link_duplicate",
        "escalate",
    } <= actions
    assert reposts == linked > 0
    assert counter == 300  # later imports number on from here
    assert replies > 250


def test_reports_run_on_it_and_count_what_the_builder_meant(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, result = built
    monkeypatch.setenv("DUBAN_DATABASE_URL", url)
    weekly = runner.invoke(
        app, ["report", "weekly", "--week", "2026-W48", "--as-of", AS_OF, "--json"]
    )
    assert weekly.exit_code == 0, weekly.stderr
    assert json.loads(weekly.stdout)["overdue_total"] == result.overdue
    out = tmp_path / "export.csv"
    export = runner.invoke(app, ["report", "export", "--out", str(out), "--as-of", AS_OF])
    assert export.exit_code == 0, export.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 1 + 300
