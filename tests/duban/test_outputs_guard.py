"""The CLI's output guard is built from the settings: the ledger file of a SQLite URL
(none for a server database), the model registry and the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.outputs import ledger_file, output_guard
from duban.settings import Settings
from reports.errors import OutputRefused


def test_the_guard_knows_the_offices_paths(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "office"
    data.mkdir()
    settings = Settings(
        home=tmp_path / "home",
        data_dir=data,
        model_dir=tmp_path / "registry",
        database_url=f"sqlite:///{tmp_path / 'db' / 'ledger.sqlite'}",
    )
    assert ledger_file(settings) == tmp_path / "db" / "ledger.sqlite"
    guard = output_guard(settings, force=True)
    for path, why in (
        (tmp_path / "db" / "ledger.sqlite", "台账"),
        (tmp_path / "db" / "ledger.sqlite-shm", "台账"),
        (tmp_path / "registry" / "v3" / "model.joblib", "模型库目录"),
        (data / "units.yaml", "数据目录"),
    ):
        with pytest.raises(OutputRefused, match=why):
            guard.check(path)
    assert guard.check(tmp_path / "home" / "duban.db") == tmp_path / "home" / "duban.db"
    # the relative ledger path of a sqlite:///relative URL is relative to the working folder
    monkeypatch.chdir(tmp_path)
    relative = Settings(home=tmp_path / "home", database_url="sqlite:///db/ledger.sqlite")
    with pytest.raises(OutputRefused, match="台账"):
        output_guard(relative, force=True).check(tmp_path / "db" / "ledger.sqlite")


def test_a_server_database_has_no_ledger_file(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", database_url="postgresql://duban:secret@db:5432/duban"
    )
    assert ledger_file(settings) is None
    guard = output_guard(settings)
    assert guard.check(tmp_path / "home" / "duban.db") == tmp_path / "home" / "duban.db"
    with pytest.raises(OutputRefused, match="模型库目录"):
        guard.check(tmp_path / "home" / "models" / "current")
