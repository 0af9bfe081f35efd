"""File modes: the ledger, its backups and the ticket export are private (0600); reports
and charts are for the office's group (0640) — whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db import make_engine

REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a careless shell: files would be 0666 if the code followed it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_sqlite_ledger_is_created_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual default: SQLite alone would make it 0644
    try:
        path = tmp_path / "home" / "duban.db"
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            wal = path.with_name("duban.db-wal")
            assert wal.exists() and mode(wal) == 0o600
        engine.dispose()
    finally:
        os.umask(old)
    assert mode(path) == 0o600


def test_an_existing_ledger_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "duban.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert mode(path) == 0o640


def test_backup_sh_makes_private_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with sqlite3.connect(home / "duban.db") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (42)")
    conn.close()
    dest = tmp_path / "backups"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env["DUBAN_HOME"] = str(home)
    done = subprocess.run(
        ["sh", "-c", f"umask 000; exec sh {REPO / 'deploy' / 'backup.sh'} {dest}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    backup = Path(done.stdout.strip())
    assert backup.parent == dest and backup.suffix == ".db"
    assert mode(backup) == 0o600 and mode(dest) == 0o700
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT x FROM t").fetchall() == [(42,)]
    copy.close()


def test_outputs_have_their_documented_modes(tmp_path: Path, open_umask) -> None:
    from reports.outputs import PRIVATE, SHARED, atomic_open, write_text

    private = tmp_path / "tickets.csv"
    with atomic_open(private, mode=PRIVATE) as handle:
        handle.write("编号\n")
    shared = write_text(tmp_path / "weekly.md", "# 督查周报\n")
    assert (mode(private), mode(shared)) == (0o600, 0o640)
    assert (PRIVATE, SHARED) == (0o600, 0o640)
