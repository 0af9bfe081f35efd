"""Fixtures for the reports' CLI tests."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from duban.cli import app
from duban.settings import Settings
from ledger.db import make_engine, session_scope
from tests.reports import scenario


@pytest.fixture
def ledger() -> None:
    """``duban init`` then the hand-built week in the CLI's own ledger."""
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    engine = make_engine(Settings().db_url)
    with session_scope(engine) as session:
        scenario.build(session)
    engine.dispose()
